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


def write_atlas(
    table_dir: str | Path, out: str | Path, ids: Sequence[int] | None = None, count: int = 48, fonts=None, columns: int = 8
) -> Path:
    """A PNG grid of token pictures with their ids and strings (sampled ids unless ``ids`` is given)."""
    from PIL import Image, ImageDraw, ImageFont

    from unicode_substrate.artifacts import read_manifest
    from unicode_substrate.render import fonts as fontlib
    from unicode_substrate.table import PARQUET

    import pyarrow.parquet as pq

    table_dir = Path(table_dir)
    manifest = read_manifest(table_dir)
    cols = pq.read_table(table_dir / PARQUET)
    raw = cols.column("token").to_pylist()
    drawn = cols.column("drawn").to_pylist() if "drawn" in cols.column_names else raw
    v = len(raw)
    if ids is None:
        ids = sorted(np.random.default_rng(0).choice(v, size=min(count, v), replace=False).tolist())
    ids = [int(i) for i in ids]
    bad = [i for i in ids if not 0 <= i < v]
    if bad:
        raise SubstrateError(f"token ids {bad[:5]} are outside the table (0..{v - 1})")
    imgs, what = _token_images(table_dir, manifest, drawn, ids, fonts)
    s = imgs.shape[1]
    scale = max(1, 64 // s)
    tile, label_h = s * scale, 34
    try:
        label_font = ImageFont.truetype(str(fontlib.default_font_paths()[0]), 16)
    except Exception:
        label_font = ImageFont.load_default()
    rows = (len(ids) + columns - 1) // columns
    pitch_w, pitch_h = max(tile, 96) + 8, tile + label_h + 8
    atlas = Image.new("L", (columns * pitch_w + 8, rows * pitch_h + 28), 255)
    d = ImageDraw.Draw(atlas)
    d.text((8, 4), f"{table_dir.name}: method {manifest['method']}, {v} x {manifest['dim']}; showing {what}", font=label_font, fill=0)
    for k, (i, img) in enumerate(zip(ids, imgs)):
        x, y = 8 + (k % columns) * pitch_w, 28 + (k // columns) * pitch_h
        pic = Image.fromarray(np.uint8(255 - np.clip(img, 0, 1) * 255)).resize((tile, tile), Image.NEAREST)
        atlas.paste(pic, (x, y))
        d.rectangle((x - 1, y - 1, x + tile, y + tile), outline=160)
        d.text((x, y + tile + 1), str(i), font=label_font, fill=0)
        shown = raw[i] if len(raw[i]) <= 10 else raw[i][:9] + "…"
        d.text((x, y + tile + 17), ascii(shown)[1:-1] if not shown.isprintable() else shown, font=label_font, fill=80)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atlas.save(out)
    return out


def write_scatter(table_dir: str | Path, out: str | Path, max_points: int = 20000) -> Path:
    """A PNG scatter of the rows on their first two principal axes, coloured by script."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    from unicode_substrate.table import PARQUET, load_table

    table_dir = Path(table_dir)
    t = load_table(table_dir)
    w = np.asarray(t.weight, dtype=np.float64)
    scripts = np.array(pq.read_table(table_dir / PARQUET, columns=["script"]).column("script").to_pylist())
    pick = np.sort(np.random.default_rng(0).choice(len(w), size=min(max_points, len(w)), replace=False))
    x = w[pick] - w[pick].mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    fig, ax = plt.subplots(figsize=(8, 8), dpi=100)
    for k, name in enumerate(sorted(set(scripts[pick]))):
        m = scripts[pick] == name
        ax.scatter(xy[m, 0], xy[m, 1], s=2, alpha=0.5, color=plt.cm.tab20(k % 20), label=f"{name} ({m.sum()})")
    ax.set_title(f"{table_dir.name}: {t.manifest['method']}, first two principal axes of {len(pick)} rows")
    ax.legend(markerscale=5, fontsize=8, loc="best")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out
