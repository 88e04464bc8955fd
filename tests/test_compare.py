"""substrate compare: identical training for every variant, a report table and loss curves."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from _train_helpers import TINY_MODEL, make_data, make_table
from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.experiments.compare import parse_variant
from unicode_substrate.run import read_metrics


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
    assert res.exit_code == 2 and "already exists and holds a comparison" in res.output and "--force" in res.output
    # with progress on, the report's tables reach the terminal too
    res = CliRunner().invoke(main, [str(a) for a in args if a != "--no-progress"] + ["--force"])
    assert res.exit_code == 0, res.output
    assert "| frozen | tiny-glyph |" in res.output and "| trainable | tiny-unfrozen |" in res.output


def test_bad_third_variant_is_refused_before_any_training(tmp_path):
    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    wide = make_table(tmp_path / "wide", dim=32)
    model = [f"--set={k}={v}" for k, v in TINY_MODEL.items()]
    base = ["compare", "--data", data, "--out", tmp_path / "cmp", *model, "--steps", "2", "--device", "cpu", "--no-progress",
            "--variant", f"a=tiny-glyph:{table}", "--variant", "b=tiny-unfrozen"]
    for third, words in ((f"c=tiny-glyph:{wide}", "variant c (tiny-glyph): table"), ("c=no-such-preset", "no-such-preset"),
                         (f"c=tiny-unfrozen:{table}", "takes no frozen table"), ("c=tiny-glyph", "needs a table"),
                         (f"c=tiny-glyph:{tmp_path / 'missing'}", "is not a directory")):
        res = CliRunner().invoke(main, [str(a) for a in [*base, "--variant", third]])
        assert res.exit_code == 2, res.output
        assert words in res.output and "nothing was trained" in res.output and len(res.output.strip().splitlines()) == 1
        assert not (tmp_path / "cmp").exists()  # nothing trained, nothing written


def test_unfinished_comparison_does_not_block_the_rerun(tmp_path):
    from unicode_substrate.experiments.compare import _check_out

    out = tmp_path / "cmp"
    (out / "runs" / "a").mkdir(parents=True)  # the first variant trained, then the second failed
    _check_out(out, force=False, resume=False)  # no --force needed: its runs are simply retrained
    (out / "report.md").write_text("# Comparison\n")
    with pytest.raises(SubstrateError, match="already exists and holds a comparison"):
        _check_out(out, force=False, resume=False)
    _check_out(out, force=True, resume=False)
    _check_out(out, force=False, resume=True)  # its finished runs are kept
    other = tmp_path / "other"
    (other / "notes.txt").parent.mkdir()
    (other / "notes.txt").write_text("mine")
    for force, resume in ((False, False), (True, False), (False, True)):  # never written into, whatever is asked
        with pytest.raises(SubstrateError, match="holds no comparison"):
            _check_out(other, force=force, resume=resume)


def _fake_result(name: str, final: float, steps: int, val_every: int) -> dict:
    train = [{"type": "train", "step": s, "loss": 11.1 if s == 1 else final + 3.0 / s, "step_s": 0.5 if s % 7 else 5.0}
             for s in range(1, steps + 1)]
    val = [{"type": "val", "step": s, "val_loss": final + 2.0 / s, "val_bpb": (final + 2.0 / s) / 2, "val_tokens": 900,
            "val_bytes": 2000} for s in range(val_every, steps + 1, val_every)]
    return {"variant": name, "preset": "tiny-glyph", "table": None, "parameters": 10, "trainable_parameters": 5,
            "optimizer_state_bytes": 40, "steps": steps, "context": 16, "tokens_per_step": 64, "tokens_per_s": 50.0,
            "val_tokens": 900, "val_bytes": 2000, "val_loss": val[-1]["val_loss"], "val_bpb": val[-1]["val_bpb"],
            "metrics": sorted(train + val, key=lambda m: (m["step"], m["type"]))}


def test_report_states_validation_size_median_throughput_and_a_zoomed_plot(tmp_path):
    from unicode_substrate.experiments.report import _loss_range, write_compare_report as write_report
    from unicode_substrate.train.config import TrainConfig

    results = [_fake_result("frozen", 5.0, 100, 25), _fake_result("trainable", 4.8, 100, 25)]
    write_report(tmp_path, results, TrainConfig(steps=100), "data")
    report = (tmp_path / "report.md").read_text()
    assert "Validation: 900 predicted tokens over 2,000 UTF-8 bytes" in report
    # the median step time with its quartiles, not a mean dragged up by the slow steps (5 s every 7th)
    assert report.count("| 500 ms (500–500) |") == 2
    assert "noisy" in report and "tokens/s" not in report
    write_report(tmp_path, results, TrainConfig(steps=100), "data", load=([3.5, 2.0, 1.0], [1.25, 1.5, 1.0]))
    assert "Load average (1 / 5 / 15 min) at the start 3.50 / 2.00 / 1.00, at the end 1.25 / 1.50 / 1.00" in (
        tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "compare.json").read_text())["load_average"]["start"] == [3.5, 2.0, 1.0]
    lo, hi, skip = _loss_range(results)
    assert skip == 10 and hi < 6.0 and lo < 4.8 + 2.0 / 100  # loss 11.1 of step 1 left above the plot
    first = (tmp_path / "loss_curves.png").read_bytes()
    write_report(tmp_path, results, TrainConfig(steps=100), "data")
    assert (tmp_path / "loss_curves.png").read_bytes() == first  # byte-deterministic
    # a short run with one validation point still draws (the point is annotated with its value)
    (tmp_path / "short").mkdir()
    write_report(tmp_path / "short", [_fake_result("a", 5.0, 3, 3), _fake_result("b", 5.2, 3, 3)], TrainConfig(steps=3), "data")
    assert (tmp_path / "short" / "loss_curves.png").stat().st_size > 10_000


def test_load_sentence_says_whether_other_work_loaded_the_machine(monkeypatch):
    from unicode_substrate.experiments import report

    monkeypatch.setattr(report.os, "cpu_count", lambda: 2)
    quiet = report.load_text(([0.5, 0.4, 0.3], [1.9, 1.0, 0.5]))
    busy = report.load_text(([7.0, 6.0, 5.0], [7.5, 6.0, 5.0]))
    assert "within the core count" in quiet and "inflated" not in quiet
    assert "before the job began" in busy and "inflated" in busy
    assert report.load_text(None) == "" and report.load_text((None, [1.0, 1.0, 1.0])) == ""


def test_report_tables_keep_headings_and_rows_only():
    from unicode_substrate.experiments.report import report_tables

    md = "# Comparison\n\nSome prose.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nMore.\n\n## Differences\n\n| x |\n|---|\n"
    assert report_tables(md) == "# Comparison\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## Differences\n| x |\n|---|"
