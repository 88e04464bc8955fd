"""A coarse script label per token (for the parquet ``script`` column), from code-point blocks."""

from __future__ import annotations

import bisect

# (first code point, label) of each block range, sorted; a range ends where the next begins.
_RANGES = [
    (0x0000, "common"), (0x0041, "latin"), (0x005B, "common"), (0x0061, "latin"), (0x007B, "common"),
    (0x00C0, "latin"), (0x0250, "latin"), (0x02B0, "common"), (0x0370, "greek"), (0x0400, "cyrillic"),
    (0x0530, "armenian"), (0x0590, "hebrew"), (0x0600, "arabic"), (0x0700, "other"), (0x0900, "indic"),
    (0x0E00, "other"), (0x10A0, "georgian"), (0x1100, "hangul"), (0x1200, "other"), (0x1E00, "latin"),
    (0x1F00, "greek"), (0x2000, "common"), (0x2E80, "cjk"), (0x3040, "kana"), (0x3100, "cjk"),
    (0xA000, "other"), (0xAC00, "hangul"), (0xD800, "surrogate"), (0xE000, "private"), (0xF900, "cjk"),
    (0xFB00, "other"), (0xFF00, "common"), (0x10000, "astral"),
]
_STARTS = [s for s, _ in _RANGES]


def char_script(c: str) -> str:
    """Coarse script of one character."""
    return _RANGES[bisect.bisect_right(_STARTS, ord(c)) - 1][1]


def token_script(token: str) -> str:
    """The token's script: the one script of its non-common characters, ``common``, ``mixed`` or ``empty``."""
    if not token:
        return "empty"
    found = {char_script(c) for c in token} - {"common"}
    if not found:
        return "common"
    return found.pop() if len(found) == 1 else "mixed"
