"""``render_table`` and ``import_table``: from a tokenizer directory to a verified table directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from unicode_substrate.artifacts import manifest_sha256, read_manifest, sha256_file, verify_manifest
from unicode_substrate.errors import SubstrateError
from unicode_substrate.render import collisions as coll
from unicode_substrate.render.scripts import token_script

METHODS = ("glyph", "glyph-paper", "bit", "float", "random")
Surface = Literal["raw", "decoded"]


def tokenizer_tokens(tokenizer_dir: str | Path, surface: Surface = "raw") -> tuple[list[str], list[str], dict]:
    """(raw token strings in id order, strings to draw, tokenizer manifest) of a verified tokenizer dir.

    ``surface="decoded"`` draws what the token decodes to with the tokenizer's own decoder
    (a byte-level ``Ġpainted`` becomes `` painted``); a token that decodes to a broken byte
    sequence (U+FFFD) keeps its raw key so distinct tokens stay distinct.
    """
    from tokenizers import Tokenizer

    d = Path(tokenizer_dir)
    manifest = verify_manifest(d, kind="tokenizer")
    try:
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    except Exception as e:
        raise SubstrateError(f"{d}/tokenizer.json cannot be read by the tokenizers library: {e}") from None
    vocab = tok.get_vocab(with_added_tokens=True)
    by_id = {i: s for s, i in vocab.items()}
    n = max(by_id) + 1 if by_id else 0
    if len(by_id) != n:
        raise SubstrateError(f"{d}: token ids are not contiguous ({len(by_id)} tokens, largest id {n - 1})")
    raw = [by_id[i] for i in range(n)]
    if surface == "raw" or tok.decoder is None:
        return raw, raw, manifest
    if surface != "decoded":
        raise SubstrateError(f"unknown surface {surface!r} (raw or decoded)")
    drawn = []
    for s in raw:
        try:
            text = tok.decoder.decode([s])
        except Exception:
            text = s
        drawn.append(s if ("\ufffd" in text and "\ufffd" not in s) or not text else text)
    return raw, drawn, manifest


class _Stages:
    """A stage bar on stderr (PCA, collision check, write are single long calls without inner steps)."""

    def __init__(self, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(desc="table", bar_format="{desc}: {postfix} [{elapsed}]", disable=not enabled)

    def next(self, name: str) -> None:
        self.bar.set_postfix_str(name, refresh=True)

    def close(self) -> None:
        self.bar.set_postfix_str("done", refresh=True)
        self.bar.close()


def _check_dim(dim: int, limit: int, what: str) -> None:
    if dim < 1:
        raise SubstrateError("--dim must be positive")
    if dim > limit:
        raise SubstrateError(f"--dim {dim} is larger than {what} allows (at most {limit})")


def render_table(
    tokenizer_dir: str | Path,
    out: str | Path,
    method: str = "glyph",
    dim: int | None = None,
    fonts: Sequence[str | Path] | None = None,
    on_collision: str | None = None,
    surface: Surface | None = None,
    force: bool = False,
    preview: str | Path | None = None,
    preset: str = "2-3",
    seed: int = 0,
    threshold: float = coll.DEFAULT_THRESHOLD,
    workers: int | None = None,
    progress: bool = False,
    pca_solver: str = "covariance_eigh",
) -> Path:
    """Render the table of ``method`` for every token of a tokenizer directory into ``out``."""
    from unicode_substrate.render import fonts as fontlib
    from unicode_substrate.table import write_table

    if pca_solver not in ("covariance_eigh", "full"):
        raise SubstrateError(f"--pca-solver must be covariance_eigh or full, not {pca_solver!r}")
    if method not in METHODS:
        raise SubstrateError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    on_collision = on_collision or ("report" if method == "glyph-paper" else "resolve")
    if on_collision not in ("error", "report", "resolve"):
        raise SubstrateError(f"--on-collision must be error, report or resolve, not {on_collision!r}")
    if Path(out).exists() and not force:
        raise SubstrateError(f"output directory {out} already exists (use --force to replace it)")
    surface = surface or ("raw" if method == "glyph-paper" else "decoded")
    raw, drawn, tok_manifest = tokenizer_tokens(tokenizer_dir, surface)
    stages = _Stages(progress)
    v = len(raw)
    params: dict = {"surface": surface, "seed": seed} if method in ("bit", "float", "random") else {"surface": surface}
    columns: dict = {"script": [token_script(t) for t in drawn], "chars": [len(t) for t in drawn]}
    if surface == "decoded":
        columns["drawn"] = drawn
    font_infos: list = []
    coverage: dict = {}
    pictures = None  # glyph methods: duplicate pictures before PCA (the recipe's "identical rows")

    if method == "glyph-paper":
        from unicode_substrate.render import paper

        if preset not in paper.PAPER_PRESETS:
            raise SubstrateError(f"unknown glyph-paper preset {preset!r} ({', '.join(paper.PAPER_PRESETS)})")
        p = paper.PAPER_PRESETS[preset]
        dim = p.dim if dim is None else dim
        _check_dim(dim, min(p.cell * p.cell, v), f"PCA of {p.cell}x{p.cell} glyphs over {v} tokens")
        font_infos = fontlib.resolve_fonts(fonts)[:1]  # the recipe draws with one font
        bits = paper.render_bits_fast(drawn, font_infos[0].path, p, workers=workers, progress=progress)
        stages.next("PCA")
        weight = paper.pca_l2(bits, dim, solver=pca_solver)
        params.update(preset=p.name, cell=p.cell, font_size=p.cell, easy_rotation=p.easy_rotation, easy_shift=p.easy_shift,
                      easy_noise=p.easy_noise, other_noise=p.other_noise, blur_radius=p.blur_radius, seed=42,
                      bit_order="polar-snake", pca=f"sklearn PCA svd_solver={pca_solver}, fitted on all rows (float32)", dim=dim)
        columns["ink_pixels"] = bits.sum(axis=1, dtype=np.int32)
        pictures = coll.exact_groups(bits)[0]
        # the recipe has one font and no fallback: say which tokens it could not draw
        cps = font_infos[0].codepoints
        names = ["missing" if any(ord(c) not in cps for c in t) else "ok" for t in drawn]
        columns["coverage"] = names
        miss = [i for i, n in enumerate(names) if n == "missing"]
        coverage = {"tokens": {"ok": v - len(miss), "missing": len(miss)}, "missing_examples": [[i, raw[i]] for i in miss[:20]]}
    elif method == "glyph":
        from unicode_substrate.render import glyph, paper

        dim = 1024 if dim is None else dim
        gp = glyph.GlyphParams(cell=32 if dim <= 1024 else 64)
        _check_dim(dim, min(gp.cell * gp.cell, v), f"PCA of {gp.cell}x{gp.cell} glyphs over {v} tokens")
        font_infos = fontlib.resolve_fonts(fonts)
        feats, cover = glyph.render_glyphs(drawn, font_infos, gp, workers=workers, progress=progress)
        stages.next("PCA")
        weight = paper.pca_l2(feats, dim, solver=pca_solver)
        pictures = coll.exact_groups(feats)[0]
        params.update(gp.describe(), dim=dim, pca=f"sklearn PCA svd_solver={pca_solver}, fitted on all rows (float32)")
        names = [glyph.COVERAGE_NAMES[int(c)] for c in cover]
        columns["coverage"] = names
        counts = {name: names.count(name) for name in glyph.COVERAGE_NAMES.values()}
        missing = [[i, raw[i]] for i in np.nonzero(cover == glyph.MISSING)[0][:20].tolist()]
        blank = [[i, raw[i]] for i in np.nonzero(cover == glyph.BLANK)[0][:20].tolist()]
        coverage = {"tokens": counts, "missing_examples": missing, "blank_examples": blank}
    else:
        from unicode_substrate.render.codes import code_table

        dim = 1024 if dim is None else dim
        weight = code_table(method, v, dim, seed)
        params.update(dim=dim, generator="numpy default_rng([seed, method_tag, dim]) (PCG64)")
        if method == "bit":
            params["bit_order"] = "bit 1 -> +1/sqrt(D), bit 0 -> -1/sqrt(D); D=16: token id, most significant bit first"

    # distinct +-1/sqrt(D) codes differ in >= 1 bit, so their cosine is <= 1 - 2/D: below the
    # threshold whenever D < 2 / (1 - threshold), and only exact duplicates need looking for
    strategy = "exact-only" if method == "bit" and dim < 2 / (1 - threshold) else "auto"
    params["near_duplicate_search"] = "analytic bound 1 - 2/D" if strategy == "exact-only" else "exact search"
    stages.next("collision check")
    report = coll.find_collisions(weight, threshold, strategy=strategy)
    resolution = None
    if report.total and on_collision == "error":
        raise SubstrateError(
            f"{report.duplicate_rows} rows duplicate another row and {len(report.near_pairs)} pairs have cosine > {threshold} "
            f"(use --on-collision report or resolve)"
        )
    before = report.summary(raw)
    if report.total and on_collision == "resolve":
        weight, res = coll.resolve_collisions(weight, threshold, seed=seed)
        resolution = res["info"]
        resolved = np.zeros(v, dtype=bool)
        resolved[res["moved"]] = True
        columns["resolved"] = resolved
        report = res["report"]  # the clean check resolve_collisions ended on
    stats = {"on_collision": on_collision, "before": before, "after": report.summary(raw), "resolution": resolution}
    if pictures is not None:
        stats["identical_pictures"] = {"rows": sum(map(len, pictures)), "groups": len(pictures)}
    fields = {
        "method": method,
        "parameters": params,
        "fonts": [f.describe() for f in font_infos],
        "libraries": fontlib.library_versions(),
        "tokenizer_manifest_sha256": manifest_sha256(tokenizer_dir),
        "tokenizer_layout": tok_manifest.get("layout"),
        "collisions": stats,
        "coverage": coverage,
    }
    stages.next("write")
    path = write_table(out, weight, raw, fields, columns, force=force)
    stages.close()
    if preview is not None:
        from unicode_substrate.render.preview import write_atlas

        write_atlas(path, preview)
    return path


def import_table(pt_path: str | Path, tokenizer_dir: str | Path, out: str | Path, force: bool = False,
                 threshold: float = coll.DEFAULT_THRESHOLD) -> Path:
    """Import a torch tensor file (e.g. the paper's normalized_embeddings_weights.pt) as a verified table."""
    import torch

    from unicode_substrate.table import write_table

    pt = Path(pt_path)
    if not pt.is_file():
        raise SubstrateError(f"{pt} does not exist")
    if Path(out).exists() and not force:
        raise SubstrateError(f"output directory {out} already exists (use --force to replace it)")
    try:
        obj = torch.load(pt, map_location="cpu", weights_only=True)  # never unpickle arbitrary objects
    except Exception as e:
        raise SubstrateError(f"{pt} is not a plain tensor file loadable with weights_only=True ({type(e).__name__})") from None
    if isinstance(obj, dict):
        tensors = {k: t for k, t in obj.items() if isinstance(t, torch.Tensor) and t.ndim == 2}
        if len(tensors) != 1:
            raise SubstrateError(f"{pt} holds {len(tensors)} 2-D tensors; expected exactly one")
        obj = next(iter(tensors.values()))
    if not isinstance(obj, torch.Tensor) or obj.ndim != 2 or not obj.is_floating_point():
        raise SubstrateError(f"{pt} does not hold a 2-D floating-point tensor")
    raw, _, tok_manifest = tokenizer_tokens(tokenizer_dir)
    if obj.shape[0] != len(raw):
        raise SubstrateError(f"{pt} has {obj.shape[0]} rows but the tokenizer has {len(raw)} tokens")
    weight = obj.detach().to(torch.float32).contiguous().numpy()
    report = coll.find_collisions(weight, threshold)
    fields = {
        "method": "imported",
        "parameters": {"source_file": pt.name, "source_sha256": sha256_file(pt), "source_dtype": str(obj.dtype).replace("torch.", "")},
        "fonts": [],
        "tokenizer_manifest_sha256": manifest_sha256(tokenizer_dir),
        "tokenizer_layout": tok_manifest.get("layout"),
        "collisions": {"on_collision": "report", "before": report.summary(raw), "after": report.summary(raw), "resolution": None},
        "coverage": {},
    }
    columns = {"script": [token_script(t) for t in raw], "chars": [len(t) for t in raw]}
    return write_table(out, weight, raw, fields, columns, force=force)


def describe_table(path: str | Path) -> str:
    """A few console lines about a written table: shape, method, collisions, coverage."""
    m = read_manifest(path)
    c = m.get("collisions", {})
    b, a = c.get("before", {}), c.get("after", {})
    lines = [f"table: {m['vocab_size']} x {m['dim']} float32, method {m['method']}"]
    if c.get("identical_pictures"):
        p = c["identical_pictures"]
        lines.append(f"identical glyph pictures: {p['rows']} rows in {p['groups']} groups")
    lines += [
        f"collisions (cosine > {b.get('near_threshold')}): {b.get('exact_duplicate_rows', 0)} rows duplicate another row "
        f"in {b.get('exact_duplicate_groups', 0)} groups, {b.get('near_duplicate_pairs', 0)} near pairs",
    ]
    if b.get("exact_examples"):
        lines.append("  e.g. " + "; ".join(" = ".join(json.dumps(x[1]) if isinstance(x, list) else str(x) for x in g) for g in b["exact_examples"][:3]))
    if c.get("resolution"):
        r = c["resolution"]
        lines.append(f"resolved: {r['resolved_rows']} rows moved (cosine to original >= {r['min_cosine_to_original']:.4f}); "
                     f"now {a.get('exact_duplicate_rows', 0)} duplicate rows, {a.get('near_duplicate_pairs', 0)} near pairs")
    cov = m.get("coverage", {}).get("tokens")
    if cov:
        lines.append("coverage: " + ", ".join(f"{k} {v}" for k, v in cov.items()))
    return "\n".join(lines)
