"""substrate compare: identical training for every variant, a report table and loss curves."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from _train_helpers import TINY_MODEL, make_data, make_table
from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.train.compare import parse_variant
from unicode_substrate.train.run import read_metrics


def test_parse_variant():
    v = parse_variant("glyph=tiny-glyph:some/table")
    assert (v.name, v.preset, str(v.table)) == ("glyph", "tiny-glyph", "some/table")
    assert parse_variant("base=tiny-unfrozen").table is None
    for bad in ("tiny-glyph", "=tiny-glyph", "x=", "a b=tiny-glyph"):
        with pytest.raises(SubstrateError):
            parse_variant(bad)


@pytest.mark.slow
def test_compare_frozen_and_trainable(tmp_path):
    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    model = [f"--set={k}={v}" for k, v in TINY_MODEL.items()]
    args = ["compare", "--data", data, "--variant", f"frozen=tiny-glyph:{table}", "--variant", "trainable=tiny-unfrozen",
            "--out", tmp_path / "cmp", *model, "--steps", "8", "--batch-size", "4", "--warmup", "2", "--lr", "3e-3",
            "--min-lr", "3e-4", "--eval-every", "4", "--ckpt-every", "0", "--device", "cpu", "--no-progress"]
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    out = tmp_path / "cmp"
    assert res.output.strip() == f"report written to {out / 'report.md'}"
    summary = json.loads((out / "compare.json").read_text())
    frozen, trainable = summary["variants"]
    # Only the preset differed: the same batches, so the same tokens, and both losses fell.
    for name, v in (("frozen", frozen), ("trainable", trainable)):
        train = [m for m in read_metrics(out / "runs" / name) if m["type"] == "train"]
        assert [m["tokens"] for m in train] == [64 * s for s in range(1, 9)]
        assert train[-1]["loss"] < train[0]["loss"]
        assert v["val_bpb"] == pytest.approx(v["val_loss"] * v["val_tokens"] / 0.6931471805599453 / v["val_bytes"])
    d, n_embed, vocab = TINY_MODEL["d_model"], TINY_MODEL["n_embed"], TINY_MODEL["vocab_size"]
    assert frozen["parameters"] - frozen["trainable_parameters"] == vocab * n_embed
    assert trainable["parameters"] == trainable["trainable_parameters"]
    assert trainable["trainable_parameters"] - frozen["trainable_parameters"] == vocab * d
    # AdamW keeps two fp32 moments per trainable value (plus a scalar step per tensor); the frozen table none.
    for v in (frozen, trainable):
        assert 8 * v["trainable_parameters"] <= v["optimizer_state_bytes"] <= 8 * v["trainable_parameters"] + 4 * 64
    report = (out / "report.md").read_text()
    for v in (frozen, trainable):
        assert f"| {v['variant']} | {v['preset']} | {v['parameters']:,} | {v['trainable_parameters']:,} |" in report
        assert f"{v['val_bpb']:.4f}" in report
    png = (out / "loss_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 2 and "already exists" in res.output
