"""ModelConfig and the named presets (the paper's models and tiny CPU versions)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from unicode_substrate.choices import EMBEDDINGS
from unicode_substrate.errors import SubstrateError
from unicode_substrate.options import Range
from unicode_substrate.schema import check_dataclass, check_keys

_AT_LEAST_1 = {"range": Range(True, 1)}
_ABOVE_0 = {"range": Range(False, 0.0, low_open=True)}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines the architecture; the frozen table itself comes from a table directory.

    Each field's type and range (``metadata``) are checked on construction (``schema.check_dataclass``),
    so ``--set``, a ``[model]`` table and a study variant's ``model`` meet the same bounds.
    """

    vocab_size: int = field(default=65536, metadata=_AT_LEAST_1)
    d_model: int = field(default=1024, metadata=_AT_LEAST_1)
    n_layer: int = field(default=16, metadata=_AT_LEAST_1)
    n_head: int = field(default=32, metadata=_AT_LEAST_1)
    context: int = field(default=1024, metadata=_AT_LEAST_1)
    mlp_ratio: int = field(default=4, metadata=_AT_LEAST_1)
    # "frozen": rows come from a rendered table (no gradient, no optimizer state), lifted to
    # d_model by repeat_interleave; "trainable": an ordinary nn.Embedding of width d_model.
    embedding: str = field(default="frozen", metadata={"choices": EMBEDDINGS})
    # Width of the frozen table's rows; d_model must be a multiple (SPEC B.2: 16/64/256/1024).
    n_embed: int = field(default=1024, metadata=_AT_LEAST_1)
    # The table rows are unit-norm (per-coordinate size ~1/sqrt(n_embed)); kept unscaled by
    # default, which puts a 1024-wide row at about the 0.02 std of a GPT-2 trainable embedding.
    embed_scale: float = field(default=1.0, metadata=_ABOVE_0)
    # The table method a preset expects (glyph, glyph-paper, bit, float, random, or a table's own
    # method such as "imported", set on purpose); a table of another method is refused.
    table_method: str | None = None
    rope_base: float = field(default=10000.0, metadata=_ABOVE_0)
    dropout: float = field(default=0.0, metadata={"range": Range(False, 0.0, 1.0, high_open=True)})
    bias: bool = True
    norm_eps: float = field(default=1e-5, metadata=_ABOVE_0)
    init_std: float = field(default=0.02, metadata=_ABOVE_0)

    def __post_init__(self) -> None:
        check_dataclass(self, "model field")
        if self.d_model % self.n_head:
            raise SubstrateError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if (self.d_model // self.n_head) % 2:
            raise SubstrateError("head_dim must be even for rotary embeddings")
        if self.embedding == "frozen" and self.d_model % self.n_embed:
            raise SubstrateError(f"d_model {self.d_model} is not a multiple of n_embed {self.n_embed}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def replace(self, **changes) -> "ModelConfig":
        """A copy with some fields changed; unknown names are an error."""
        check_keys(changes, {f.name for f in dataclasses.fields(self)}, "model fields")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_PAPER = ModelConfig()  # d 1024, 16 layers, 32 heads, ctx 1024, V 65,536 (SPEC C and B.2)
# Sized for a 2-core CPU: with V = 65,536 the output head dominates the cost, so d_model stays small.
_TINY = ModelConfig(d_model=128, n_layer=4, n_head=4, context=128, n_embed=128)

PRESETS: dict[str, ModelConfig] = {
    "uni-glyph-335m": _PAPER.replace(embedding="frozen", n_embed=1024, table_method="glyph-paper"),
    "unfrozen-335m": _PAPER.replace(embedding="trainable", n_embed=1024),
    **{f"bit-{n}": _PAPER.replace(embedding="frozen", n_embed=n, table_method="bit") for n in (16, 64, 256, 1024)},
    **{f"float-{n}": _PAPER.replace(embedding="frozen", n_embed=n, table_method="float") for n in (16, 64, 256, 1024)},
    # Tiny CPU versions of the same experiment: a 128-wide glyph table (render --dim 128).
    "tiny-glyph": _TINY.replace(embedding="frozen", table_method="glyph"),
    "tiny-unfrozen": _TINY.replace(embedding="trainable"),
    "tiny-bit-64": _TINY.replace(embedding="frozen", n_embed=64, table_method="bit"),
    "tiny-float-64": _TINY.replace(embedding="frozen", n_embed=64, table_method="float"),
    # Growing Transformers (SPEC C, D). The controlled growth study: 9 layers grown 3 + 3 + 3
    # on frozen glyph rows, with its fully trainable twin; and abs-bvv-1..6 (d 4096, V 131,072,
    # 4096-wide rows from `render --method glyph-paper --preset abs`), grown one layer at a time.
    "gt-9l": _PAPER.replace(n_layer=9, embedding="frozen", n_embed=1024, table_method="glyph-paper"),
    "gt-9l-unfrozen": _PAPER.replace(n_layer=9, embedding="trainable", n_embed=1024),
    **{f"abs-bvv-{n}": _PAPER.replace(d_model=4096, n_layer=n, vocab_size=131072, n_embed=4096,
                                      table_method="glyph-paper") for n in range(1, 7)},
    # Tiny CPU versions for growth and fusion: 3 layers (grown 1 + 1 + 1) on the 128-wide glyph table.
    "tiny-gt-3l": _TINY.replace(n_layer=3, embedding="frozen", table_method="glyph"),
}


def get_preset(name: str, **overrides) -> ModelConfig:
    """A preset by name, optionally with fields overridden."""
    if name not in PRESETS:
        raise SubstrateError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
