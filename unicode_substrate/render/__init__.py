"""Glyph rasterisation and embedding-table rendering (methods glyph, glyph-paper, bit, float, random).

Modules: ``methods`` (the registry of table methods), ``fonts`` (font manifest, validation,
coverage), ``paper`` (the paper's recipe: literal oracle + bit-identical fast path), ``glyph``
(our default method), ``pca`` (PCA + L2, shared by both glyph methods), ``codes`` (ID codes),
``collisions`` (duplicate detection and resolution), ``preview`` (atlas and scatter pictures),
``build`` (``render_table`` / ``import_table``).
"""

from unicode_substrate.render.build import describe_table, import_table, render_table, tokenizer_tokens
from unicode_substrate.render.methods import METHODS

__all__ = ["METHODS", "describe_table", "import_table", "render_table", "tokenizer_tokens"]
