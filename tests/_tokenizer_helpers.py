"""Shared builders for the tokenizer tests: small n-gram files and the tokenizers built from them."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer

from unicode_substrate.tokenizer import Tokenizer, build_tokenizer

# A small statistics file in the paper's schema: English and Russian words, CJK runs, and
# grams around characters that have no id of their own (so byte fallback sits inside merges' reach).
SMALL_STATS = [
    {"lang": "en", "language_name": "English", "top_ngrams": {
        2: [("th", 9), ("he", 8), ("in", 7), ("er", 6), ("an", 5), ("re", 4), ("on", 3), ("aa", 2), ("==", 1)],
        3: [("the", 9), ("ing", 8), ("and", 7), ("ion", 6), ("her", 5), ("aaa", 4), ("<0x", 3), ("unk", 2)],
        6: [("<0x41>x", 2), ("<unk>a", 1)],
        4: [("tion", 5), ("ther", 4), ("ment", 3), ("aaaa", 2)],
        5: [("ation", 3), ("there", 2)],
    }},
    {"lang": "ru", "language_name": "Russian", "top_ngrams": {
        2: [("пр", 9), ("ст", 8), ("ов", 7), ("но", 6)],
        3: [("при", 5), ("ост", 4), ("ени", 3)],
    }},
    {"lang": "zh", "language_name": "Chinese", "top_ngrams": {
        2: [("中国", 9), ("我们", 8), ("，我", 7), ("ßx", 6), ("e\u0301", 5)],
        3: [("中国人", 4), ("我们的", 3), ("\u263a\u200d\u263a", 2)],  # grams with astral characters are refused
    }},
]  # fmt: skip


def write_small_stats(path: Path) -> Path:
    """Write SMALL_STATS as the paper's Python literal and return the path."""
    path.write_text(repr(SMALL_STATS) + "\n", encoding="utf-8")
    return path


def build_small(out: Path, layout: str = "lossless") -> Path:
    """A tokenizer of ``layout`` built from SMALL_STATS (fast: no corpus mining)."""
    stats = write_small_stats(out.parent / f"{out.name}-stats.txt")
    return build_tokenizer(out, layout=layout, ngrams=stats, force=True)


def pair(directory: Path, native: bool = True) -> tuple[Tokenizer, HFTokenizer]:
    """Our encoder (compiled loop, or pure Python with ``native=False``) and the Hugging Face library on the same tokenizer.json."""
    return Tokenizer.load(directory, native=native), HFTokenizer.from_file(str(directory / "tokenizer.json"))
