"""Id layouts: which string sits at which id, and the merge list that reaches every n-gram.

All three layouts share the paper's convention (arXiv 2507.04886): a Basic Multilingual
Plane character's id is its code point, n-grams fill the surrogate and private-use ranges
(which can never be characters of a valid string), and the named specials start at 0xE000.

* ``bvv241-2-3`` (65,536 ids) and ``bvv241-max`` (131,072 ids) reproduce the paper's
  tokenizers id for id from its n-gram statistics.
* ``lossless`` (65,536 ids) is ``bvv241-2-3`` with the last 256 private-use slots
  (0xF800-0xF8FF) given to byte-fallback tokens ``<0x00>``..``<0xFF>``: a character that has
  no id of its own (above U+FFFF, private use, U+FFFF) is encoded as its UTF-8 bytes, so
  every string round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unicode_substrate.choices import LAYOUT_NAMES, LAYOUT_TOP_CNT, UNK
from unicode_substrate.errors import SubstrateError

# The 23 named specials, in id order from 0xE000; all are registered as added special tokens.
SPECIALS: tuple[str, ...] = (
    "<pad>", "<s>", "</s>", "<unk>", "<think>", "</think>", "<emotions>", "</emotions>",
    "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "[INST]", "[/INST]",
    "[EOT]", "[USER]", "[ASSISTANT]", "[FIM_PREFIX]", "[FIM_MIDDLE]", "[FIM_SUFFIX]",
    "[FIM_PAD]", "[REPO_NAME]", "[FILE_SEP]",
)  # fmt: skip
SPECIAL_BASE = 0xE000
RESERVE_RANGE = range(SPECIAL_BASE + len(SPECIALS), 0xE100)  # `<special_token_{id}>` strings
BYTE_BASE = 0xF800  # lossless layout: `<0xXX>` byte-fallback tokens at 0xF800 + byte


def byte_token(b: int) -> str:
    """The byte-fallback token for one byte, spelt as the Hugging Face BPE model expects."""
    return f"<0x{b:02X}>"


@dataclass(frozen=True)
class LayoutSpec:
    """Where n-grams go in a layout and what happens to grams that do not fit."""

    name: str
    vocab_size: int
    slots: tuple[range, ...]  # n-gram slot ranges, filled in this order
    top_cnt: int | None  # grams kept per (language, n); None = all
    byte_fallback: bool = False
    drop_overflow: bool = False  # the paper's max layout silently drops what does not fit
    uses_intersection: bool = False
    default_ngrams: str = "builtin"  # "builtin" corpus or a reference file name

    @property
    def n_slots(self) -> int:
        return sum(len(r) for r in self.slots)


LAYOUTS: dict[str, LayoutSpec] = {
    "lossless": LayoutSpec(
        "lossless", 65536, (range(0xD800, 0xE000), range(0xE100, BYTE_BASE)), LAYOUT_TOP_CNT["lossless"], byte_fallback=True
    ),
    "bvv241-2-3": LayoutSpec(
        "bvv241-2-3", 65536, (range(0xD800, 0xE000), range(0xE100, 0xF900)), LAYOUT_TOP_CNT["bvv241-2-3"], default_ngrams="n-gramms-2-3.txt"
    ),
    "bvv241-max": LayoutSpec(
        "bvv241-max",
        131072,
        (range(0xD800, 0xE000), range(0xE100, 0xF900), range(0x10000, 0x1FFFF)),
        LAYOUT_TOP_CNT["bvv241-max"],
        drop_overflow=True,
        uses_intersection=True,
        default_ngrams="n-gramms-2-3-4-5.txt",
    ),
}
# choices.LAYOUT_NAMES is the list users pick from (the CLI reads it without importing this module).
assert tuple(LAYOUTS) == LAYOUT_NAMES, "choices.LAYOUT_NAMES and tokenizer.layout.LAYOUTS disagree"


def get_layout(name: str) -> LayoutSpec:
    """Look a layout up by name; an unknown name is a one-line error listing the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise SubstrateError(f"unknown layout {name!r}; choose one of: {', '.join(LAYOUTS)}") from None


def is_monogram_id(i: int) -> bool:
    """True where a BMP character sits at its own code point (not surrogate, private use or U+FFFF)."""
    return i < 0xD800 or 0xF900 <= i <= 0xFFFE


@dataclass(frozen=True)
class Vocabulary:
    """A laid-out vocabulary: ``tokens[id]`` for every id, the merge list and what was dropped."""

    layout: LayoutSpec
    tokens: tuple[str, ...]
    merges: tuple[tuple[str, str], ...]
    n_placed: int
    dropped: tuple[str, ...] = field(default=())


def placement_order(grams: set[str] | list[str]) -> list[str]:
    """The paper's placement order: longest first, then by code points."""
    return sorted(set(grams), key=lambda g: (-len(g), g))


def assemble(layout: LayoutSpec, grams: set[str] | list[str]) -> Vocabulary:
    """Lay out monograms, specials, reserves, byte tokens and ``grams``; derive the merges."""
    tokens: list[str | None] = [None] * layout.vocab_size
    for i in range(min(layout.vocab_size, 0x10000)):
        if is_monogram_id(i):
            tokens[i] = chr(i)
    for k, s in enumerate(SPECIALS):
        tokens[SPECIAL_BASE + k] = s
    for i in RESERVE_RANGE:
        tokens[i] = f"<special_token_{i}>"
    if layout.byte_fallback:
        for b in range(256):
            tokens[BYTE_BASE + b] = byte_token(b)
    reserved = {t for t in tokens if t is not None}
    clashing = sorted(g for g in grams if g in reserved)
    if clashing:
        # A gram spelt like a monogram, special or byte token would need two ids for one string.
        raise SubstrateError(
            f"{len(clashing)} n-gram(s) are spelt like reserved tokens of layout {layout.name}: {clashing[:5]}"
        )
    unreachable = sorted(g for g in grams if not all(is_monogram_id(ord(c)) for c in g))
    if unreachable:
        # a character without an id of its own (astral, private use) is never a token, so no merge reaches the gram
        raise SubstrateError(
            f"{len(unreachable)} n-gram(s) contain a character that has no id in layout {layout.name} "
            f"(astral plane, private use or a surrogate), so encode could never produce them: {unreachable[:5]}"
        )
    order = placement_order(grams)
    n_slots = layout.n_slots
    dropped = tuple(order[n_slots:])
    if dropped and not layout.drop_overflow:
        raise SubstrateError(
            f"{len(order)} n-grams do not fit the {n_slots} slots of layout {layout.name}: "
            f"{len(dropped)} would be dropped, the last in placement order: {', '.join(map(repr, dropped[:10]))}"
            f"{f' and {len(dropped) - 10} more' if len(dropped) > 10 else ''}; keep fewer grams per language and n",
            param="top_cnt")
    placed = order[:n_slots]
    slot_ids = (i for r in layout.slots for i in r)
    for g, i in zip(placed, slot_ids):
        tokens[i] = g
    for i, t in enumerate(tokens):
        if t is None:
            tokens[i] = f"<unused_{i}>"
    # Every string must have exactly one id; an `<unused_N>`-shaped gram would collide late.
    if len(set(tokens)) != len(tokens):
        raise SubstrateError(f"layout {layout.name}: an n-gram is spelt like an <unused_N> placeholder")
    # Byte tokens stand for bytes, not for their spelling: a merge over one would glue a byte to text.
    vocab = set(tokens) - ({byte_token(b) for b in range(256)} | {UNK} if layout.byte_fallback else set())
    merges = []
    for g in placed:
        # All valid splits, no early stop: rank = list order (the paper's rule).
        for i in range(1, len(g)):
            if g[:i] in vocab and g[i:] in vocab:
                merges.append((g[:i], g[i:]))
    return Vocabulary(layout, tuple(tokens), tuple(merges), len(placed), dropped)
