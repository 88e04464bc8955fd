"""A study of ``kind = "fuse"``: two experts on different corpora, fused by mean and by adapter, against each expert.

Per seed ``S`` (under ``STUDY/fuse/runs/``):

* ``expert-a/seed-S`` and ``expert-b/seed-S``: the expert preset trained on data ``a`` and on data
  ``b`` with the same options and seed (the same initialisation; each draws its batches from its own
  corpus);
* ``fused-mean/seed-S``: ``substrate fuse`` of the two, the mean of their logits (no training);
* ``fused-adapter-init/seed-S``: the fusion with the per-token adapter (``--adapter``), which starts
  as exactly the mean, and ``fused-adapter/seed-S``: that fusion trained further on data ``tune``
  (``train --init``, only the adapter trains), for ``[fuse] tune`` steps.

Every model of the table is scored on the validation split of ``a`` and of ``b`` the way training
validates (``eval/data_score.py``: whole documents, non-overlapping windows, bits per byte of the
UTF-8 text), on the first ``eval_tokens`` tokens of each (all of it when 0). ``results.md`` gives
each model's bits per byte on ``a``, on ``b`` and their mean, with 95 % intervals over seeds, and
the paired differences of every fusion against each expert and of the two fusions.

Resumable like the other kinds: an expert whose identity and training configuration match and that
reached its last step is kept; a fusion is kept when it was made from the very checkpoints of the
experts now there; a tuned adapter is kept when it started from the adapter fusion now there and
finished the same configuration. Anything else is made again.
"""

from __future__ import annotations

import sys
from pathlib import Path

from unicode_substrate.artifacts import atomic_write_bytes, canonical_json, manifest_sha256
from unicode_substrate.errors import SubstrateError
from unicode_substrate.schema import seed_dir
from unicode_substrate.experiments.compare import Variant, check_variants, finished_run, _no_device
from unicode_substrate.run import RUN_FILE, Run

DATA_NAMES = ("a", "b", "tune")
FUSE_KEYS = {"preset", "table", "model", "tune"}
MODELS = ("expert-a", "expert-b", "fused-mean", "fused-adapter")
METRIC_A, METRIC_B, METRIC_MEAN = "val bits/byte (a)", "val bits/byte (b)", "val bits/byte (mean)"
PAIRS = (("fused-mean", "expert-a"), ("fused-mean", "expert-b"), ("fused-adapter", "expert-a"),
         ("fused-adapter", "expert-b"), ("fused-adapter", "fused-mean"))
SCORES_JSON = "scores.json"
REPORT_MD = "report.md"


def check_fuse_study(study: dict, where: str, tables: dict) -> None:
    """The parts of a fuse study: ``[data.a]``, ``[data.b]``, ``[data.tune]`` and ``[fuse]``."""
    fuse = study["fuse"]  # its keys checked by the study loader
    if "preset" not in fuse:
        raise SubstrateError(f"{where}: fuse needs preset (the experts' preset)")
    if fuse.get("table") is not None and fuse["table"] not in tables:
        raise SubstrateError(f"{where}: fuse names table {fuse['table']!r}, which [tables] does not define")
    tune = fuse.get("tune")
    if not isinstance(tune, dict) or not isinstance(tune.get("steps"), int) or isinstance(tune.get("steps"), bool) \
            or tune["steps"] < 1:
        raise SubstrateError(f"{where}: fuse.tune must be a table of training options with steps of at least 1 "
                             "(the adapter's tuning on [data.tune])")
    for key in ("variants", "grow", "eval"):
        if key in study:
            raise SubstrateError(f"{where}: [{key}] does not belong to kind = \"fuse\"")


def _seed_dir(out: Path, name: str, seed: int) -> Path:
    return out / "runs" / name / seed_dir(seed)


def _expert_shas(experts: list[Run]) -> list[str]:
    return [manifest_sha256(r.checkpoint()) for r in experts]


def _fused(experts: list[Run], path: Path, adapter: bool, table, progress: bool) -> Run:
    """The fusion in ``path`` when it was made from these experts' checkpoints, else made now."""
    from unicode_substrate.experiments.fuse import fuse

    if (path / RUN_FILE).is_file():
        run = Run.load(path)
        made = [e.get("checkpoint_sha256") for e in (run.record.sections.get("fuse") or {}).get("experts", [])]
        if run.identity.get("adapter") == adapter and made == _expert_shas(experts) and run.unfinished() is None:
            return run
    if progress:
        print(f"study: fusing {path}", file=sys.stderr, flush=True)
    fuse([e.path for e in experts], path, adapter=adapter, table=table, force=True)
    return Run.load(path)


def _tuned(init: Run, cfg, data: Path, path: Path, table, progress: bool, label: str) -> Run:
    """The adapter fusion trained further: kept when it started from ``init`` as it is and finished ``cfg``."""
    from unicode_substrate.experiments import compare as cmp
    from unicode_substrate.train.init import hooks_for_init, load_init

    if (path / RUN_FILE).is_file():
        run = Run.load(path)
        want_cfg, _ = hooks_for_init(init.path, cfg, data=data)
        done = run.unfinished(cfg.steps) is None
        same = (run.identity.get("init") == load_init(init.path).identity.get("init")
                and _no_device(run.record.train or {}) == _no_device(want_cfg.to_dict()))
        if done and same:
            return run
    return cmp.train(cfg, data, path, table=table, init=init.path, force=True, progress=progress, label=label)


def _score_device(cfg) -> str:
    if cfg.device != "auto":
        return cfg.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class _Scored:
    """What ``score_data`` needs of a run: its network's logits, context, device and tokenizer hash (no tokenizer loaded)."""

    def __init__(self, run: Run, device: str):
        from unicode_substrate.run import TOKENIZER_KEY

        self.model = run.model(device=device)
        self.context = run.model_config.context
        self.device = device
        self.description = {TOKENIZER_KEY: run.tokenizer_sha256}

    def _logits(self, ids):
        return self.model(ids)[0]


def _score(run: Run, data: Path, cfg, device: str) -> dict:
    from unicode_substrate.eval.data_score import score_data

    lm = _Scored(run, device)
    context = min(int(run.record.context or lm.context), lm.context)
    s = score_data(lm, data, context=context, batch_size=cfg.eval_batch_size, max_tokens=cfg.eval_tokens)
    return {k: s[k] for k in ("val_loss", "val_bpb", "val_tokens", "val_bytes", "data_manifest_sha256")}


def run_fuse(study: dict, cfg, data: dict[str, Path], tables: dict[str, Path], out: Path, force: bool,
             progress: bool) -> tuple[dict, list, list[str]]:
    """Train, fuse, tune and score every seed into ``out``; returns (summary, differences, model order)."""
    from unicode_substrate.experiments.stats import mean_interval, paired
    from unicode_substrate.tokens import TokenData

    fuse = study["fuse"]
    table = tables[fuse["table"]] if fuse.get("table") else None
    toks = {n: TokenData.load(d).tokenizer_sha256 for n, d in data.items()}
    if len(set(toks.values())) > 1:
        raise SubstrateError("the data of a fuse study must share one tokenizer (the experts share their vocabulary): "
                             + ", ".join(f"{n} {t[:12]}..." for n, t in toks.items()))
    expert = {n: Variant(f"expert-{n}", fuse["preset"], table, fuse.get("model")) for n in ("a", "b")}
    ident = {n: check_variants([v], data[n], cfg)[v.name] for n, v in expert.items()}  # refused before any training
    tune_opts = {k: v for k, v in fuse["tune"].items()}
    try:
        tune_base = cfg.replace(**tune_opts)
    except TypeError as e:
        raise SubstrateError(f"fuse.tune: {e}") from None
    device = _score_device(cfg)
    seeds = study["seeds"]
    rows: dict[str, dict[int, dict]] = {m: {} for m in MODELS}
    for j, seed in enumerate(seeds):
        experts = []
        for n in ("a", "b"):
            v, path = expert[n], _seed_dir(out, expert[n].name, seed)
            scfg = v.config(cfg).replace(seed=seed)
            run = None if force else finished_run(path, scfg, ident[n])
            if progress:
                print(f"seed {seed} ({j + 1}/{len(seeds)}): {v.name} on data {n}: {'kept (finished)' if run else 'training'}",
                      file=sys.stderr, flush=True)
            if run is None:
                from unicode_substrate.experiments import compare as cmp

                run = cmp.train(scfg, data[n], path, table=table, force=True, progress=progress,
                                label=f"{v.name}, seed {seed}")
            experts.append(run)
        mean = _fused(experts, _seed_dir(out, "fused-mean", seed), False, table, progress)
        init = _fused(experts, _seed_dir(out, "fused-adapter-init", seed), True, table, progress)
        tuned = _tuned(init, tune_base.replace(seed=seed), data["tune"], _seed_dir(out, "fused-adapter", seed), table,
                       progress, f"fused-adapter, seed {seed}")
        for name, run in zip(MODELS, (*experts, mean, tuned)):
            sa, sb = _score(run, data["a"], cfg, device), _score(run, data["b"], cfg, device)
            rows[name][seed] = {"run": str(run.path.relative_to(out)), "a": sa, "b": sb,
                                METRIC_A: sa["val_bpb"], METRIC_B: sb["val_bpb"], METRIC_MEAN: (sa["val_bpb"] + sb["val_bpb"]) / 2}
    metrics = (METRIC_A, METRIC_B, METRIC_MEAN)
    summary = {m: {k: mean_interval([rows[m][s][k] for s in seeds]).to_dict() for k in metrics} for m in MODELS}
    diffs = [{"a": a, "b": b, "metric": k, **paired([rows[a][s][k] for s in seeds], [rows[b][s][k] for s in seeds]).to_dict()}
             for a, b in PAIRS for k in metrics]
    atomic_write_bytes(out / SCORES_JSON, canonical_json({"seeds": seeds, "scores": {m: {str(s): r for s, r in v.items()}
                                                                                     for m, v in rows.items()}}))
    _write_report(out, rows, seeds)
    return summary, diffs, list(MODELS)


def _write_report(out: Path, rows: dict, seeds: list[int]) -> None:
    """``fuse/report.md``: every model's bits per byte on a and b, seed by seed."""
    lines = ["# Fusion runs, seed by seed", "",
             "Validation bits per byte on the validation split of data a and of data b (`eval/data_score.py`); "
             f"every number in [`{SCORES_JSON}`]({SCORES_JSON}).", "",
             "| model | seed | run | bits/byte on a | bits/byte on b | mean |", "|---|---:|---|---:|---:|---:|"]
    for m in MODELS:
        for s in seeds:
            r = rows[m][s]
            lines.append(f"| {m} | {s} | `{r['run']}` | {r[METRIC_A]:.4f} | {r[METRIC_B]:.4f} | {r[METRIC_MEAN]:.4f} |")
    atomic_write_bytes(out / REPORT_MD, ("\n".join(lines) + "\n").encode("utf-8"))
