"""A stored loss curve for a short training run: a change that alters training fails here.

The run is 8 steps of the ``tiny-glyph`` preset (shrunk to the tiny test model) on the
synthetic Markov data of ``_train_helpers``, fp32 on one CPU thread. Its per-step training loss
and final validation loss are held to ``tests/data/golden_tiny_glyph.json`` within the float32
tolerance of ``conftest.TOLERANCES``. After a deliberate change to training, regenerate it with
``UPDATE_GOLDEN=1 pytest tests/test_golden_curve.py`` and say why in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from _train_helpers import make_data, make_table, tiny_config
from conftest import tolerance

GOLDEN = Path(__file__).parent / "data" / "golden_tiny_glyph.json"


def _curve(tmp_path: Path) -> dict:
    from unicode_substrate.train.trainer import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one reduction order for every machine the suite runs on
    try:
        cfg = tiny_config(steps=8, eval_every=8, ckpt_every=8, log_every=1, precision="fp32", seed=3)
        run = train(cfg, make_data(tmp_path / "data"), tmp_path / "run", table=make_table(tmp_path / "table"), progress=False)
    finally:
        torch.set_num_threads(threads)
    metrics = run.metrics()
    return {"steps": [m["step"] for m in metrics if m["type"] == "train"],
            "loss": [m["loss"] for m in metrics if m["type"] == "train"],
            "val_loss": [m["val_loss"] for m in metrics if m["type"] == "val"]}


def test_the_loss_curve_matches_the_stored_one(tmp_path):
    curve = _curve(tmp_path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(curve, indent=2) + "\n", encoding="utf-8")
    if not GOLDEN.is_file():
        pytest.fail(f"no stored curve at {GOLDEN}; create it with UPDATE_GOLDEN=1")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert curve["steps"] == golden["steps"] == list(range(1, 9))
    assert curve["loss"][-1] < curve["loss"][0]  # it trains at all
    torch.testing.assert_close(torch.tensor(curve["loss"]), torch.tensor(golden["loss"]), **tolerance(torch.float32))
    torch.testing.assert_close(torch.tensor(curve["val_loss"]), torch.tensor(golden["val_loss"]), **tolerance(torch.float32))


def test_the_comparison_can_fail(tmp_path):
    """A curve that differs by more than the tolerance at one step is caught (the check is not vacuous)."""
    if not GOLDEN.is_file():
        pytest.skip("no stored curve yet")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    bent = list(golden["loss"])
    bent[4] *= 1 + 1e-4
    with pytest.raises(AssertionError):
        torch.testing.assert_close(torch.tensor(bent), torch.tensor(golden["loss"]), **tolerance(torch.float32))
