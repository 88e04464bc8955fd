"""Train variants on identical data, seeds, schedule and steps; write ``report.md`` and ``loss_curves.png``.

With several seeds every variant is trained once per seed (``runs/NAME/seed-S``). A seed sets the
initialisation and the batch order together, and batches are a pure function of (seed, step), so
the runs of two variants with the same seed saw the same batches: the report pairs them (mean
difference, its 95 % interval and a paired t-test; ``experiments.stats``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from unicode_substrate.artifacts import check_not_input, check_resumable, output_lock
from unicode_substrate.errors import SubstrateError
from unicode_substrate.options import RANGES
from unicode_substrate.schema import check_name, seed_dir
from unicode_substrate.experiments.report import COMPARE_JSON, LOSS_CURVES_PNG, REPORT_MD, load_average, write_compare_report
from unicode_substrate.train.config import TrainConfig
from unicode_substrate.run import Run
from unicode_substrate.train.trainer import train


@dataclass(frozen=True)
class Variant:
    """One arm of a comparison: a name, a preset and (for frozen presets) a table directory."""

    name: str
    preset: str
    table: Path | None = None
    model: dict | None = None  # model fields changed for this variant only (a study's codes of another width)

    def __post_init__(self) -> None:
        check_name(self.name, "variant name")  # it names the variant's folder under runs/ (and evals/)

    def config(self, cfg: TrainConfig) -> TrainConfig:
        """``cfg`` with this variant's preset (and model changes)."""
        if self.model:
            return cfg.replace(preset=self.preset, model={**(cfg.model or {}), **self.model})
        return cfg.replace(preset=self.preset)


def parse_variant(spec: str) -> Variant:
    """``name=preset`` or ``name=preset:table_dir`` (e.g. ``glyph=tiny-glyph:artifacts/table``)."""
    name, sep, rest = spec.partition("=")
    if not sep or not rest:
        raise SubstrateError(f"variant {spec!r} is not name=preset[:table]")
    preset, _, table = rest.partition(":")
    return Variant(name, preset, Path(table) if table else None)


# What a comparison folder holds; anything else in it means the folder is not ours to fill.
EVALS_DIR = "evals"  # each run's benchmark results, when the comparison evaluates
OUTPUTS = ("runs", EVALS_DIR, REPORT_MD, LOSS_CURVES_PNG, COMPARE_JSON)


def parse_seeds(text: str | list | tuple | None) -> list[int] | None:
    """``"1,2,3"`` (or a list of integers) as distinct non-negative seeds in the order given; None stays None."""
    if text is None:
        return None
    if not isinstance(text, (str, list, tuple)):
        raise SubstrateError(f"seeds must be a list of integers like [1, 2, 3] or text like 1,2,3, got {text!r}", param="seeds")
    items = [str(x).strip() for x in text.split(",")] if isinstance(text, str) else list(text)
    seeds = []
    for item in items:
        # ASCII digits only: "²" passes str.isdigit() and then fails in int()
        if isinstance(item, bool) or not (isinstance(item, int) or (isinstance(item, str) and item.isascii() and item.isdigit())):
            raise SubstrateError(f"seeds must be non-negative integers like 1,2,3, got {item!r}", param="seeds")
        seed = int(item)
        if not RANGES["seed"].contains(seed):
            raise SubstrateError(f"seeds must each be {RANGES['seed'].describe(seed)}, got {seed}", param="seeds")
        seeds.append(seed)
    if not seeds:
        raise SubstrateError("seeds is empty; give at least one, like 1,2,3", param="seeds")
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise SubstrateError(f"seeds must be distinct, {', '.join(map(str, dup))} given twice", param="seeds")
    return seeds


def run_dir(out: Path, name: str, seed: int, seeds: list[int]) -> Path:
    """Where a variant's run for ``seed`` lives: ``runs/NAME`` for one seed (as before), else ``runs/NAME/seed-S``."""
    return out / "runs" / name if len(seeds) == 1 else out / "runs" / name / seed_dir(seed)


def check_variants(variants: list[Variant], data: str | Path, cfg: TrainConfig) -> dict[str, dict]:
    """Refuse any variant that training would refuse (preset, table, width, tokenizer, context), before the first trains.

    Returns each variant's expected run identity (model and input hashes), for recognising finished runs."""
    from unicode_substrate.run import run_identity
    from unicode_substrate.tokens import TokenData
    from unicode_substrate.train.inputs import check_inputs

    d = TokenData.load(data)
    identities = {}
    for v in variants:
        try:
            inputs = check_inputs(v.config(cfg), d, v.table)
        except SubstrateError as e:
            raise SubstrateError(f"variant {v.name} ({v.preset}): {e}; nothing was trained") from None
        identities[v.name] = run_identity(inputs.model, d.manifest_sha256, inputs.table_sha256, d.tokenizer_sha256)
    return identities


def _no_device(train: dict) -> dict:
    return {k: v for k, v in train.items() if k != "device"}


def finished_run(path: Path, cfg: TrainConfig, identity: dict) -> Run | None:
    """The run in ``path`` when it finished training exactly ``cfg`` on these inputs; None when there is none.

    A run that holds something else (another configuration, model or input) is an error, never reused."""
    from unicode_substrate.run import RUN_FILE

    if not (path / RUN_FILE).is_file():
        return None
    run = Run.load(path)
    if run.identity != identity or _no_device(run.record.train or {}) != _no_device(cfg.to_dict()):
        raise SubstrateError(f"{path} holds a run of another configuration or input; force trains it again", param="force")
    return run if run.unfinished(cfg.steps) is None else None  # an edited or torn run is trained again


def _check_out(out: Path, force: bool, resume: bool) -> None:
    """The output rule (:func:`check_resumable`) for a comparison, which has no record until its report:
    a folder holding only a comparison's outputs is one. A finished comparison is replaced only with
    ``force`` or continued with ``resume``; an unfinished one (runs, no report) is simply trained on."""
    check_resumable(out, "comparison", "comparison", force=force or resume or not (out / REPORT_MD).exists(), resume=False,
                    ours=lambda o: all(p.name in OUTPUTS for p in o.iterdir()))


def compare(variants: list[Variant], data: str | Path, out: str | Path, cfg: TrainConfig,
            force: bool = False, progress: bool = True, eval_tasks: str | list[str] | None = None,
            eval_data_dir: str | Path | None = None, eval_options: dict | None = None,
            seeds: list[int] | None = None, resume: bool = False) -> Path:
    """Train every variant with ``cfg`` (only the preset differs) once per seed under ``out/runs/``; write the report.

    ``seeds`` defaults to ``[cfg.seed]`` (one run per variant, as before). With ``resume`` runs that
    already finished this very configuration are kept (their identity is checked), the rest are
    trained. With ``eval_tasks`` and ``eval_data_dir`` each run is also evaluated on those benchmarks
    (``unicode_substrate.eval``, options ``eval_options``) into ``out/evals/NAME[/seed-S]`` and the
    report gains a benchmark table."""
    out = Path(out)
    if len(variants) < 2:
        raise SubstrateError("compare needs at least two variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise SubstrateError(f"variant names must be distinct, got {', '.join(names)}")
    seeds = parse_seeds(seeds) or [cfg.seed]
    check_not_input(out, [data, eval_data_dir, *(v.table for v in variants)])  # even with force
    with output_lock(out, whole_job=True):  # one writer of a comparison for its whole length
        return _compare(variants, data, out, cfg, force, progress, eval_tasks, eval_data_dir, eval_options, seeds, resume)


def _compare(variants, data, out: Path, cfg: TrainConfig, force: bool, progress: bool, eval_tasks, eval_data_dir,
             eval_options, seeds: list[int], resume: bool) -> Path:
    _check_out(out, force, resume)
    identities = check_variants(variants, data, cfg)
    if eval_tasks:
        from unicode_substrate.eval.runner import check_benchmarks

        check_benchmarks(eval_tasks, eval_data_dir, **{k: v for k, v in (eval_options or {}).items()
                                                       if k in ("seed", "limit")})  # bad files fail before training
    load_start = load_average()
    results = []
    jobs = [(seed, k, v) for seed in seeds for k, v in enumerate(variants)]
    for j, (seed, k, v) in enumerate(jobs):
        scfg = v.config(cfg).replace(seed=seed)
        label = f"{v.name}, seed {seed} ({j + 1}/{len(jobs)})" if len(seeds) > 1 else f"{v.name} ({k + 1}/{len(variants)})"
        path = run_dir(out, v.name, seed, seeds)
        run = finished_run(path, scfg, identities[v.name]) if resume else None
        kept = run is not None
        if progress:
            what = "kept (finished)" if run is not None else "training"
            print(f"run {j + 1}/{len(jobs)}: {v.name} ({v.preset}{', table ' + str(v.table) if v.table else ''})"
                  f"{f', seed {seed}' if len(seeds) > 1 else ''}: {what}", file=sys.stderr, flush=True)
        if run is None:
            run = train(scfg, data, path, table=v.table, force=True, progress=progress, label=label)
        results.append({"variant": v.name, "seed": seed, "preset": v.preset, "table": str(v.table) if v.table else None,
                        **(run.summary() or {}), "metrics": run.metrics()})
        if eval_tasks:
            from unicode_substrate.eval.runner import evaluate, headline

            ev_dir = out / EVALS_DIR / v.name if len(seeds) == 1 else out / EVALS_DIR / v.name / seed_dir(seed)
            if not (kept and (ev_dir / "results.json").is_file()):
                evaluate(ev_dir, eval_tasks, eval_data_dir, run=run.path, force=True, progress=progress,
                         **{**(eval_options or {}), **({"seed": seed} if len(seeds) > 1 else {})})
            results[-1]["eval"] = headline(ev_dir)
    write_compare_report(out, results, cfg, data, seeds=seeds, load=(load_start, load_average()))
    return out / REPORT_MD
