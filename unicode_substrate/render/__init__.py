"""Glyph rasterisation and embedding-table rendering (methods glyph, glyph-paper, bit, float, random).

Modules: ``fonts`` (font manifest, validation, coverage), ``paper`` (the paper's recipe: literal
oracle + bit-identical fast path), ``glyph`` (our default method), ``codes`` (ID codes),
``collisions`` (duplicate detection and resolution), ``preview`` (atlas and scatter pictures),
``build`` (``render_table`` / ``import_table``).
"""

from unicode_substrate.render.build import METHODS, describe_table, import_table, render_table, tokenizer_tokens

__all__ = ["METHODS", "describe_table", "import_table", "render_table", "tokenizer_tokens"]
