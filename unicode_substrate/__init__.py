"""unicode-substrate: frozen visual-Unicode embedding substrates for language models."""

from __future__ import annotations

from unicode_substrate._version import __version__

__all__ = ["__version__", "Tokenizer", "load_table", "as_embedding"]


def __getattr__(name: str):
    # Heavy modules load on first use so `import unicode_substrate` and `substrate --help` stay instant.
    if name == "Tokenizer":
        from unicode_substrate.tokenizer import Tokenizer

        return Tokenizer
    if name in ("load_table", "as_embedding"):
        from unicode_substrate import table

        return getattr(table, name)
    raise AttributeError(f"module 'unicode_substrate' has no attribute {name!r}")
