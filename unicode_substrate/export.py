"""A trained run as a standard Hugging Face model directory (``GPTNeoXForCausalLM``, no custom code).

``export(run, out)`` writes

* ``config.json`` - a GPTNeoXConfig equivalent to the run's model (see ``neox.py`` for the
  mapping and why it is exact), plus the run's own model configuration under ``unicode_substrate``;
* ``model.safetensors`` - the weights in NeoX names (the frozen table stored as ``embed_in``, lifted);
* ``tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json`` - the run's tokenizer,
  so ``AutoTokenizer`` loads it;
* ``generation_config.json`` - ``</s>`` as end of sequence;
* ``README.md`` - a model card;
* ``manifest.json`` - kind ``hf-export``, the run identity and the sha256 of every file: the
  marker that lets ``force`` replace only an earlier export, and ``train --init`` detect one.

The directory is written through a temporary folder and renamed, so it is whole or absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from unicode_substrate.artifacts import (
    MANIFEST_NAME,
    atomic_output_dir,
    canonical_json,
    check_output,
    read_manifest,
    verify_manifest,
    write_safetensors,
)
from unicode_substrate.checkpoint import checkpoint_step
from unicode_substrate.choices import EXPORT_DTYPES, SPECIAL_ROLES, SPECIAL_TOKENS_MAP, TOKENIZER_CONFIG, TOKENIZER_JSON
from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.neox import CONFIG_KEY, neox_config, to_neox, unrepresentable
from unicode_substrate.run import MODEL_KEY, TABLE_KEY, TOKENIZER_KEY, Run

EXPORT_KIND = "hf-export"
EXPORT_SCHEMA = 1


@dataclass(frozen=True)
class ExportFiles:
    """Every file an export consists of, named once."""

    config: str = "config.json"
    weights: str = "model.safetensors"
    generation: str = "generation_config.json"
    card: str = "README.md"
    tokenizer: str = TOKENIZER_JSON
    tokenizer_config: str = TOKENIZER_CONFIG
    special_tokens: str = SPECIAL_TOKENS_MAP
    manifest: str = MANIFEST_NAME


FILES = ExportFiles()
_ROLES = SPECIAL_ROLES  # as our tokenizers name them (tokenizer/layout.py SPECIALS)


def export(run_dir: str | Path, out: str | Path, checkpoint: str | Path | None = None, dtype: str = "float32",
           force: bool = False, tokenizer: str | Path | None = None, table: str | Path | None = None) -> Path:
    """Write the run (its newest or the given checkpoint) as a Hugging Face GPT-NeoX directory."""
    import torch

    if dtype not in EXPORT_DTYPES:
        raise SubstrateError(f"export dtype must be one of {', '.join(EXPORT_DTYPES)}, got {dtype!r}")
    out = Path(out)
    check_output(out, force=force, kind=EXPORT_KIND, inputs=[run_dir, checkpoint, tokenizer, table])  # before loading
    run = Run.load(run_dir)
    inputs = [run_dir, checkpoint, tokenizer, table, run.table_path, run.tokenizer_path]
    check_output(out, force=force, kind=EXPORT_KIND, inputs=inputs)  # never replace an input, before any work
    reason = unrepresentable(run.identity)
    if reason:
        raise SubstrateError(f"cannot export run {run.path}: {reason}")
    mcfg = run.model_config
    weights, ckpt_path = run.weights(checkpoint)
    tok = run.tokenizer(tokenizer)
    table_tensor = run.table(table)
    tensors = to_neox(weights, mcfg, table_tensor)
    cast = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    tensors = {k: v.to(cast).contiguous() for k, v in sorted(tensors.items())}

    ids = {role: tok.token_to_id(name) for role, name in _ROLES.items()}
    step = checkpoint_step(ckpt_path)
    card_facts = _card_facts(run, mcfg, weights, table_tensor, tok, step)
    extra = {MODEL_KEY: mcfg.to_dict(), TABLE_KEY: run.table_sha256, TOKENIZER_KEY: run.tokenizer_sha256, "step": step}
    with atomic_output_dir(out, force=force, kind=EXPORT_KIND, inputs=inputs) as tmp:
        write_safetensors(tmp / FILES.weights, tensors, metadata={"format": "pt"})
        (tmp / FILES.config).write_bytes(canonical_json(neox_config(mcfg, ids, dtype, extra)))
        gen = {"bos_token_id": ids["bos"], "eos_token_id": ids["eos"],
               "pad_token_id": ids["pad"] if ids["pad"] is not None else ids["eos"]}
        (tmp / FILES.generation).write_bytes(canonical_json(gen))
        _copy_tokenizer(tok.path, tmp, ids, mcfg.context)
        (tmp / FILES.card).write_text(model_card(card_facts, dtype), encoding="utf-8")
        from unicode_substrate.artifacts import write_manifest

        write_manifest(tmp, EXPORT_KIND, EXPORT_SCHEMA, identity=run.identity, step=step, dtype=dtype)
    return out


def _copy_tokenizer(src: Path, dst: Path, ids: dict, context: int) -> None:
    """The run's tokenizer files, verbatim but for ``model_max_length``: the model's context (a tokenizer
    alone knows no context, so its own config says 1e9; Hugging Face reads this key to cut and warn);
    a tokenizer_config.json is written when the run has none."""
    import json

    for name in (FILES.tokenizer, FILES.tokenizer_config, FILES.special_tokens):
        if (src / name).is_file():
            (dst / name).write_bytes((src / name).read_bytes())
    if (dst / FILES.tokenizer_config).is_file():
        config = json.loads((dst / FILES.tokenizer_config).read_text(encoding="utf-8"))
        config["model_max_length"] = context
        (dst / FILES.tokenizer_config).write_bytes(canonical_json(config))
    else:
        named = {f"{role}_token": tok for role, tok in _ROLES.items() if ids[role] is not None}
        config = {"tokenizer_class": "PreTrainedTokenizerFast", **named, "model_max_length": context,
                  "clean_up_tokenization_spaces": False, "add_bos_token": False, "add_eos_token": False}
        (dst / FILES.tokenizer_config).write_bytes(canonical_json(config))


def _card_facts(run: Run, mcfg, weights: dict, table, tok, step: int) -> dict:
    # A checkpoint holds exactly the trained tensors; the frozen table counts in the total only
    # (as GPT.num_parameters counts it).
    trainable = sum(v.numel() for v in weights.values())
    summary = run.summary() or {}
    val = [r for r in run.metrics() if r.get("type") == "val" and r.get("step") == step] if (run.path / Run.METRICS_FILE).is_file() else []
    table_manifest = read_manifest(run.table_path) if mcfg.embedding == "frozen" and run.table_path else {}
    return {
        "mcfg": mcfg, "parameters": trainable + (table.numel() if table is not None else 0), "trainable": trainable,
        "table_method": table_manifest.get("method"), "table_sha": run.table_sha256,
        "tokenizer_layout": tok.layout, "tokenizer_sha": run.tokenizer_sha256,
        "steps": step, "val_bpb": val[-1].get("val_bpb") if val else summary.get("val_bpb"),
    }


def model_card(f: dict, dtype: str) -> str:
    """The export's README.md: what the model is and how it was trained, and how to keep its table frozen."""
    m = f["mcfg"]
    frozen = m.embedding == "frozen"
    embed = (f"frozen {f['table_method'] or 'unknown-method'} table, {m.n_embed} wide, lifted x{m.d_model // m.n_embed}"
             f"{'' if m.embed_scale == 1.0 else f' and scaled by {m.embed_scale}'} to {m.d_model}; table manifest sha256 {f['table_sha']}"
             if frozen else "trainable (learned with the rest of the model)")
    bpb = f"{f['val_bpb']:.4f}" if isinstance(f["val_bpb"], (int, float)) else "not recorded"
    lines = [
        "---", "library_name: transformers", "pipeline_tag: text-generation", "tags:", "- gpt_neox", "- unicode-substrate", "---", "",
        "# unicode-substrate model (GPT-NeoX export)", "",
        "A decoder-only Transformer trained with unicode-substrate and exported as a standard "
        "`GPTNeoXForCausalLM`: it loads with `AutoModelForCausalLM.from_pretrained` and needs no `trust_remote_code`.", "",
        "| | |", "|---|---|",
        f"| architecture | GPT-NeoX, sequential residual, pre-norm LayerNorm, rotary on the full head (base {m.rope_base:g}), exact GELU MLP x{m.mlp_ratio}, untied head |",
        f"| size | {m.n_layer} layers, d_model {m.d_model}, {m.n_head} heads, context {m.context}, vocabulary {m.vocab_size} |",
        f"| parameters | {f['parameters']:,} total, {f['trainable']:,} trainable during training |",
        f"| input embedding | {embed} |",
        f"| tokenizer | layout {f['tokenizer_layout'] or 'unknown'}, manifest sha256 {f['tokenizer_sha']} |",
        f"| training | {f['steps']:,} steps; final validation {bpb} bits per byte |",
        f"| weights | {dtype} |", "",
    ]
    if frozen:
        lines += [
            "## The input embedding is a frozen table", "",
            "`embed_in` holds a fixed glyph/ID table, not learned weights: the model was trained with it frozen. "
            "Keep it frozen when fine-tuning:", "",
            "```python", "model.gpt_neox.embed_in.requires_grad_(False)", "```", "",
        ]
    return "\n".join(lines)


def read_export(path: str | Path) -> tuple[dict, dict]:
    """(config.json, NeoX tensors as stored) of a directory our export wrote, its manifest verified when present."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if (path / FILES.manifest).is_file():
        verify_manifest(path, kind=EXPORT_KIND, max_schema=EXPORT_SCHEMA)
    config = read_export_config(path)
    if config is None:
        raise SubstrateError(f"{path} is not a GPT-NeoX model exported by unicode-substrate (its config.json has no {CONFIG_KEY!r})")
    try:
        tensors = load_file(str(path / FILES.weights))
    except (SafetensorError, OSError) as e:
        raise SubstrateError(f"cannot read {path / FILES.weights}: {str(e).splitlines()[0]}") from None
    return config, tensors


def read_export_config(path: str | Path) -> dict | None:
    """The config.json of a GPT-NeoX directory that carries our model configuration, else None."""
    file = Path(path) / FILES.config
    if not file.is_file():
        return None
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(config, dict) or config.get("model_type") != "gpt_neox" or not isinstance(config.get(CONFIG_KEY), dict):
        return None
    return config
