"""torchrun on CPU (gloo): two processes train exactly like one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from _train_helpers import make_data, make_table, tiny_config
from unicode_substrate.run import read_metrics
from unicode_substrate.train.trainer import train

STEPS = 6


def _losses(run):
    return [(m["step"], m["loss"]) for m in read_metrics(run) if m["type"] == "train"]


def _val(run):
    return [(m["step"], m["val_loss"], m["val_bpb"]) for m in read_metrics(run) if m["type"] == "val"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    data, table = make_data(root / "data"), make_table(root / "table")
    single = train(tiny_config(steps=STEPS, batch_size=4, eval_every=3), data, root / "single", table, progress=False).path
    # The same global batch of 4 sequences as 2 micro-batches of 2: accumulation must agree too.
    accum = train(tiny_config(steps=STEPS, batch_size=2, grad_accum=2, eval_every=3), data, root / "accum", table,
                  progress=False).path
    return data, table, single, accum


def _assert_same_training(run, single):
    want, got = _losses(single), _losses(run)
    assert len(want) == STEPS and [s for s, _ in got] == [s for s, _ in want]
    for (s, a), (_, b) in zip(got, want):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5), f"{run.name} step {s}: {a} vs {b}"
    assert len(_val(run)) == len(_val(single)) == 2
    for (s, l1, b1), (_, l2, b2) in zip(_val(run), _val(single)):
        assert l1 == pytest.approx(l2, rel=1e-4) and b1 == pytest.approx(b2, rel=1e-4)
    assert want[-1][1] < want[0][1]  # training moved the weights: the loss fell


def test_gradient_accumulation_matches_one_big_batch(reference):
    _, _, single, accum = reference
    _assert_same_training(accum, single)


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_gloo_processes_match_one_process(reference, tmp_path, parallel):
    data, table, single, _ = reference
    model = [f"--set={k}={v}" for k, v in tiny_config().model.items()]
    out = tmp_path / parallel
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "unicode_substrate", "train", "--preset", "tiny-glyph", *model, "--data", str(data), "--table", str(table),
           "--out", str(out), "--steps", str(STEPS), "--batch-size", "2", "--lr", "3e-3", "--min-lr", "3e-4",
           "--warmup", "2", "--eval-every", "3", "--ckpt-every", "3", "--device", "cpu", "--parallel", parallel,
           "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["world_size"] == 2
    _assert_same_training(out, single)
    # The gathered checkpoint holds full (unsharded) weights that a single process can load.
    from unicode_substrate.checkpoint import load_checkpoint

    weights, state, _ = load_checkpoint(out / "checkpoints" / "step-00000006")
    ref_weights, _, _ = load_checkpoint(single / "checkpoints" / "step-00000006")
    assert weights.keys() == ref_weights.keys()
    assert all(weights[k].shape == ref_weights[k].shape for k in weights)
    assert state["step"] == STEPS
