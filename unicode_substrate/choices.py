"""Every list of choices a user picks from, and the shared constants, each defined once.

Import-light on purpose (no torch, numpy or triton): the CLI takes its ``click.Choice`` lists
and defaults from here so ``substrate --help`` stays instant, and the library modules that
implement each choice import the same names, so a new choice is added in exactly one place.
"""

from __future__ import annotations

# --- tokenizers -------------------------------------------------------------------------------
LAYOUT_NAMES: tuple[str, ...] = ("lossless", "bvv241-2-3", "bvv241-max")
DEFAULT_LAYOUT = "lossless"
# N-grams kept per (language, n) by each layout (SPEC A.4); None keeps all.
LAYOUT_TOP_CNT: dict[str, int | None] = {"lossless": None, "bvv241-2-3": 338, "bvv241-max": 906}
# The files of a tokenizer directory besides manifest.json (Hugging Face's names).
TOKENIZER_JSON = "tokenizer.json"
VOCAB_JSON = "vocab.json"
MERGES_TXT = "merges.txt"
VOCAB_TXT = "vocab.txt"
TOKENIZER_CONFIG = "tokenizer_config.json"
TOKENIZER_FILES: tuple[str, ...] = (TOKENIZER_JSON, VOCAB_JSON, MERGES_TXT, VOCAB_TXT, TOKENIZER_CONFIG)
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
# The special tokens by role (SPEC A.2), as tokenizer_config.json and an export's config name them.
BOS, EOS, UNK, PAD = "<s>", "</s>", "<unk>", "<pad>"
SPECIAL_ROLES: dict[str, str] = {"bos": BOS, "eos": EOS, "unk": UNK, "pad": PAD}
# Documents are joined with this special token in token data, and a prompt-less sample starts after it.
SEPARATOR = EOS
# How prepare reads corpus text that spells a special token (``</s>``, ``<unk>``): as plain
# characters (Hugging Face's split_special_tokens), or as the special token itself.
SPECIAL_TOKEN_MODES: tuple[str, ...] = ("text", "special")

# --- embedding tables -------------------------------------------------------------------------
TABLE_METHODS: tuple[str, ...] = ("glyph", "glyph-paper", "bit", "float", "random")
DEFAULT_TABLE_METHOD = "glyph"
RENDER_PRESETS: tuple[str, ...] = ("2-3", "max", "abs")  # glyph-paper parameter sets (SPEC B.1)
DEFAULT_RENDER_PRESET = "2-3"
ON_COLLISION: tuple[str, ...] = ("error", "report", "resolve")
SURFACES: tuple[str, ...] = ("raw", "decoded")
PCA_SOLVERS: tuple[str, ...] = ("covariance_eigh", "full")
DEFAULT_PCA_SOLVER = "covariance_eigh"
# Cosine above which two distinct rows count as near duplicates (measured basis: render/collisions.py).
COLLISION_THRESHOLD = 0.999

# --- models and training ----------------------------------------------------------------------
EMBEDDINGS: tuple[str, ...] = ("frozen", "trainable")
KERNEL_BACKENDS: tuple[str, ...] = ("auto", "triton", "torch")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
PARALLEL_MODES: tuple[str, ...] = ("ddp", "fsdp")
# Experiment loggers beside metrics.jsonl (train/loggers.py); a run picks any of them, comma-separated.
LOGGERS: tuple[str, ...] = ("tensorboard", "csv", "wandb")

# --- run architectures ------------------------------------------------------------------------
# What a run's identity names as its network; run.MODEL_BUILDERS holds one builder for each.
# "gpt-lora" is a growth stage with low-rank adapters over its frozen blocks (weights unmerged).
ARCH_GPT = "gpt"
ARCH_GPT_LORA = "gpt-lora"
ARCH_FUSED = "fused"
ARCHITECTURES: tuple[str, ...] = (ARCH_GPT, ARCH_GPT_LORA, ARCH_FUSED)

# --- growth and fusion ------------------------------------------------------------------------
# What trains in a growth stage after the first: the new blocks plus output head and final norm
# (the papers name "the newest blocks and the LM head"; the final norm is our choice),
# the new blocks only, or everything (the monolithic control).
GROW_TRAINABLE: tuple[str, ...] = ("newest+head", "newest", "all")
# How new blocks start: "random" (the papers; a loss spike at each addition) or "identity"
# (output projections zeroed, so the grown model starts as exactly the previous one).
GROW_INIT: tuple[str, ...] = ("random", "identity")
LORA_ON: tuple[str, ...] = ("frozen",)  # which blocks low-rank adapters go over
# What trains when a fused run initialises further training.
FUSED_TRAINABLE: tuple[str, ...] = ("adapter", "all")
# Weight dtypes of a Hugging Face export (substrate export --dtype).
EXPORT_DTYPES: tuple[str, ...] = ("float32", "bfloat16")

# --- sampling defaults --------------------------------------------------------------------------
# substrate generate: a little below temperature 1 for readable text.
GENERATE_TEMPERATURE = 0.8
GENERATE_TOP_K = 50
GENERATE_MAX_NEW_TOKENS = 100
# The paper protocol of substrate eval samples 10 runs; the papers do not say how (our choice, recorded).
EVAL_TEMPERATURE = 1.0
EVAL_TOP_K = 50

# --- evaluation (substrate eval) --------------------------------------------------------------
EVAL_PROTOCOLS: tuple[str, ...] = ("paper", "loglik", "both")
DEFAULT_EVAL_PROTOCOL = "both"
