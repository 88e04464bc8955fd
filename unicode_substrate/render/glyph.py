"""Our default ``glyph`` method: faithful glyph pictures, every character visible, then PCA + L2.

Differences from the paper's recipe (SPEC B.1), each for a reason:

* No augmentation. The recipe re-seeds before every token, so its "random" rotation, shift and
  noise are one fixed distortion applied to all glyphs: it adds no information and erases detail.
* Grey levels, not a 128 threshold: anti-aliased edges of non-bitmap fonts survive.
* Fallback chain: a character is drawn with the first font whose cmap covers it (Unifont for the
  BMP, Unifont Upper for emoji and the astral planes). A character no font covers is drawn as
  a box holding its hex code point, like Unifont's own missing-glyph convention, and the token
  is marked ``missing`` in the coverage column - never a silent blank row.
* Invisible characters get a visible picture: C0 controls and DEL use the Unicode Control
  Pictures (U+2400-2421), space is drawn as U+2423 (open box), no-break space as U+237D. So
  space, newline and no-break space no longer share a row.
* Multi-character tokens: every character is drawn in its own cell, the cells are placed side by
  side and the strip is area-averaged back to one cell (each output column is the mean of n
  input columns), so no column is dropped, unlike the recipe's NEAREST resize of a 1-bit image.
* Glyphs larger than the cell are area-downscaled to fit instead of clipped.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from unicode_substrate.render.fonts import FontInfo

CONTROL_PICTURES = {**{cp: 0x2400 + cp for cp in range(0x20)}, 0x7F: 0x2421, 0x20: 0x2423, 0xA0: 0x237D}
# coverage codes per character, worst wins for a token
OK, FALLBACK, PICTURE, BLANK, MISSING = 0, 1, 2, 3, 4
COVERAGE_NAMES = {OK: "ok", FALLBACK: "fallback", PICTURE: "picture", BLANK: "blank", MISSING: "missing"}


@dataclass(frozen=True)
class GlyphParams:
    """Parameters of the ``glyph`` method (all recorded in the table manifest)."""

    cell: int = 32
    control_pictures: bool = True
    pooling: str = "area"

    def describe(self) -> dict:
        return {"cell": self.cell, "font_size": self.cell, "control_pictures": self.control_pictures, "pooling": self.pooling, "augmentation": "none"}


_W: dict = {}


def _init(paths: list[str], cpsets: list[frozenset[int]], cell: int, pictures: bool) -> None:
    from PIL import ImageFont

    _W.update(
        fonts=[ImageFont.truetype(p, cell) for p in paths],
        small=ImageFont.truetype(paths[0], cell // 2),
        cps=cpsets,
        cell=cell,
        pictures=pictures,
    )


def _hexbox(cp: int) -> np.ndarray:
    """A box with the code point in hex, for characters no font covers."""
    from PIL import Image, ImageDraw

    cell = _W["cell"]
    img = Image.new("L", (cell, cell), 255)
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, cell - 1, cell - 1), outline=0)
    digits = f"{cp:06X}" if cp > 0xFFFF else f"{cp:04X}"
    half = len(digits) // 2
    for row, text in enumerate((digits[:half], digits[half:])):
        try:
            d.text((cell // 8, row * (cell // 2) - 1), text, font=_W["small"], fill=0)
        except Exception:
            pass
    return 255 - np.asarray(img)


def _char(c: str) -> tuple[np.ndarray, int]:
    """Ink (uint8, 255 = full) [cell, cell] of one character and its coverage code."""
    from PIL import Image, ImageDraw

    cell, cp = _W["cell"], ord(c)
    code = OK
    if _W["pictures"] and cp in CONTROL_PICTURES:
        c, code = chr(CONTROL_PICTURES[cp]), PICTURE
    which = next((i for i, s in enumerate(_W["cps"]) if ord(c) in s), None)
    if which is None:
        return _hexbox(cp), MISSING
    font = _W["fonts"][which]
    code = max(code, FALLBACK if which else OK)
    try:
        left, top, right, bottom = font.getbbox(c)
    except Exception:
        return _hexbox(cp), MISSING
    w, h = right - left, bottom - top
    size = (max(cell, w), max(cell, h))
    img = Image.new("L", size, 255)
    ImageDraw.Draw(img).text(((size[0] - w) // 2 - left, (size[1] - h) // 2 - top), c, font=font, fill=0)
    if size != (cell, cell):
        img = img.resize((cell, cell), Image.BOX)
    ink = 255 - np.asarray(img)
    return ink, (BLANK if not ink.any() and code < BLANK else code)


def _chars(chars: list[str]) -> list[tuple[np.ndarray, int]]:
    return [_char(c) for c in chars]


def render_glyphs(
    tokens: Sequence[str], fonts: list[FontInfo], params: GlyphParams = GlyphParams(), workers: int | None = None, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Token pictures as float32 [V, cell*cell] ink in [0, 1], and a coverage code per token."""
    from unicode_substrate.progress import Progress

    cell = params.cell
    chars = sorted({c for t in tokens for c in t})
    args = ([str(f.path) for f in fonts], [f.codepoints for f in fonts], cell, params.control_pictures)
    workers = workers or min(2, mp.cpu_count())
    jobs = [chars[i : i + 1024] for i in range(0, len(chars), 1024)]
    ink: dict[str, tuple[np.ndarray, int]] = {}
    pool = mp.get_context("fork").Pool(workers, _init, args) if workers > 1 and len(chars) > 2048 else None
    try:
        if pool is None:
            _init(*args)
        it = pool.imap(_chars, jobs) if pool else map(_chars, jobs)
        with Progress(len(chars), "render glyphs", enabled=progress, unit="character") as bar:
            for job, res in zip(jobs, it):
                ink.update(zip(job, res))
                bar.update(len(job))
    finally:
        if pool:
            pool.close()
            pool.join()
    feats = np.zeros((len(tokens), cell * cell), dtype=np.float32)
    cover = np.zeros(len(tokens), dtype=np.int8)
    scale = np.float32(1 / 255)
    for i, t in enumerate(tokens):
        if not t:
            cover[i] = BLANK
            continue
        if len(t) == 1:
            a, code = ink[t]
            feats[i] = a.reshape(-1) * scale
        else:
            strip = np.concatenate([ink[c][0] for c in t], axis=1).astype(np.float32)
            # area pooling: output column j averages strip columns j*n .. j*n+n-1
            feats[i] = strip.reshape(cell, cell, len(t)).mean(axis=2).reshape(-1) * scale
            code = max(ink[c][1] for c in t)
            if code == BLANK and feats[i].any():
                code = OK
        cover[i] = code
    return feats, cover
