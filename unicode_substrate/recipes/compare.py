"""Train variants on identical data, seed, schedule and steps; write ``report.md`` and ``loss_curves.png``."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from unicode_substrate.artifacts import check_not_input, output_lock
from unicode_substrate.errors import SubstrateError
from unicode_substrate.recipes.report import COMPARE_JSON, LOSS_CURVES_PNG, REPORT_MD, write_compare_report
from unicode_substrate.train.config import TrainConfig
from unicode_substrate.run import Run
from unicode_substrate.train.trainer import train


@dataclass(frozen=True)
class Variant:
    """One arm of a comparison: a name, a preset and (for frozen presets) a table directory."""

    name: str
    preset: str
    table: Path | None = None


def parse_variant(spec: str) -> Variant:
    """``name=preset`` or ``name=preset:table_dir`` (e.g. ``glyph=tiny-glyph:artifacts/table``)."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise SubstrateError(f"variant {spec!r} is not name=preset[:table]")
    if not name.replace("-", "").replace("_", "").isalnum():
        raise SubstrateError(f"variant name {name!r} may hold only letters, digits, - and _")
    preset, _, table = rest.partition(":")
    return Variant(name, preset, Path(table) if table else None)


# What a comparison folder holds; anything else in it means the folder is not ours to fill.
OUTPUTS = ("runs", REPORT_MD, LOSS_CURVES_PNG, COMPARE_JSON)


def check_variants(variants: list[Variant], data: str | Path, cfg: TrainConfig) -> None:
    """Refuse any variant that training would refuse (preset, table, width, tokenizer, context), before the first trains."""
    from unicode_substrate.train.data import TokenData
    from unicode_substrate.train.inputs import check_inputs

    d = TokenData.load(data)
    for v in variants:
        try:
            check_inputs(cfg.replace(preset=v.preset), d, v.table)
        except SubstrateError as e:
            raise SubstrateError(f"variant {v.name} ({v.preset}): {e}; nothing was trained") from None


def _check_out(out: Path, force: bool) -> None:
    """A finished comparison is replaced only with ``force``; an unfinished one (runs, no report) is simply retrained."""
    if not out.exists() or force or not any(out.iterdir()):
        return
    if (out / REPORT_MD).exists():
        raise SubstrateError(f"{out} already holds a finished comparison (use --force to replace its runs and report)")
    other = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
    if other:
        raise SubstrateError(f"{out} is not empty and holds no comparison ({', '.join(other[:3])}); use --force to write into it anyway")


def compare(variants: list[Variant], data: str | Path, out: str | Path, cfg: TrainConfig,
            force: bool = False, progress: bool = True, eval_tasks: str | list[str] | None = None,
            eval_data_dir: str | Path | None = None, eval_options: dict | None = None) -> Path:
    """Train every variant with ``cfg`` (only the preset differs) under ``out/runs/``; write the report.

    With ``eval_tasks`` and ``eval_data_dir`` each run is also evaluated on those benchmarks
    (``unicode_substrate.eval``, options ``eval_options``) into ``out/evals/NAME`` and the report
    gains a benchmark table."""
    out = Path(out)
    if len(variants) < 2:
        raise SubstrateError("compare needs at least two variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise SubstrateError(f"variant names must be distinct, got {', '.join(names)}")
    check_not_input(out, [data, eval_data_dir, *(v.table for v in variants)])  # even with force
    with output_lock(out, whole_job=True):  # one writer of a comparison for its whole length
        return _compare(variants, data, out, cfg, force, progress, eval_tasks, eval_data_dir, eval_options)


def _compare(variants, data, out: Path, cfg: TrainConfig, force: bool, progress: bool, eval_tasks, eval_data_dir,
             eval_options) -> Path:
    _check_out(out, force)
    check_variants(variants, data, cfg)
    if eval_tasks:
        from unicode_substrate.eval.runner import check_benchmarks

        check_benchmarks(eval_tasks, eval_data_dir, **{k: v for k, v in (eval_options or {}).items()
                                                       if k in ("seed", "limit")})  # bad files fail before training
    results = []
    for k, v in enumerate(variants):
        if progress:
            print(f"variant {k + 1}/{len(variants)}: {v.name} ({v.preset}{', table ' + str(v.table) if v.table else ''})",
                  file=sys.stderr, flush=True)
        run = train(cfg.replace(preset=v.preset), data, out / "runs" / v.name, table=v.table, force=True,
                    progress=progress, label=f"{v.name} ({k + 1}/{len(variants)})")
        results.append({"variant": v.name, "preset": v.preset, "table": str(v.table) if v.table else None,
                        **(run.summary() or {}), "metrics": run.metrics()})
        if eval_tasks:
            from unicode_substrate.eval.runner import evaluate, headline

            ev = evaluate(out / "evals" / v.name, eval_tasks, eval_data_dir, run=run.path, force=True,
                          progress=progress, **(eval_options or {}))
            results[-1]["eval"] = headline(ev)
    write_compare_report(out, results, cfg, data)
    return out / REPORT_MD
