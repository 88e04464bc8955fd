"""Exact resume: a run killed with SIGKILL and resumed logs the same losses as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _train_helpers import TINY_MODEL, make_data, make_table
from unicode_substrate.checkpoint import list_checkpoints
from unicode_substrate.run import read_metrics

STEPS = 300


def _write_config(path: Path) -> Path:
    model = "\n".join(f"{k} = {v}" for k, v in TINY_MODEL.items())
    path.write_text(
        f'preset = "tiny-glyph"\nsteps = {STEPS}\nbatch_size = 4\nlr = 3e-3\nmin_lr = 3e-4\nwarmup = 10\n'
        f'eval_every = 50\neval_tokens = 300\nckpt_every = 10\nkeep_last = 2\ndevice = "cpu"\n[model]\n{model}\n',
        encoding="utf-8",
    )
    return path


def _cmd(config: Path, data: Path, table: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "unicode_substrate", "train", "--config", str(config), "--data", str(data),
            "--table", str(table), "--out", str(out), "--no-progress", *extra]


def _env() -> dict:
    # One thread everywhere: the killed, resumed and reference processes do identical arithmetic.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _losses(run: Path) -> dict[tuple[str, int], float]:
    return {(r["type"], r["step"]): r["loss"] if r["type"] == "train" else r["val_loss"] for r in read_metrics(run)}


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    config = _write_config(tmp_path / "tiny.toml")
    killed, ref = tmp_path / "killed", tmp_path / "ref"

    proc = subprocess.Popen(_cmd(config, data, table, killed), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(step >= 30 for step, _ in list_checkpoints(killed)):
        assert proc.poll() is None, f"training ended before it could be killed: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists(), "the run finished before the kill; the test proves nothing"
    resumed_from = list_checkpoints(killed)[-1][0]
    assert 30 <= resumed_from < STEPS

    subprocess.run(_cmd(config, data, table, killed, "--resume"), env=_env(), check=True, capture_output=True)
    subprocess.run(_cmd(config, data, table, ref), env=_env(), check=True, capture_output=True)

    got, want = _losses(killed), _losses(ref)
    assert set(got) == set(want)  # lines the killed process wrote past its checkpoint were dropped
    later = [k for k in want if k[1] > resumed_from]
    assert len(later) >= STEPS - resumed_from
    mismatched = [(k, got[k], want[k]) for k in sorted(later) if got[k] != want[k]]
    assert not mismatched, f"resumed run differs from the uninterrupted one: {mismatched[:3]}"
