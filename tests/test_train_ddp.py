"""torchrun + DDP on CPU (gloo): two processes train exactly like one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from _train_helpers import make_data, make_table, tiny_config
from unicode_substrate.train.trainer import read_metrics, train


def _losses(run):
    return [(m["step"], m["loss"]) for m in read_metrics(run) if m["type"] == "train"]


def _val(run):
    return [(m["step"], m["val_loss"], m["val_bpb"]) for m in read_metrics(run) if m["type"] == "val"]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    steps = 6
    single = train(tiny_config(steps=steps, batch_size=4, eval_every=3), data, tmp_path / "single", table, progress=False)
    # The same global batch of 4 sequences as 2 micro-batches of 2: the reference for accumulation.
    accum = train(tiny_config(steps=steps, batch_size=2, grad_accum=2, eval_every=3), data, tmp_path / "accum", table,
                  progress=False)

    model = [f"--set={k}={v}" for k, v in tiny_config().model.items()]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "unicode_substrate", "train", "--preset", "tiny-glyph", *model, "--data", str(data), "--table", str(table),
           "--out", str(tmp_path / "ddp"), "--steps", str(steps), "--batch-size", "2", "--lr", "3e-3", "--min-lr", "3e-4",
           "--warmup", "2", "--eval-every", "3", "--eval-tokens", "0",
           "--ckpt-every", "3", "--device", "cpu", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    ddp = tmp_path / "ddp"
    assert json.loads((ddp / "summary.json").read_text())["world_size"] == 2

    want = _losses(single)
    assert len(want) == steps
    for other in (ddp, accum):
        got = _losses(other)
        assert [s for s, _ in got] == [s for s, _ in want]
        for (s, a), (_, b) in zip(got, want):
            assert a == pytest.approx(b, rel=1e-4, abs=1e-5), f"{other.name} step {s}: {a} vs {b}"
        for (s, l1, b1), (_, l2, b2) in zip(_val(other), _val(single)):
            assert l1 == pytest.approx(l2, rel=1e-4) and b1 == pytest.approx(b2, rel=1e-4)
    # Training actually moved the weights: the loss fell.
    assert want[-1][1] < want[0][1]
