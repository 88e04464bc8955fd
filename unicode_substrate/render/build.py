"""``render_table`` and ``import_table``: from a tokenizer directory to a verified table directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from unicode_substrate.artifacts import manifest_sha256, read_manifest, sha256_file
from unicode_substrate import choices
from unicode_substrate.errors import SubstrateError
from unicode_substrate.progress import Stages
from unicode_substrate.render import collisions as coll
from unicode_substrate.render.methods import Job, get_method
from unicode_substrate.render.scripts import token_script

Surface = Literal["raw", "decoded"]


def tokenizer_tokens(tokenizer_dir: str | Path, surface: Surface = "raw") -> tuple[list[str], list[str], dict]:
    """(raw token strings in id order, strings to draw, tokenizer manifest) of a verified tokenizer dir.

    ``surface="decoded"`` draws what the token decodes to with the tokenizer's own decoder
    (a byte-level ``Ġpainted`` becomes `` painted``); a token that decodes to a broken byte
    sequence (U+FFFD) keeps its raw key so distinct tokens stay distinct.
    """
    from unicode_substrate.tokenizer import Tokenizer

    d = Path(tokenizer_dir)
    tok = Tokenizer.load(d, native=False)  # verifies the manifest; nothing here encodes
    raw = tok.tokens()
    gaps = sum(tok.token_to_id(s) != i for i, s in enumerate(raw))  # fillers where the vocabulary skips ids
    if gaps:
        raise SubstrateError(f"{d}: token ids are not contiguous ({len(raw) - gaps} tokens, largest id {len(raw) - 1})")
    if surface == "raw":
        return raw, raw, tok.manifest
    if surface not in choices.SURFACES:
        raise SubstrateError(f"unknown surface {surface!r} ({' or '.join(choices.SURFACES)})")
    try:
        decoder = tok._hf_tokenizer().decoder  # the tokenizer's own Hugging Face decoder
    except Exception as e:
        raise SubstrateError(f"{d}/tokenizer.json cannot be read by the tokenizers library: {e}") from None
    if decoder is None:
        return raw, raw, tok.manifest
    drawn = []
    for s in raw:
        try:
            text = decoder.decode([s])
        except Exception:
            text = s
        drawn.append(s if ("\ufffd" in text and "\ufffd" not in s) or not text else text)
    return raw, drawn, tok.manifest


def render_table(
    tokenizer_dir: str | Path,
    out: str | Path,
    method: str = choices.DEFAULT_TABLE_METHOD,
    dim: int | None = None,
    fonts: Sequence[str | Path] | None = None,
    on_collision: str | None = None,
    surface: Surface | None = None,
    force: bool = False,
    preview: str | Path | None = None,
    preset: str = choices.DEFAULT_RENDER_PRESET,
    seed: int = 0,
    threshold: float = choices.COLLISION_THRESHOLD,
    workers: int | None = None,
    progress: bool = False,
    pca_solver: str = choices.DEFAULT_PCA_SOLVER,
) -> Path:
    """Render the table of ``method`` for every token of a tokenizer directory into ``out``."""
    from unicode_substrate.render import fonts as fontlib
    from unicode_substrate.table import write_table

    if pca_solver not in choices.PCA_SOLVERS:
        raise SubstrateError(f"the PCA solver must be {' or '.join(choices.PCA_SOLVERS)}, not {pca_solver!r}", param="pca_solver")
    m = get_method(method)
    on_collision = on_collision or m.on_collision
    if on_collision not in choices.ON_COLLISION:
        raise SubstrateError(f"the collision policy must be {', '.join(choices.ON_COLLISION[:-1])} or {choices.ON_COLLISION[-1]}, not {on_collision!r}",
                              param="on_collision")
    from unicode_substrate.artifacts import check_output, check_output_file

    check_output(out, force=force, kind="table", inputs=[tokenizer_dir, *(fonts or ())])  # never replaces an input
    if preview is not None:  # refused now, not after the rendering
        check_output_file(preview, inputs=[tokenizer_dir, *(fonts or ())], force=force)
    surface = surface or m.surface
    raw, drawn, tok_manifest = tokenizer_tokens(tokenizer_dir, surface)
    stages = Stages("table", progress)
    try:
        v = len(raw)
        columns: dict = {"script": [token_script(t) for t in drawn], "chars": [len(t) for t in drawn]}
        if surface == "decoded":
            columns["drawn"] = drawn
        job = Job(raw, drawn, dim, fonts=fonts, preset=preset, seed=seed, workers=workers, progress=progress,
                  pca_solver=pca_solver, stage=stages.next)
        rows = m.rows(job)
        weight, dim = rows.weight, rows.weight.shape[1]
        params: dict = {"surface": surface, "seed": seed} if m.seeded else {"surface": surface}
        params.update(rows.params)
        columns.update(rows.columns)

        # distinct +-1/sqrt(D) codes differ in >= 1 bit, so their cosine is <= 1 - 2/D: below the
        # threshold whenever D < 2 / (1 - threshold), and only exact duplicates need looking for
        strategy = "exact-only" if m.distinct_codes and dim < 2 / (1 - threshold) else "auto"
        params["near_duplicate_search"] = "analytic bound 1 - 2/D" if strategy == "exact-only" else "exact search"

        def check(weight: np.ndarray) -> tuple[np.ndarray, dict]:
            """The collision check and what ``on_collision`` does about it: (final table, manifest statistics)."""
            report = coll.find_collisions(weight, threshold, strategy=strategy)
            resolution = None
            if report.total and on_collision == "error":
                raise SubstrateError(
                    f"{report.duplicate_rows} rows duplicate another row and {len(report.near_pairs)} pairs have cosine > {threshold} "
                    "(the collision policy report keeps them, resolve moves them apart)", param="on_collision")
            before = report.summary(raw)
            if report.total and on_collision == "resolve":
                weight, res = coll.resolve_collisions(weight, threshold, seed=seed)
                resolution = res["info"]
                resolved = np.zeros(v, dtype=bool)
                resolved[res["moved"]] = True
                columns["resolved"] = resolved
                report = res["report"]  # the clean check resolve_collisions ended on
            stats = {"on_collision": on_collision, "before": before, "after": report.summary(raw), "resolution": resolution}
            if rows.pictures is not None:
                stats["identical_pictures"] = {"rows": sum(map(len, rows.pictures)), "groups": len(rows.pictures)}
            return weight, stats

        fields = {
            "method": method,
            "parameters": params,
            "fonts": [f.describe() for f in rows.fonts],
            "libraries": fontlib.library_versions(),
            "tokenizer_manifest_sha256": manifest_sha256(tokenizer_dir),
            "tokenizer_layout": tok_manifest.get("layout"),
            "coverage": rows.coverage,
        }
        if on_collision == "resolve":  # the check may change rows: it comes first
            stages.next("collision check")
            weight, fields["collisions"] = check(weight)
            stages.next("write")
            path = write_table(out, weight, raw, fields, columns, force=force)
        else:  # the rows are final: check them while the files are written
            stages.next("collision check and write")
            path = write_table(out, weight, raw, fields, columns, force=force, later=lambda: {"collisions": check(weight)[1]})
    finally:
        stages.close()  # the heartbeat stops whatever happened
    if preview is not None:
        from unicode_substrate.render.preview import write_atlas

        write_atlas(path, preview, force=force)
    return path


def import_table(pt_path: str | Path, tokenizer_dir: str | Path, out: str | Path, force: bool = False,
                 threshold: float = choices.COLLISION_THRESHOLD) -> Path:
    """Import a torch tensor file (e.g. the paper's normalized_embeddings_weights.pt) as a verified table."""
    import torch

    from unicode_substrate.table import write_table

    pt = Path(pt_path)
    if not pt.is_file():
        raise SubstrateError(f"{pt} does not exist")
    from unicode_substrate.artifacts import check_output

    check_output(out, force=force, kind="table", inputs=[pt, tokenizer_dir])  # never replaces an input
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
    if obj.layout != torch.strided:
        raise SubstrateError(f"{pt} holds a {str(obj.layout).replace('torch.', '')} tensor; a table is a dense one")
    if obj.device.type == "meta":
        raise SubstrateError(f"{pt} holds a meta tensor (a shape without values)")
    if obj.shape[1] < 2:  # one column: every row points one of two ways, so cosine cannot tell tokens apart
        raise SubstrateError(f"{pt} is {obj.shape[1]} column(s) wide; a table needs at least 2 to tell tokens apart")
    raw, _, tok_manifest = tokenizer_tokens(tokenizer_dir)
    if obj.shape[0] != len(raw):
        raise SubstrateError(f"{pt} has {obj.shape[0]} rows but the tokenizer has {len(raw)} tokens")
    weight = obj.detach().to(torch.float32).contiguous().numpy()
    bad = ~np.isfinite(weight).all(axis=1)
    if bad.any():  # checked before the collision search, which would call NaN rows duplicates
        raise SubstrateError(f"{pt} has {int(bad.sum())} rows with NaN or infinite values (the first is row {int(np.argmax(bad))}); a table must be finite")
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
    """A few console lines about a written table, in plain words: shape, identical pictures, collisions, what resolve did, coverage."""
    import math

    m = read_manifest(path)
    c = m.get("collisions", {})
    b, a = c.get("before", {}), c.get("after", {})
    lines = [f"table: {m['vocab_size']:,} rows (one per token id) x {m['dim']} float32, method {m['method']}"]
    if c.get("identical_pictures"):
        p = c["identical_pictures"]
        lines.append(f"identical pictures: {p['rows']:,} tokens in {p['groups']:,} groups are drawn exactly like another token "
                     "(homoglyphs such as Latin A and Cyrillic A, characters that draw nothing)")
    dup, near = b.get("exact_duplicate_rows", 0), b.get("near_duplicate_pairs", 0)
    if not (dup or near):
        lines.append(f"collisions: none (no row equals another, no two rows have cosine above {b.get('near_threshold')})")
    else:
            lines.append(f"collisions found: {dup:,} duplicate rows (equal to another token's row, in {b.get('exact_duplicate_groups', 0):,} groups) "
                     f"and {near:,} near pairs (two rows with cosine above {b.get('near_threshold')}); "
                     "the model could not tell such tokens apart")
    if b.get("exact_examples"):
        lines.append("  e.g. " + "; ".join(" = ".join(json.dumps(x[1]) if isinstance(x, list) else str(x) for x in g) for g in b["exact_examples"][:3]))
    r = c.get("resolution")
    if r:
        angle = math.degrees(math.acos(max(-1.0, min(1.0, r["min_cosine_to_original"]))))
        lines.append(f"resolve: moved {r['resolved_rows']:,} rows to nearby unique rows; each stays within {angle:.1f} degrees of its "
                     f"original (cosine >= {r['min_cosine_to_original']:.4f}), so similar glyphs stay similar; "
                     f"left: {a.get('exact_duplicate_rows', 0):,} duplicate rows, {a.get('near_duplicate_pairs', 0):,} near pairs")
    elif dup or near:
        lines.append(f"left as they are (on_collision {c.get('on_collision')}): the colliding tokens share one input row")
    cov = m.get("coverage", {}).get("tokens")
    if cov:
        words = {"ok": "drawn by the first font", "fallback": "by a fallback font", "picture": "as a control picture",
                 "blank": "blank (draw nothing)", "missing": "missing from every font (a code-point box)"}
        lines.append("coverage: " + ", ".join(f"{v:,} {words.get(k, k)}" for k, v in cov.items()))
    return "\n".join(lines)
