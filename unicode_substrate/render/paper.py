"""The paper's glyph recipe (SPEC B.1): a literal slow transcription and a bit-identical fast path.

``render_bits_naive`` follows the recipe step by step the way the paper's notebook does it
(Pillow drawing, seed-42 augmentation, per-pixel Python loops for the threshold and the bit
read-out). It is the test oracle and the benchmark baseline. ``render_bits_fast`` gives the
same bits for every token by exploiting what the recipe makes constant:

* the augmentation re-seeds both generators before every token, so the rotation angle, the
  shift and the noise mask depend only on the image width: rotation + paste become one fixed
  pixel gather (found by pushing an image of pixel indices through the same Pillow calls);
* each character is drawn at a position that depends only on its slot, so its FreeType mask
  is computed once (the same ``getmask2`` call ``ImageDraw.text`` makes) and composed with
  Pillow's own blend arithmetic;
* Pillow resizes mode "1" with NEAREST, which is again a fixed gather per width;
* tokens are processed in chunks by one process per core.

Only the Gaussian blur (easy-script tokens) still goes through Pillow per token, because its
three box passes clamp at each image's own edges. Equality with the literal recipe is tested
token for token (tests/test_render_paper.py), over the whole bvv241-2-3 vocabulary.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from unicode_substrate.errors import SubstrateError


@dataclass(frozen=True)
class PaperParams:
    """One parameter set of the recipe (SPEC B.1 table)."""

    name: str
    cell: int  # cell side in pixels; the font size equals it
    easy_rotation: float  # degrees, easy scripts only
    easy_shift: int  # pixels, easy scripts only
    easy_noise: float
    other_noise: float
    blur_radius: float  # easy scripts only
    dim: int  # PCA components


PAPER_PRESETS: dict[str, PaperParams] = {
    "2-3": PaperParams("2-3", 32, 4.0, 2, 0.01, 0.001, 0.5, 1024),
    "max": PaperParams("max", 32, 7.0, 3, 0.03, 0.001, 0.5, 1024),
    "abs": PaperParams("abs", 64, 7.0, 3, 0.03, 0.001, 0.5, 4096),
}


def is_easy_script(token: str) -> bool:
    """True when every character is in U+0000-024F or U+0370-058F (Latin, Greek, Cyrillic, Armenian)."""
    return all(ord(c) <= 0x24F or 0x370 <= ord(c) <= 0x58F for c in token)


@lru_cache(maxsize=8)
def polar_snake_order(cell: int) -> np.ndarray:
    """Flat pixel indices (y * cell + x) sorted by (r, theta, x, y) about the cell centre."""
    c = cell / 2
    keys = [(math.hypot(x - c, y - c), math.atan2(y - c, x - c), x, y) for y in range(cell) for x in range(cell)]
    order = sorted(keys)
    return np.array([y * cell + x for _, _, x, y in order], dtype=np.int64)


def _augmentation(params: PaperParams, easy: bool) -> tuple[float, int, int, float]:
    """The constant (angle, dx, dy, noise) the seed-42 augmentation draws for every token."""
    max_rot, max_shift, noise = (
        (params.easy_rotation, params.easy_shift, params.easy_noise) if easy else (0.0, 0, params.other_noise)
    )
    random.seed(42)
    angle = random.uniform(-max_rot, max_rot)
    dx = random.randint(-max_shift, max_shift)
    dy = random.randint(-max_shift, max_shift)
    return angle, dx, dy, noise


def load_font(path: str | Path, size: int):
    """Pillow FreeType font at ``size`` px (the recipe's ImageFont.truetype)."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype(str(path), size)
    except OSError as e:
        raise SubstrateError(f"cannot open font {path}: {e}") from None


# --------------------------------------------------------------------------- naive oracle


def render_token_naive(token: str, font, params: PaperParams) -> np.ndarray:
    """One token's bits (uint8 [cell*cell], polar-snake order), literally as the recipe states it."""
    from PIL import Image, ImageDraw, ImageFilter

    cell = params.cell
    width = cell * max(len(token), 1)
    img = Image.new("L", (width, cell), 255)
    draw = ImageDraw.Draw(img)
    for i, c in enumerate(token):
        try:
            bbox = font.getbbox(c)
            w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
            draw.text((i * cell + (cell - w) // 2, (cell - h) // 2 - bbox[1]), c, font=font, fill=0)
        except Exception:  # the recipe leaves a character that raises blank
            pass
    easy = is_easy_script(token)
    max_rot, max_shift, noise = (
        (params.easy_rotation, params.easy_shift, params.easy_noise) if easy else (0.0, 0, params.other_noise)
    )
    random.seed(42)
    np.random.seed(42)
    angle = random.uniform(-max_rot, max_rot)
    img = img.rotate(angle, expand=0, fillcolor=255)
    dx = random.randint(-max_shift, max_shift)
    dy = random.randint(-max_shift, max_shift)
    shifted = Image.new("L", img.size, 255)
    shifted.paste(img, (dx, dy))
    arr = np.array(shifted)
    arr[np.random.rand(*arr.shape) < noise] = 0
    img = Image.fromarray(arr)
    if easy:
        img = img.filter(ImageFilter.GaussianBlur(radius=params.blur_radius))
    bw = Image.new("1", img.size)
    src, dst = img.load(), bw.load()
    for y in range(img.size[1]):
        for x in range(img.size[0]):
            dst[x, y] = 0 if src[x, y] < 128 else 255
    if bw.size != (cell, cell):
        bw = bw.resize((cell, cell), Image.BILINEAR)  # Pillow applies NEAREST to mode "1"
    px = bw.load()
    c = cell / 2
    coords = sorted(
        (math.hypot(x - c, y - c), math.atan2(y - c, x - c), x, y) for y in range(cell) for x in range(cell)
    )
    return np.array([1 if px[x, y] == 0 else 0 for _, _, x, y in coords], dtype=np.uint8)


def render_bits_naive(tokens: Sequence[str], font_path: str | Path, params: PaperParams, progress: bool = False) -> np.ndarray:
    """Bits [V, cell*cell] for every token with the literal recipe (slow; oracle and baseline)."""
    from tqdm import tqdm

    font = load_font(font_path, params.cell)
    out = np.zeros((len(tokens), params.cell * params.cell), dtype=np.uint8)
    for i, tok in enumerate(tqdm(tokens, desc="render (naive)", disable=not progress, mininterval=1)):
        out[i] = render_token_naive(tok, font, params)
    return out


# --------------------------------------------------------------------------- fast path

_WORKER: dict = {}


def _init_worker(font_path: str, size: int) -> None:
    _WORKER["font"] = load_font(font_path, size)
    _WORKER["cell"] = size


def _glyph(c: str) -> tuple[np.ndarray, int, int] | None:
    """(ink mask, x, y) of one character where the recipe draws it in its own slot; None if left blank.

    This is what ``ImageDraw.text`` does inside (one ``getmask2`` call, pasted at the drawing
    position plus the mask offset), and the mask offset and size are the ``getbbox`` the recipe
    centres with, so one FreeType layout replaces two.
    """
    font, cell = _WORKER["font"], _WORKER["cell"]
    if "\n" in c:  # ImageDraw would treat it as a line break; getbbox raises on it anyway
        return None
    try:
        im, (ox, oy) = font.getmask2(c, "L", start=(0.0, 0.0), stroke_filled=True)
    except Exception:  # the recipe leaves a character that raises blank
        return None
    w, h = im.size
    if w == 0 or h == 0:
        return None
    return _mask_array(im), (cell - w) // 2 + ox, (cell - h) // 2


def _mask_array(im) -> np.ndarray:
    """uint8 [h, w] pixels of a Pillow core mask (mode L), read with the raw encoder ``Image.tobytes`` uses.

    Called directly because the ``Image`` wrapper costs more than FreeType's drawing of a small
    glyph (a third of the render time over a 57,000-character vocabulary).
    """
    from PIL import Image

    w, h = im.size
    enc = Image.core.raw_encoder("L", "L")
    enc.setimage(im, (0, 0, w, h))
    parts = []
    while True:
        _, err, data = enc.encode(max(65536, w))
        parts.append(data)
        if err:
            break
    if err < 0:
        raise RuntimeError(f"Pillow raw encoder error {err}")
    return np.frombuffer(b"".join(parts), dtype=np.uint8).reshape(h, w)


def _clip(out: np.ndarray, g: tuple[np.ndarray, int, int], x0: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(canvas region, mask part) where a glyph placed at slot offset x0 overlaps the canvas."""
    mask, gx, gy = g
    h, w = mask.shape
    x, y = x0 + gx, gy
    cx0, cy0 = max(x, 0), max(y, 0)
    cx1, cy1 = min(x + w, out.shape[1]), min(y + h, out.shape[0])
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    return out[cy0:cy1, cx0:cx1], mask[cy0 - y : cy1 - y, cx0 - x : cx1 - x]


def _blend(out: np.ndarray, g: tuple[np.ndarray, int, int], x0: int) -> None:
    """Paste black ink through a mask the way Pillow does: out = DIV255(out * (255 - m) + 128)."""
    hit = _clip(out, g, x0)
    if hit is not None:
        region, m = hit
        t = region * (255 - m.astype(np.uint32)) + 128
        region[:] = ((t >> 8) + t) >> 8


def _canvas(tok: str, glyphs: dict, cell: int) -> np.ndarray:
    """The recipe's white canvas with every character of ``tok`` drawn in its slot (uint8 [cell, cell*n])."""
    out = np.full((cell, cell * len(tok)), 255, dtype=np.uint32)
    for i, c in enumerate(tok):
        g = glyphs[c]
        if g is not None:
            _blend(out, g, i * cell)
    return out.astype(np.uint8)


def _blur(imgs: np.ndarray, radius: float) -> np.ndarray:
    from PIL import Image, ImageFilter

    f = ImageFilter.GaussianBlur(radius=radius)
    return np.stack([np.asarray(Image.fromarray(a).filter(f)) for a in imgs])


@lru_cache(maxsize=64)
def _geometry_map(cell: int, n: int, angle: float, dx: int, dy: int) -> np.ndarray:
    """Flat source index per output pixel of rotate + paste (-1 = white fill), via Pillow itself."""
    from PIL import Image

    w = cell * n
    idx = Image.fromarray(np.arange(w * cell, dtype=np.int32).reshape(cell, w), mode="I")
    rot = idx.rotate(angle, expand=0, fillcolor=-1)
    canvas = Image.new("I", (w, cell), -1)
    canvas.paste(rot, (dx, dy))
    return np.asarray(canvas, dtype=np.int64).reshape(-1)


@lru_cache(maxsize=64)
def _resize_map(cell: int, n: int) -> np.ndarray:
    """Flat source index per pixel of Pillow's NEAREST resize from (cell*n, cell) to (cell, cell)."""
    from PIL import Image

    w = cell * n
    idx = Image.fromarray(np.arange(w * cell, dtype=np.int32).reshape(cell, w), mode="I")
    return np.asarray(idx.resize((cell, cell), Image.NEAREST), dtype=np.int64).reshape(-1)


def _noise_mask(cell: int, n: int, noise: float) -> np.ndarray:
    return np.random.RandomState(42).rand(cell, cell * n).reshape(-1) < noise


def _chunks(seq: list, size: int) -> list[list]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


def _render_chunk(args: tuple[list[str], PaperParams]) -> np.ndarray:
    """Bits of a list of tokens in this process (font from :func:`_init_worker`)."""
    tokens, params = args
    cell = params.cell
    glyphs = {c: _glyph(c) for c in sorted({c for t in tokens for c in t})}
    bits = np.zeros((len(tokens), cell * cell), dtype=np.uint8)
    order = polar_snake_order(cell)
    groups: dict[tuple[int, bool], list[int]] = {}
    for i, t in enumerate(tokens):
        groups.setdefault((max(len(t), 1), is_easy_script(t)), []).append(i)
    for (n, easy), ids in sorted(groups.items()):
        angle, dx, dy, noise = _augmentation(params, easy)
        gmap, mask = _geometry_map(cell, n, angle, dx, dy), _noise_mask(cell, n, noise)
        canv = np.full((len(ids), cell, cell * n), 255, dtype=np.uint8)
        for k, i in enumerate(ids):
            t = tokens[i]
            if n == 1 and t and glyphs[t] is not None:
                # one glyph on white: DIV255(255 * (255 - m) + 128) is exactly 255 - m
                region, m = _clip(canv[k], glyphs[t], 0) or (None, None)
                if region is not None:
                    region[:] = 255 - m
            elif n > 1:
                canv[k] = _canvas(t, glyphs, cell)
        canv = canv.reshape(len(ids), -1)
        # rotate + paste as one gather; -1 marks the white fill
        g = np.take(canv, np.maximum(gmap, 0), axis=1)
        g[:, gmap < 0] = 255
        g[:, mask] = 0
        if easy:  # three box passes clamped at each image's own edges: Pillow, per image
            g = _blur(g.reshape(len(ids), cell, cell * n), params.blur_radius).reshape(len(ids), -1)
        black = g < 128
        if n > 1:
            black = np.take(black, _resize_map(cell, n), axis=1)
        bits[ids] = black[:, order]
    return bits


def render_bits_fast(
    tokens: Sequence[str], font_path: str | Path, params: PaperParams, workers: int | None = None, progress: bool = False
) -> np.ndarray:
    """Bits [V, cell*cell] identical to :func:`render_bits_naive`, computed in batches on all cores."""
    from unicode_substrate.progress import Progress

    tokens = list(tokens)
    workers = workers or min(2, mp.cpu_count())
    # chunks of whole tokens: each process lays out the characters its tokens need (monograms,
    # most of any vocabulary, are disjoint across chunks) and returns finished bits
    chunks = _chunks(tokens, 4096)
    jobs = [(c, params) for c in chunks]
    pool = mp.get_context("fork").Pool(workers, _init_worker, (str(font_path), params.cell)) if workers > 1 and len(jobs) > 1 else None
    try:
        if pool is None:
            _init_worker(str(font_path), params.cell)
        it = pool.imap(_render_chunk, jobs) if pool else map(_render_chunk, jobs)
        parts = []
        with Progress(len(tokens), "render glyphs", enabled=progress, unit="token") as bar:
            for chunk, res in zip(chunks, it):
                parts.append(res)
                bar.update(len(chunk))
    finally:
        if pool:
            pool.close()
            pool.join()
    if not parts:
        return np.zeros((0, params.cell * params.cell), dtype=np.uint8)
    return np.concatenate(parts)

