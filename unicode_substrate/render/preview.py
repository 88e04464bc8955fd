"""Pictures of a table: a glyph atlas with token ids, and a 2-D PCA scatter of the rows."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from unicode_substrate.errors import SubstrateError


def _token_images(table_dir: Path, manifest: dict, drawn: list[str], ids: list[int], fonts) -> tuple[np.ndarray, str]:
    """Ink images [n, s, s] in [0, 1] for the chosen ids, re-rendered the way the table was."""
    from unicode_substrate.render.methods import METHODS

    method = METHODS.get(manifest["method"])  # an imported table has no method entry: its rows are shown
    if method is not None and method.pictures is not None:
        return method.pictures(manifest.get("parameters", {}), [drawn[i] for i in ids], fonts)
    from unicode_substrate.table import load_table

    w = np.asarray(load_table(table_dir).weight)[ids]
    side = int(np.ceil(np.sqrt(w.shape[1])))
    pad = np.zeros((len(ids), side * side), dtype=np.float32)
    pad[:, : w.shape[1]] = w
    span = np.abs(pad).max(axis=1, keepdims=True)
    return (0.5 + 0.5 * pad / np.where(span == 0, 1, span)).reshape(len(ids), side, side), "row values (grey = 0)"


KIND_ORDER = ("character", "n-gram", "byte", "special")


def token_kind(raw: str, drawn: str) -> str:
    """character, n-gram, byte (a byte-fallback token), special (named) or filler (an unused id's placeholder)."""
    import re

    if re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", raw):
        return "byte"
    if re.fullmatch(r"<(special_token|unused)_\d+>", raw):
        return "filler"
    if len(raw) > 1 and (re.fullmatch(r"<[^<>\s]+>", raw) or re.fullmatch(r"\[[A-Z_]+\]", raw)):
        return "special"
    return "character" if len(drawn) == 1 else "n-gram"


def sample_ids(raw: list[str], drawn: list[str], scripts: list[str], count: int, seed: int = 0) -> list[int]:
    """``count`` ids spread over token kinds and, for characters, over scripts (not uniform: that is mostly CJK/Hangul).

    About a twelfth each for specials and byte tokens, a quarter for n-grams, the rest characters
    taken from each script in turn; a kind with too few tokens leaves its share to characters.
    Sorted by kind, then id; the same arguments give the same sample.
    """
    rng = np.random.default_rng(seed)
    by_kind: dict[str, list[int]] = {}
    for i, (r, d) in enumerate(zip(raw, drawn)):
        by_kind.setdefault(token_kind(r, d), []).append(i)
    want = {"special": max(1, count // 12), "byte": max(1, count // 12), "n-gram": max(1, count // 4)}
    picked: dict[str, list[int]] = {}
    for kind, n in want.items():
        pool = by_kind.get(kind, [])
        picked[kind] = sorted(rng.choice(pool, size=min(n, len(pool)), replace=False).tolist()) if pool else []
    left = count - sum(map(len, picked.values()))
    per_script: dict[str, list[int]] = {}
    for i in by_kind.get("character", []):
        per_script.setdefault(scripts[i] if scripts else "all", []).append(i)
    queues = {s: rng.permutation(ids).tolist() for s, ids in sorted(per_script.items())}
    chars: list[int] = []
    while len(chars) < left and any(queues.values()):
        for s in sorted(queues, key=lambda s: -len(per_script[s])):  # big scripts first within each round
            if queues[s] and len(chars) < left:
                chars.append(queues[s].pop())
    picked["character"] = sorted(chars)
    rest = [i for i in range(len(raw)) if token_kind(raw[i], drawn[i]) == "filler"]
    short = count - sum(map(len, picked.values()))
    picked["filler"] = sorted(rng.choice(rest, size=min(short, len(rest)), replace=False).tolist()) if short > 0 and rest else []
    return [i for kind in (*KIND_ORDER, "filler") for i in picked.get(kind, [])]


def _shown_text(s: str, limit: int = 12) -> str:
    """A token's text as a reader can see it: invisible and control characters as U+XXXX, a space as a visible mark."""
    parts = []
    for c in s:
        if c == " ":
            parts.append("\u2423")
        elif c.isprintable() and not c.isspace():
            parts.append(c)
        else:
            parts.append(f"U+{ord(c):04X}")
    text = "".join(parts) if len(parts) > 1 or len(parts[0] if parts else "") == 1 else " ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _grid(dim: int) -> tuple[int, int]:
    """Rows x columns for drawing a row of ``dim`` values: the most nearly square exact factorisation."""
    h = max(d for d in range(1, int(dim**0.5) + 1) if dim % d == 0)
    return (h, dim // h) if dim // h <= 4 * h else (int(np.ceil(dim / np.ceil(dim**0.5))), int(np.ceil(dim**0.5)))


def _row_image(rows: np.ndarray, span: float) -> np.ndarray:
    """RGB uint8 [n, h, w, 3]: each value red (+) or blue (-) by size relative to ``span``, white at 0."""
    n, dim = rows.shape
    h, w = _grid(dim)
    pad = np.zeros((n, h * w), dtype=np.float32)
    pad[:, :dim] = rows
    x = np.clip(pad / (span or 1.0), -1, 1).reshape(n, h, w)
    img = np.full((n, h, w, 3), 255.0, dtype=np.float32)
    pos, neg = np.clip(x, 0, 1), np.clip(-x, 0, 1)
    img[..., 0] -= 255 * neg * 0.85  # blue for negative: take away red and green
    img[..., 1] -= 255 * (pos + neg) * 0.85
    img[..., 2] -= 255 * pos * 0.85  # red for positive: take away green and blue
    return np.clip(img, 0, 255).astype(np.uint8)


def write_atlas(
    table_dir: str | Path, out: str | Path, ids: Sequence[int] | None = None, count: int = 48, fonts=None, columns: int = 8,
    rows: bool = True, force: bool = False,
) -> Path:
    """A PNG grid of tokens: each one's picture, its table row (what the model sees), id in hex and decimal, text and kind.

    Without ``ids``, ``count`` tokens are sampled across kinds and scripts (:func:`sample_ids`).
    Tables of methods without pictures (ID codes, imported rows) show the row alone. An existing
    ``out`` is replaced only with ``force``, and only if it is a picture.
    """
    import io

    from PIL import Image, ImageDraw, ImageFont

    import pyarrow.parquet as pq

    from unicode_substrate.artifacts import atomic_write_bytes, check_output_file, output_lock, read_manifest
    from unicode_substrate.render import fonts as fontlib
    from unicode_substrate.render.methods import METHODS
    from unicode_substrate.table import PARQUET, load_table

    table_dir = Path(table_dir)
    check_output_file(out, inputs=[table_dir, *(fonts or ())], force=force)  # never an input, nor a user's file
    manifest = read_manifest(table_dir)
    cols = pq.read_table(table_dir / PARQUET)
    raw = cols.column("token").to_pylist()
    drawn = cols.column("drawn").to_pylist() if "drawn" in cols.column_names else raw
    scripts = cols.column("script").to_pylist() if "script" in cols.column_names else []
    v = len(raw)
    sampled = ids is None
    if sampled:
        ids = sample_ids(raw, drawn, scripts, min(count, v))
    ids = [int(i) for i in ids]
    bad = [i for i in ids if not 0 <= i < v]
    if bad:
        raise SubstrateError(f"token ids {bad[:5]} are outside the table (0..{v - 1})")
    weight = np.asarray(load_table(table_dir).weight)[ids]
    method = METHODS.get(manifest["method"])
    pictures = method is not None and method.pictures is not None
    if pictures:
        imgs, what = _token_images(table_dir, manifest, drawn, ids, fonts)
    # colour scale: the 98th percentile of |value|, so the few large leading coordinates do not wash out the rest
    row_imgs = _row_image(weight, float(np.quantile(np.abs(weight), 0.98)) if weight.size else 1.0)
    rh, rw = row_imgs.shape[1:3]
    box = 64
    rscale = max(1, min(box // rh, (2 * box) // rw))
    row_w, row_h = rw * rscale, rh * rscale
    try:
        font = ImageFont.truetype(str(fontlib.default_font_paths()[0]), 16)
    except Exception:
        font = ImageFont.load_default()
    show_rows = rows or not pictures
    pic_w = box if pictures else 0
    tile_w = pic_w + (6 if pictures and show_rows else 0) + (row_w if show_rows else 0)
    pitch_w, pitch_h = max(tile_w, 160) + 14, max(box, row_h) + 3 * 18 + 12
    n_rows = (len(ids) + columns - 1) // columns
    head = 48
    atlas = Image.new("RGB", (columns * pitch_w + 10, n_rows * pitch_h + head + 4), (255, 255, 255))
    d = ImageDraw.Draw(atlas)
    d.text((8, 4), f"{table_dir.name}: method {manifest['method']}, {v:,} x {manifest['dim']}; {len(ids)} tokens"
           + (" sampled across token kinds and scripts" if sampled else ""), font=font, fill=(0, 0, 0))
    legend = (f"left: {what}; right: " if pictures and show_rows else "") + (
        f"the table row, what the model sees ({rh}x{rw} values: red +, blue -, white 0; full colour at the 98th percentile)" if show_rows else f"{what}")
    d.text((8, 24), legend, font=font, fill=(70, 70, 70))
    for k, i in enumerate(ids):
        x, y = 8 + (k % columns) * pitch_w, head + (k // columns) * pitch_h
        if pictures:
            img = imgs[k]
            pic = Image.fromarray(np.uint8(255 - np.clip(img, 0, 1) * 255)).resize((box, box), Image.NEAREST).convert("RGB")
            atlas.paste(pic, (x, y))
            d.rectangle((x - 1, y - 1, x + box, y + box), outline=(160, 160, 160))
        if show_rows:
            rx = x + (pic_w + 6 if pictures else 0)
            atlas.paste(Image.fromarray(row_imgs[k]).resize((row_w, row_h), Image.NEAREST), (rx, y))
            d.rectangle((rx - 1, y - 1, rx + row_w, y + row_h), outline=(160, 160, 160))
        ty = y + max(box, row_h) + 2
        d.text((x, ty), f"0x{i:04X}  {i}", font=font, fill=(0, 0, 0))
        kind = token_kind(raw[i], drawn[i])
        d.text((x, ty + 18), _shown_text(raw[i] if kind == "byte" else drawn[i]), font=font, fill=(0, 0, 120))
        label = f"{kind}, {scripts[i]}" if kind == "character" and scripts else (f"{len(drawn[i])}-gram" if kind == "n-gram" else kind)
        d.text((x, ty + 36), label, font=font, fill=(110, 110, 110))
    buf = io.BytesIO()
    atlas.save(buf, format="PNG")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out):  # one writer of the picture at a time
        atomic_write_bytes(out, buf.getvalue())
    return out


def write_scatter(table_dir: str | Path, out: str | Path, max_points: int = 20000, force: bool = False) -> Path:
    """A PNG scatter of the rows on their first two principal axes, coloured by script (``force``: as the atlas)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    from unicode_substrate.artifacts import atomic_write_bytes, check_output_file, output_lock
    from unicode_substrate.table import PARQUET, load_table

    table_dir = Path(table_dir)
    check_output_file(out, inputs=[table_dir], force=force)
    t = load_table(table_dir)
    w = np.asarray(t.weight, dtype=np.float64)
    scripts = np.array(pq.read_table(table_dir / PARQUET, columns=["script"]).column("script").to_pylist())
    pick = np.sort(np.random.default_rng(0).choice(len(w), size=min(max_points, len(w)), replace=False))
    x = w[pick] - w[pick].mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    fig, ax = plt.subplots(figsize=(8, 8), dpi=100)
    # tab10's ten well-separated colours, each with a different marker for every ten scripts (no two alike)
    markers = "o^sDvP*Xph"
    names = sorted(set(scripts[pick]), key=lambda n: (-int((scripts[pick] == n).sum()), n))
    for k, name in enumerate(names):
        m = scripts[pick] == name
        ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.6, color=plt.cm.tab10(k % 10), marker=markers[(k // 10) % len(markers)],
                   linewidths=0, label=f"{name} ({m.sum()})")
    ax.set_xlabel("first principal axis (row coordinate)")
    ax.set_ylabel("second principal axis (row coordinate)")
    ax.set_title(f"{table_dir.name}: {t.manifest['method']}, first two principal axes of {len(pick)} rows, by script")
    ax.legend(markerscale=5, fontsize=8, loc="best")
    import io

    out = Path(out)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    with output_lock(out):  # one writer of the picture at a time
        atomic_write_bytes(out, buf.getvalue())
    return out
