"""Unicode-centric tokenizers: the paper's layouts, a lossless layout, and a fast exact encoder.

``build_tokenizer`` writes a tokenizer directory (Hugging Face files + manifest);
``Tokenizer.load`` reads one back for encoding and decoding.
"""

from __future__ import annotations

from unicode_substrate.tokenizer.build import build_tokenizer
from unicode_substrate.tokenizer.encoder import Tokenizer
from unicode_substrate.tokenizer.layout import LAYOUTS, SPECIALS

__all__ = ["build_tokenizer", "Tokenizer", "LAYOUTS", "SPECIALS"]
