"""Validation loss and bits per byte of any run on a data directory's validation split, whole documents.

Training validates only while it trains, so a fused run, a grown model's ``final/`` or a run
scored on another corpus had no bits per byte. ``score_data`` computes them as the trainer's
validation does (``train/trainer.py: evaluate``; a test holds the two equal), through the same
windows and formula (``unicode_substrate/tokens.py``): the whole-document prefix of the split cut
into non-overlapping windows of ``context`` tokens, every token but the first predicted once,
bits per byte = total nats / ln 2 / UTF-8 bytes of that text. The figures go into an eval directory's ``results.json`` under ``data_score``, beside
the benchmark results when ``--tasks`` is given too (eval/data_report.py shows them), so one command answers "is the fusion
better than its experts?".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.data_report import DATA_SCORE
from unicode_substrate.tokens import BPB_METHOD, IGNORE, TokenData, n_windows, val_score, window_batch


# The benchmark settings that decide which items are read (checked before the model loads).
_CHECKED = ("seed", "limit", "fewshot", "split", "task_paths", "task_files")


def read_val_split(data_dir: str | Path) -> TokenData:
    """The data directory, verified, refused when its validation split has nothing to score."""
    data = TokenData.load(data_dir)
    if len(data.val) < 2:
        raise SubstrateError(f"the validation split of {data_dir} has {len(data.val)} tokens; nothing to score")
    return data


def _source_spans(manifest: dict, ends: np.ndarray) -> list[tuple[str, int, int, int]]:
    """(name, first token, end token, UTF-8 bytes) of each source's part of the scored prefix, from a
    recipe-built data directory's manifest (its ``sources[].val`` ranges); [] for any other."""
    spans = []
    n_docs = len(ends)
    for src in manifest.get("sources") or ():
        v = src.get("val") if isinstance(src, dict) else None
        if not isinstance(v, dict) or not isinstance(v.get("documents"), list) or not isinstance(v.get("tokens"), list):
            return []
        d0, d1 = (int(x) for x in v["documents"])
        t0, t1 = (int(x) for x in v["tokens"])
        if d0 >= min(d1, n_docs):
            continue  # no document of this source in the scored prefix
        last = min(d1, n_docs) - 1
        n_bytes = int(ends[last, 1]) - (int(ends[d0 - 1, 1]) if d0 > 0 else 0)
        spans.append((str(src.get("name")), t0, min(t1, int(ends[last, 0])), n_bytes))
    return spans


def score_data(lm, data_dir: str | Path, context: int | None = None, batch_size: int = 8, max_tokens: int = 0,
               progress: bool = False) -> dict:
    """Loss (nats/token) and bits per byte of language model ``lm`` on ``data_dir``'s validation split,
    overall and, for a recipe-built data directory, per source (text, each QA set)."""
    import torch
    import torch.nn.functional as F

    from unicode_substrate.progress import Progress

    if batch_size < 1:
        raise SubstrateError(f"batch size must be at least 1, got {batch_size}")
    data = read_val_split(data_dir)
    ids, n_bytes = data.val_prefix(max_tokens)  # whole documents, at least the first (as training validation)
    manifest, sha = data.manifest, data.manifest_sha256
    ends = data.val_docs[: int(np.searchsorted(data.val_docs[:, 0], len(ids), side="left")) + 1]
    expected = (getattr(lm, "description", None) or {}).get("tokenizer_manifest_sha256")
    if expected is not None and manifest.get("tokenizer_manifest_sha256") != expected:
        raise SubstrateError(f"{data_dir} was tokenized with another tokenizer than the model's "
                             f"(manifest {str(manifest.get('tokenizer_manifest_sha256'))[:12]}... vs {expected[:12]}...)")
    spans = _source_spans(manifest, ends)
    starts = np.array([s[1] for s in spans], dtype=np.int64)
    per_source = np.zeros(len(spans))
    per_count = np.zeros(len(spans), dtype=np.int64)
    context = int(context or lm.context)
    n_win = n_windows(len(ids), context)
    nats, count = 0.0, 0
    with torch.no_grad(), Progress(n_win, "score data", enabled=progress, unit="window") as bar:
        for first in range(0, n_win, batch_size):
            wins = range(first, min(first + batch_size, n_win))
            x, y = window_batch(ids, wins, context)
            pos = (np.asarray(list(wins), dtype=np.int64)[:, None] * context + 1 + np.arange(context)).reshape(-1)
            xt, yt = torch.from_numpy(x).to(lm.device), torch.from_numpy(y).to(lm.device)
            logits = lm._logits(xt).float()
            each = F.cross_entropy(logits.view(-1, logits.size(-1)), yt.view(-1), ignore_index=IGNORE,
                                   reduction="none").double().cpu().numpy()
            keep = y.reshape(-1) != IGNORE
            nats += float(each[keep].sum())
            count += int(keep.sum())
            if spans:  # each predicted token's loss to the source whose range holds it
                which = np.searchsorted(starts, pos[keep], side="right") - 1
                ok = which >= 0
                per_source += np.bincount(which[ok], weights=each[keep][ok], minlength=len(spans))
                per_count += np.bincount(which[ok], minlength=len(spans))
            bar.update(len(wins))
    out = {"data": str(data_dir), "data_manifest_sha256": sha, "context": context, "batch_size": batch_size,
           "max_tokens": max_tokens, **val_score(nats, count, n_bytes),
           "val_tokens": count, "val_bytes": n_bytes, "method": BPB_METHOD}
    if spans:
        out["sources"] = [{"name": name, "val_tokens": int(c), "val_bytes": b, **val_score(float(v), int(c), b)}
                          for (name, _, _, b), v, c in zip(spans, per_source, per_count)]
    return out


def evaluate_data(out: str | Path, data: str | Path, run: str | Path, checkpoint=None, tokenizer=None, table=None,
                  batch_size: int = 8, max_tokens: int = 0, device: str = "cpu", force: bool = False,
                  progress: bool = False, tasks=None, data_dir: str | Path | None = None, label: str | None = None,
                  **benchmark) -> Path:
    """Score ``run`` on ``data``'s validation split into the eval directory ``out`` (with ``tasks``, or the
    ``task_files``/``task_paths`` of ``benchmark``: and on those benchmarks from ``data_dir``, into the same
    results files). ``benchmark`` holds :func:`unicode_substrate.eval.runner.evaluate`'s benchmark settings,
    every one applied. Returns ``out``."""
    from unicode_substrate.eval.models import RunModel
    from unicode_substrate.eval.report import write_eval_dir
    from unicode_substrate.eval.runner import benchmark_tasks, check_benchmarks, evaluate
    from unicode_substrate.run import Run

    from unicode_substrate.options import check_range, device_available

    out = Path(out)
    check_range("batch_size", batch_size)
    check_range("data_tokens", max_tokens)
    if label is not None:
        from unicode_substrate.eval.results_txt import check_label

        check_label(label)
    device_available(device)
    from unicode_substrate.artifacts import check_output

    inputs = [p for p in (data, run, checkpoint, tokenizer, table, data_dir, *Run.load(run).reads()) if p is not None]
    check_output(out, force=force, kind="eval", inputs=inputs)  # never replace or write inside an input
    tasks = benchmark_tasks(tasks, benchmark.get("task_paths"), benchmark.get("task_files"))
    benchmarks = bool(tasks or benchmark.get("task_files"))
    if benchmarks:  # every benchmark file is read and checked before the model is loaded
        check_benchmarks(tasks, data_dir, **{k: benchmark[k] for k in _CHECKED if k in benchmark})
    read_val_split(data)  # a bad data directory fails before the model loads
    lm = RunModel(run, checkpoint=checkpoint, tokenizer=tokenizer, table=table, device=device)
    context = Run.load(run).record.context or lm.context  # the context it was trained (or fused) at
    score = score_data(lm, data, context=min(int(context), lm.context), batch_size=batch_size, max_tokens=max_tokens,
                       progress=progress)
    if benchmarks:
        return evaluate(out, tasks, data_dir, lm=lm, force=force, progress=progress, device=device, batch_size=batch_size,
                        extra={DATA_SCORE: score}, inputs=inputs, label=label, **benchmark)
    record = {"kind": "eval", "schema_version": 1, "model": lm.description,
              "settings": {"device": device}, "benchmark_files_sha256": {}, "results": {}, DATA_SCORE: score,
              **({"label": label} if label is not None else {})}
    return write_eval_dir(out, record, [], force=force, inputs=inputs)
