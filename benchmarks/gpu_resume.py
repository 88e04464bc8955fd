"""Checkpoint and exact resume on CUDA: a run of --steps steps against the same run resumed from its middle checkpoint.

The model is ``bit-64`` (the paper's d_model 1024, 16 layers, V 65,536) on its 64-wide ID-code
table (``render/codes.py``: no font is needed) and a synthetic Markov-chain corpus, trained with
the library's ``train`` exactly as ``substrate train`` does (bf16 autocast on CUDA). Run A trains
all the steps with a checkpoint halfway; run B is a copy of A without its later checkpoint,
resumed from the halfway one. Every training and validation loss after the checkpoint must be
equal bit for bit; the script prints both runs' tokens/s and exits 1 when any loss differs.

    python benchmarks/gpu_resume.py --steps 50 --layers 4    # benchmarks/gpu.sh's: 4 of the 16 blocks
    python benchmarks/gpu_resume.py --preset tiny-bit-64 --steps 6 --device cpu   # the same on CPU, tiny
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from unicode_substrate.checkpoint import list_checkpoints
from unicode_substrate.model import get_preset
from unicode_substrate.render.codes import code_table
from unicode_substrate.run import read_metrics
from unicode_substrate.table import write_table
from unicode_substrate.tokens import write_token_data
from unicode_substrate.train.config import TrainConfig
from unicode_substrate.train.trainer import train

TOKENIZER_SHA = "ab" * 32  # the data and the table only have to name the same tokenizer


def make_inputs(root: Path, vocab: int, dim: int, tokens: int, seed: int = 0) -> tuple[Path, Path]:
    """A Markov-chain corpus of about ``tokens`` ids (each id followed by one of three) and a bit table."""
    rng = np.random.default_rng(seed)
    nxt = rng.integers(0, vocab, size=(vocab, 3))
    doc_len = 1024

    def docs():  # every tenth document is validation: a fifth more than the training needs, and at least 20
        for _ in range(max(20, tokens * 6 // 5 // doc_len + 1)):
            ids = np.empty(doc_len, dtype=np.int64)
            ids[0] = rng.integers(0, vocab)
            choice = rng.integers(0, 3, size=doc_len)
            for i in range(1, doc_len):
                ids[i] = nxt[ids[i - 1], choice[i]]
            yield ids.tolist(), 2 * doc_len

    data = write_token_data(root / "data", docs(), vocab, TOKENIZER_SHA, val_every=10, separator=0)
    table = write_table(root / "table", code_table("bit", vocab, dim), [f"t{i}" for i in range(vocab)],
                        {"method": "bit", "tokenizer_manifest_sha256": TOKENIZER_SHA})
    return Path(data), Path(table)


def losses(run: Path) -> dict[tuple[str, int], float]:
    return {(r["type"], r["step"]): r["loss"] if r["type"] == "train" else r["val_loss"] for r in read_metrics(run)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--preset", default="bit-64")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--layers", type=int, default=None, help="fewer blocks than the preset (smaller checkpoints)")
    args = ap.parse_args(argv)
    overrides = {} if args.layers is None else {"n_layer": args.layers}
    mcfg = get_preset(args.preset, **overrides)
    half = args.steps // 2
    cfg = TrainConfig(preset=args.preset, model=overrides, steps=args.steps, batch_size=args.batch, lr=1e-3, min_lr=1e-4, warmup=5,
                      eval_every=half, eval_tokens=4 * mcfg.context, ckpt_every=half, keep_last=2, device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        data, table = make_inputs(root, mcfg.vocab_size, mcfg.n_embed, (args.steps + 2) * args.batch * (mcfg.context + 1))
        print(f"## Checkpoint and exact resume: {args.preset} ({mcfg.n_layer} layers, d_model {mcfg.d_model}, "
              f"V {mcfg.vocab_size:,}, bit table {mcfg.n_embed} wide), {args.steps} steps of {args.batch} x "
              f"{mcfg.context} tokens on {args.device}, checkpoint at step {half}\n")
        print(f"inputs written in {time.perf_counter() - t0:.1f} s")
        timings = {}
        t0 = time.perf_counter()
        train(cfg, data, root / "a", table=table, progress=False)
        timings["A, all steps"] = (time.perf_counter() - t0, args.steps)
        later_ckpts = {path.name for step, path in list_checkpoints(root / "a") if step > half}
        shutil.copytree(root / "a", root / "b", ignore=lambda _, names: [n for n in names if n in later_ckpts])
        t0 = time.perf_counter()
        train(cfg, data, root / "b", table=table, resume=True, progress=False)
        timings[f"B, resumed from step {half}"] = (time.perf_counter() - t0, args.steps - half)
        want, got = losses(root / "a"), losses(root / "b")
    later = sorted(k for k in want if k[1] > half)
    differ = [k for k in later if got.get(k) != want[k]]
    for label, (secs, steps) in timings.items():
        print(f"run {label}: {secs:.1f} s, {steps * args.batch * mcfg.context / secs:,.0f} tokens/s with start-up")
    worst = max((abs(got[k] - want[k]) for k in later if k in got), default=float("nan"))
    print(f"losses after the checkpoint: {len(later)} compared, {len(later) - len(differ)} bit-identical, "
          f"largest difference {worst:.3g}; final training loss {want[('train', args.steps)]:.4f}")
    if differ:
        print(f"error: the resumed run differs from the uninterrupted one at {differ[:3]}", file=sys.stderr)
        return 1
    print("exact resume: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
