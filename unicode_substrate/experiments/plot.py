"""``plot_runs``: the loss curves of one or more runs in one PNG, drawn as compare draws its own.

Reads each run's ``run.json`` and ``metrics.jsonl`` (the source of truth), so a run still
training can be plotted; a run that is not finished (``Run.unfinished``: still training, or stopped)
is labelled so in the legend, e.g. ``base (unfinished at step 122 of 200)``. Training loss and validation loss by step on the left, validation bits
per byte on the right; the tokens seen are a second x-axis on top when every run sees the same
tokens per step, and the x-axis itself when they differ (so runs of other batch sizes line up).
"""

from __future__ import annotations

import math
from pathlib import Path

from unicode_substrate.artifacts import check_output_file, output_lock
from unicode_substrate.errors import SubstrateError
from unicode_substrate.run import Run


def tokens_per_step(run: Run) -> int | None:
    """Training tokens per optimizer step, from the run record (sequences x context x processes)."""
    train, context = run.record.train, run.record.context
    if not train or not context:
        return None
    values = {"train.batch_size": train.get("batch_size"), "train.grad_accum": train.get("grad_accum"),
              "world_size": run.record.world_size or 1, "context": context}
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SubstrateError(f"{run.path / Run.RUN_FILE}: {key} = {str(v)[:40]!r} is not a positive whole number")
    return values["train.batch_size"] * values["train.grad_accum"] * values["world_size"] * values["context"]


def _finite(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def checked_metrics(run: Run) -> list[dict]:
    """The train and validation records a picture draws, each checked for the numbers it draws (a
    whole-number step, a finite loss; a validation record's loss and bits per byte): an edited or
    torn record is one line naming the file and the record."""
    out = []
    for k, m in enumerate(run.metrics(), 1):
        kind = m.get("type")
        if kind not in ("train", "val") or (kind == "val" and "val_loss" not in m and "val_bpb" not in m):
            continue  # other records; a validation step without a validation split
        keys = ("loss",) if kind == "train" else ("val_loss", "val_bpb")
        step = m.get("step")
        bad = None
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            bad = f"step = {str(step)[:40]!r} is not a whole number"
        else:
            bad = next((f"{key} = {str(m.get(key))[:40]!r} is not a finite number" for key in keys
                        if not _finite(m.get(key))), None)
        if bad is not None:
            raise SubstrateError(f"{run.path / Run.METRICS_FILE}: record {k} ({kind}): {bad}; "
                                 f"the file was edited or torn")
        out.append(m)
    return out


def _label(path: Path, taken: set[str]) -> str:
    """A run's legend name: its folder name, with its parent's added when two runs share a name."""
    name = path.name
    if name in taken:
        name = f"{path.parent.name}/{path.name}"
    taken.add(name)
    return name


def _by_tokens(metrics: list[dict], per_step: int) -> list[dict]:
    return [{**m, "step": m["step"] * per_step} for m in metrics]


def plot_runs(runs: list[str | Path], out: str | Path, force: bool = False) -> Path:
    """Write the loss curves of ``runs`` to the PNG file ``out``; returns ``out``."""
    from unicode_substrate.experiments.report import plot_loss_curves

    out = Path(out)
    if not runs:
        raise SubstrateError("plot needs at least one run")
    if out.suffix.lower() != ".png":
        raise SubstrateError(f"the picture {out} must be named .png", param="out")
    check_output_file(out, inputs=runs, force=force)  # not a run, nor inside one; --force replaces only a picture
    loaded = [Run.load(r) for r in runs]
    taken: set[str] = set()
    results = []
    for r in loaded:
        metrics = checked_metrics(r)
        if not metrics:
            raise SubstrateError(f"run {r.path} has no training metrics to plot (a fused run, or a run not yet started)")
        label = _label(r.path, taken) + Run.unfinished_label(r.unfinished())  # a run still training, or stopped
        results.append({"variant": label, "metrics": metrics, "tokens_per_step": tokens_per_step(r)})
    sizes = {res["tokens_per_step"] for res in results}
    with output_lock(out):  # one writer of the picture at a time
        if len(sizes) == 1 and None not in sizes:
            plot_loss_curves(out, results, tokens_per_step=sizes.pop())
        elif None not in sizes:  # different batches: line the runs up by tokens seen
            plot_loss_curves(out, [{**res, "metrics": _by_tokens(res["metrics"], res["tokens_per_step"])}
                                   for res in results], x_label="tokens")
        else:
            plot_loss_curves(out, results)
    return out
