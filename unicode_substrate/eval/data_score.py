"""Validation loss and bits per byte of any run on a data directory's validation split, whole documents.

Training validates only while it trains, so a fused run, a grown model's ``final/`` or a run
scored on another corpus had no bits per byte. ``score_data`` computes them exactly as the
trainer's validation does (``train/trainer.py: evaluate``; a test holds the two equal): the
whole-document prefix of the split cut into non-overlapping windows of ``context`` tokens,
every token but the first predicted once, bits per byte = total nats / ln 2 / UTF-8 bytes of
that text. The figures go into an eval directory's ``results.json`` under ``data_score``, beside
the benchmark results when ``--tasks`` is given too (eval/data_report.py shows them), so one command answers "is the fusion
better than its experts?".
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from unicode_substrate.artifacts import manifest_sha256, verify_manifest
from unicode_substrate.errors import SubstrateError

from unicode_substrate.eval.data_report import DATA_SCORE
TOKENS_KIND = "tokens"  # the manifest kind of a data directory (substrate prepare)
TOKENS_MAX_SCHEMA = 1
METHOD = ("non-overlapping windows of `context` tokens over the whole-document prefix of the validation split; "
          "every token but the first predicted once; bits per byte = total nats / ln 2 / UTF-8 bytes of that text")


def _val_split(data_dir: str | Path, max_tokens: int = 0):
    """(ids, ends of the scored documents, manifest, sha256): the whole-document prefix of at most
    ``max_tokens`` tokens (0: all) but at least the first document, as ``train/data.py: val_range``
    counts training validation (the two figures must stay equal), verified."""
    data_dir = Path(data_dir)
    manifest = verify_manifest(data_dir, kind=TOKENS_KIND, max_schema=TOKENS_MAX_SCHEMA)
    dtype = np.dtype(manifest["dtype"]).newbyteorder("<")
    n = int(manifest["splits"]["val"]["tokens"])
    if n < 2:
        raise SubstrateError(f"the validation split of {data_dir} has {n} tokens; nothing to score")
    val = np.memmap(data_dir / "val.bin", dtype=dtype, mode="r", shape=(n,))
    ends = np.load(data_dir / "val_docs.npy", allow_pickle=False)  # cumulative (tokens, bytes) per document
    if max_tokens <= 0 or max_tokens >= int(ends[-1, 0]):
        k = len(ends) - 1
    else:  # whole documents only, as many as fit, and at least the first (as training validation counts)
        k = max(int(np.searchsorted(ends[:, 0], max_tokens, side="right")) - 1, 0)
    return np.asarray(val[: int(ends[k, 0])], dtype=np.int64), ends[: k + 1], manifest, manifest_sha256(data_dir)


def read_val_split(data_dir: str | Path, max_tokens: int = 0) -> tuple[np.ndarray, int, dict, str]:
    """(validation ids of the whole-document prefix, its UTF-8 bytes, manifest, manifest sha256), verified."""
    ids, ends, manifest, sha = _val_split(data_dir, max_tokens)
    return ids, int(ends[-1, 1]), manifest, sha


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
    ids, ends, manifest, sha = _val_split(data_dir, max_tokens)
    n_bytes = int(ends[-1, 1])
    expected = (getattr(lm, "description", None) or {}).get("tokenizer_manifest_sha256")
    if expected is not None and manifest.get("tokenizer_manifest_sha256") != expected:
        raise SubstrateError(f"{data_dir} was tokenized with another tokenizer than the model's "
                             f"(manifest {str(manifest.get('tokenizer_manifest_sha256'))[:12]}... vs {expected[:12]}...)")
    spans = _source_spans(manifest, ends)
    starts = np.array([s[1] for s in spans], dtype=np.int64)
    per_source = np.zeros(len(spans))
    per_count = np.zeros(len(spans), dtype=np.int64)
    context = int(context or lm.context)
    n_win = max(1, math.ceil((len(ids) - 1) / context))
    nats, count = 0.0, 0
    with torch.no_grad(), Progress(n_win, "score data", enabled=progress, unit="window") as bar:
        for first in range(0, n_win, batch_size):
            wins = range(first, min(first + batch_size, n_win))
            x = np.zeros((len(wins), context), dtype=np.int64)
            y = np.full((len(wins), context), -100, dtype=np.int64)
            pos = np.zeros((len(wins), context), dtype=np.int64)  # the index in the split of each target
            for r, w in enumerate(wins):
                seg = ids[w * context : w * context + context + 1]
                x[r, : len(seg) - 1] = seg[:-1]
                y[r, : len(seg) - 1] = seg[1:]
                pos[r] = w * context + 1 + np.arange(context)
            xt, yt = torch.from_numpy(x).to(lm.device), torch.from_numpy(y).to(lm.device)
            logits = lm._logits(xt).float()
            each = F.cross_entropy(logits.view(-1, logits.size(-1)), yt.view(-1), ignore_index=-100,
                                   reduction="none").double().cpu().numpy()
            keep = y.reshape(-1) != -100
            nats += float(each[keep].sum())
            count += int(keep.sum())
            if spans:
                which = np.searchsorted(starts, pos.reshape(-1)[keep], side="right") - 1
                ok = which >= 0
                per_source += np.bincount(which[ok], weights=each[keep][ok], minlength=len(spans))
                per_count += np.bincount(which[ok], minlength=len(spans))
            bar.update(len(wins))
    out = {"data": str(data_dir), "data_manifest_sha256": sha, "context": context, "batch_size": batch_size,
           "max_tokens": max_tokens, "val_loss": nats / max(count, 1), "val_bpb": nats / math.log(2) / max(n_bytes, 1),
           "val_tokens": count, "val_bytes": n_bytes, "method": METHOD}
    if spans:
        out["sources"] = [{"name": name, "val_tokens": int(c), "val_bytes": b,
                           "val_loss": float(v) / max(int(c), 1), "val_bpb": float(v) / math.log(2) / max(b, 1)}
                          for (name, _, _, b), v, c in zip(spans, per_source, per_count)]
    return out


def evaluate_data(out: str | Path, data: str | Path, run: str | Path, checkpoint=None, tokenizer=None, table=None,
                  batch_size: int = 8, max_tokens: int = 0, device: str = "cpu", force: bool = False,
                  progress: bool = False, tasks=None, data_dir: str | Path | None = None, label: str | None = None,
                  **benchmark) -> Path:
    """Score ``run`` on ``data``'s validation split into the eval directory ``out`` (with ``tasks``: and
    on those benchmarks from ``data_dir``, into the same results files). Returns ``out``."""
    from unicode_substrate.eval.models import RunModel
    from unicode_substrate.eval.report import write_eval_dir
    from unicode_substrate.eval.runner import check_benchmarks, evaluate
    from unicode_substrate.run import Run

    from unicode_substrate.options import check_range, device_available

    out = Path(out)
    check_range("batch_size", batch_size)
    check_range("data_tokens", max_tokens)
    if label is not None:
        from unicode_substrate.eval.results_txt import check_label

        check_label(label, "--label")
    device_available(device)
    from unicode_substrate.artifacts import check_output

    inputs = [p for p in (data, run, checkpoint, tokenizer, table, data_dir, *Run.load(run).reads()) if p is not None]
    check_output(out, force=force, kind="eval", inputs=inputs)  # never replace or write inside an input
    if tasks:  # every benchmark file is read and checked before the model is loaded
        check_benchmarks(tasks, data_dir, seed=benchmark.get("seed", 0), limit=benchmark.get("limit"),
                         fewshot=benchmark.get("fewshot", 0))
    read_val_split(data)  # a bad data directory fails before the model loads
    lm = RunModel(run, checkpoint=checkpoint, tokenizer=tokenizer, table=table, device=device)
    context = Run.load(run).record.context or lm.context  # the context it was trained (or fused) at
    score = score_data(lm, data, context=min(int(context), lm.context), batch_size=batch_size, max_tokens=max_tokens,
                       progress=progress)
    if tasks:
        return evaluate(out, tasks, data_dir, lm=lm, force=force, progress=progress, device=device, batch_size=batch_size,
                        extra={DATA_SCORE: score}, inputs=inputs, label=label, **benchmark)
    record = {"kind": "eval", "schema_version": 1, "model": lm.description,
              "settings": {"device": device}, "benchmark_files_sha256": {}, "results": {}, DATA_SCORE: score,
              **({"label": label} if label is not None else {})}
    return write_eval_dir(out, record, [], force=force, inputs=inputs)
