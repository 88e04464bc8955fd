"""Growth against a monolithic model, and a two-expert fusion, on the built-in data (CPU, tiny preset).

Grows ``tiny-gt-3l`` (d 128, 3 layers, V 65,536, 128-wide glyph table) one layer per stage with
``newest+head`` training, beside the same 3-layer model trained whole for the same total steps;
then fuses the two resulting models (same tokenizer and table) by the mean of their logits and
with an adapter, and measures each on the whole validation split.

    python benchmarks/bench_grow.py                     # 100 steps per stage
    python benchmarks/bench_grow.py --steps-per-stage 20 --out /tmp/bench-grow

Reuses the tokenizer, table and token data of ``make demo`` (artifacts/demo), building them
first when absent.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "artifacts" / "demo"


def demo_inputs() -> tuple[Path, Path]:
    """(data, table) of the demo, built with the demo's own commands when missing."""
    s = str(Path(sys.executable).with_name("substrate"))
    steps = [
        ("tokenizer", [s, "build-tokenizer", "--out", str(DEMO / "tokenizer"), "--force"]),
        ("table", [s, "render", "--tokenizer", str(DEMO / "tokenizer"), "--method", "glyph", "--dim", "128",
                   "--out", str(DEMO / "table"), "--force"]),
        ("data", [s, "prepare", "--tokenizer", str(DEMO / "tokenizer"), "--out", str(DEMO / "data"), "--force"]),
    ]
    for name, cmd in steps:
        if not (DEMO / name / "manifest.json").is_file():
            print(f"building {DEMO / name}", flush=True)
            subprocess.run(cmd, check=True)
    return DEMO / "data", DEMO / "table"


def val_bpb(model, data) -> float:
    import torch

    from unicode_substrate.tokens import TokenData
    from unicode_substrate.train.trainer import evaluate

    return evaluate(model, TokenData.load(data), model.cfg.context, 8, 0, torch.device("cpu"),
                    torch.autocast("cpu", enabled=False))["val_bpb"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps-per-stage", type=int, default=100)
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench-grow")
    args = ap.parse_args()

    import torch

    from unicode_substrate.train.config import TrainConfig
    from unicode_substrate.experiments.fuse import fuse
    from unicode_substrate.experiments.grow import GrowConfig, grow
    from unicode_substrate.run import Run

    torch.set_num_threads(2)
    data, table = demo_inputs()
    n = args.steps_per_stage
    train = TrainConfig(preset="tiny-gt-3l", steps=3 * n, batch_size=4, lr=3e-3, min_lr=3e-4, warmup=10,
                        eval_every=50, ckpt_every=0, seed=1337, device="cpu")
    gcfg = GrowConfig(train=train, stages=(1, 1, 1), steps_per_stage=(n, n, n), trainable="newest+head")
    t0, c0 = time.perf_counter(), time.process_time()
    report = grow(gcfg, data, args.out / "grow", table=table, force=True, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    print(f"# growth vs monolithic: tiny-gt-3l, stages [1, 1, 1] x {n} steps, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"growth + monolithic: {wall:.0f} s wall, {cpu:.0f} s CPU (process time)")
    print(report.read_text())

    experts = [args.out / "grow" / "final", args.out / "grow" / "monolithic"]
    rows = []
    for name, path in (("grown (expert A)", experts[0]), ("monolithic (expert B)", experts[1])):
        rows.append((name, val_bpb(Run.load(path).model(), data)))
    for name, adapter in (("fused, mean of logits", False), ("fused, adapter at start", True)):
        out = fuse(experts, args.out / ("fused-adapter" if adapter else "fused"), adapter=adapter, force=True)
        rows.append((name, val_bpb(Run.load(out).model(), data)))
    print("# two-expert fusion (validation split, whole)")
    print("| model | val bits/byte | vs best expert |")
    print("|---|---:|---:|")
    best = min(r[1] for r in rows[:2])
    for name, bpb in rows:
        print(f"| {name} | {bpb:.4f} | {bpb / best:.3f}x |")


if __name__ == "__main__":
    main()
