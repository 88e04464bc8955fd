"""The table methods, each defined once: how it makes the rows, what it needs, and what preview draws.

``render_table`` and ``preview`` both look a method up in :data:`METHODS` (keys: the names of
``choices.TABLE_METHODS``), so adding a method is one entry here and one name there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from unicode_substrate.choices import DEFAULT_PCA_SOLVER, DEFAULT_RENDER_PRESET
from unicode_substrate.errors import SubstrateError
from unicode_substrate.render.codes import check_dim

PCA_NOTE = "sklearn PCA svd_solver={}, fitted on all rows (float32)"


@dataclass(frozen=True)
class Job:
    """What a method is asked to make: the tokens (raw keys and the strings to draw) and the user's settings."""

    raw: list[str]
    drawn: list[str]
    dim: int | None
    fonts: Sequence | None = None
    preset: str = DEFAULT_RENDER_PRESET
    seed: int = 0
    workers: int | None = None
    progress: bool = False
    pca_solver: str = DEFAULT_PCA_SOLVER
    stage: Callable[[str], None] = lambda name: None  # reports the start of a long step


@dataclass
class Rows:
    """What a method made: the table, its manifest parameters and parquet columns, fonts and coverage."""

    weight: np.ndarray
    params: dict
    columns: dict = field(default_factory=dict)
    fonts: list = field(default_factory=list)  # FontInfo of every font drawn with
    coverage: dict = field(default_factory=dict)
    pictures: list[list[int]] | None = None  # groups of identical pictures before PCA (glyph methods)


Pictures = Callable[[dict, list[str], Sequence | None], tuple[np.ndarray, str]]


@dataclass(frozen=True)
class TableMethod:
    """One table method.

    ``rows`` makes the table; ``pictures`` re-draws chosen tokens from a manifest's parameters
    the way the table drew them (None: preview shows the row values). ``surface`` and
    ``on_collision`` are the defaults when the user gives none. ``seeded``: the seed decides
    the rows (recorded in the parameters). ``distinct_codes``: rows are distinct +-1/sqrt(D)
    codes, so two of them have cosine at most 1 - 2/D.
    """

    name: str
    rows: Callable[[Job], Rows]
    pictures: Pictures | None = None
    surface: str = "decoded"
    on_collision: str = "resolve"
    seeded: bool = False
    distinct_codes: bool = False


# --------------------------------------------------------------------------- glyph-paper


def _paper_preset(name: str):
    from unicode_substrate.render import paper

    if name not in paper.PAPER_PRESETS:
        raise SubstrateError(f"unknown glyph-paper preset {name!r} ({', '.join(paper.PAPER_PRESETS)})")
    return paper.PAPER_PRESETS[name]


def _glyph_paper_rows(job: Job) -> Rows:
    from unicode_substrate.render import collisions, paper
    from unicode_substrate.render import fonts as fontlib
    from unicode_substrate.render.pca import pca_l2

    p = _paper_preset(job.preset)
    v = len(job.raw)
    dim = p.dim if job.dim is None else job.dim
    check_dim(dim, min(p.cell * p.cell, v), f"PCA of {p.cell}x{p.cell} glyphs over {v} tokens")
    font_infos = fontlib.resolve_fonts(job.fonts)[:1]  # the recipe draws with one font
    bits = paper.render_bits_fast(job.drawn, font_infos[0].path, p, workers=job.workers, progress=job.progress)
    job.stage("PCA")
    weight = pca_l2(bits, dim, solver=job.pca_solver)
    params = dict(preset=p.name, cell=p.cell, font_size=p.cell, easy_rotation=p.easy_rotation, easy_shift=p.easy_shift,
                  easy_noise=p.easy_noise, other_noise=p.other_noise, blur_radius=p.blur_radius, seed=42,
                  bit_order="polar-snake", pca=PCA_NOTE.format(job.pca_solver), dim=dim)
    # the recipe has one font and no fallback: say which tokens it could not draw
    cps = font_infos[0].codepoints
    names = ["missing" if any(ord(c) not in cps for c in t) else "ok" for t in job.drawn]
    miss = [i for i, n in enumerate(names) if n == "missing"]
    return Rows(
        weight,
        params,
        columns={"ink_pixels": bits.sum(axis=1, dtype=np.int32), "coverage": names},
        fonts=font_infos,
        coverage={"tokens": {"ok": v - len(miss), "missing": len(miss)}, "missing_examples": [[i, job.raw[i]] for i in miss[:20]]},
        pictures=collisions.exact_groups(bits)[0],
    )


def _glyph_paper_pictures(params: dict, tokens: list[str], fonts: Sequence | None) -> tuple[np.ndarray, str]:
    from unicode_substrate.render import fonts as fontlib
    from unicode_substrate.render import paper

    p = _paper_preset(params["preset"])
    bits = paper.render_bits_fast(tokens, fontlib.resolve_fonts(fonts)[0].path, p, workers=1)
    imgs = np.zeros_like(bits)
    imgs[:, paper.polar_snake_order(p.cell)] = bits
    return imgs.reshape(len(tokens), p.cell, p.cell).astype(np.float32), "glyph bits (1 = black)"


# --------------------------------------------------------------------------- glyph


def _glyph_rows(job: Job) -> Rows:
    from unicode_substrate.render import collisions, glyph
    from unicode_substrate.render import fonts as fontlib
    from unicode_substrate.render.pca import pca_l2

    v = len(job.raw)
    dim = 1024 if job.dim is None else job.dim
    gp = glyph.GlyphParams(cell=32 if dim <= 1024 else 64)
    check_dim(dim, min(gp.cell * gp.cell, v), f"PCA of {gp.cell}x{gp.cell} glyphs over {v} tokens")
    font_infos = fontlib.resolve_fonts(job.fonts)
    feats, cover = glyph.render_glyphs(job.drawn, font_infos, gp, workers=job.workers, progress=job.progress)
    job.stage("PCA")
    weight = pca_l2(feats, dim, solver=job.pca_solver)
    names = [glyph.COVERAGE_NAMES[int(c)] for c in cover]
    examples = {
        f"{what}_examples": [[i, job.raw[i]] for i in np.nonzero(cover == code)[0][:20].tolist()]
        for what, code in (("missing", glyph.MISSING), ("blank", glyph.BLANK))
    }
    return Rows(
        weight,
        dict(gp.describe(), dim=dim, pca=PCA_NOTE.format(job.pca_solver)),
        columns={"coverage": names},
        fonts=font_infos,
        coverage={"tokens": {name: names.count(name) for name in glyph.COVERAGE_NAMES.values()}, **examples},
        pictures=collisions.exact_groups(feats)[0],
    )


def _glyph_pictures(params: dict, tokens: list[str], fonts: Sequence | None) -> tuple[np.ndarray, str]:
    from unicode_substrate.render import fonts as fontlib
    from unicode_substrate.render import glyph

    gp = glyph.GlyphParams(cell=params["cell"], control_pictures=params["control_pictures"])
    feats, _ = glyph.render_glyphs(tokens, fontlib.resolve_fonts(fonts), gp, workers=1)
    return feats.reshape(len(tokens), gp.cell, gp.cell), "glyph ink"


# --------------------------------------------------------------------------- ID codes


def _code_rows(method: str) -> Callable[[Job], Rows]:
    def rows(job: Job) -> Rows:
        from unicode_substrate.render.codes import code_table

        dim = 1024 if job.dim is None else job.dim
        params = {"dim": dim, "generator": "numpy default_rng([seed, method_tag, dim]) (PCG64)"}
        if method == "bit":
            params["bit_order"] = "bit 1 -> +1/sqrt(D), bit 0 -> -1/sqrt(D); D=16: token id, most significant bit first"
        return Rows(code_table(method, len(job.raw), dim, job.seed), params)

    return rows


METHODS: dict[str, TableMethod] = {
    m.name: m
    for m in (
        TableMethod("glyph", _glyph_rows, _glyph_pictures),
        TableMethod("glyph-paper", _glyph_paper_rows, _glyph_paper_pictures, surface="raw", on_collision="report"),
        TableMethod("bit", _code_rows("bit"), seeded=True, distinct_codes=True),
        TableMethod("float", _code_rows("float"), seeded=True),
        TableMethod("random", _code_rows("random"), seeded=True),
    )
}


def get_method(name: str) -> TableMethod:
    """The method called ``name``, or one clear line naming the choices."""
    if name not in METHODS:
        raise SubstrateError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name]
