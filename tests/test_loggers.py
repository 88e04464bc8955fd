"""Experiment loggers: TensorBoard events and a CSV file beside metrics.jsonl, holding the same values."""

from __future__ import annotations

import csv
import json

import pytest

from _cli_helpers import one_line_error, run_cli
from _train_helpers import TINY_MODEL, make_data, make_table, tiny_config

from unicode_substrate.errors import SubstrateError
from unicode_substrate.train.loggers import CSV_FILE, TENSORBOARD_DIR, parse_loggers


def _metrics(run):
    return [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]


def _scalars(run) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the run's TensorBoard events, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / TENSORBOARD_DIR))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_and_csv_hold_the_metrics_jsonl_values(tmp_path):
    pytest.importorskip("tensorboard")
    from unicode_substrate.train.trainer import train

    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    run = train(tiny_config(log="tensorboard,csv"), data, tmp_path / "run", table=table, progress=False).path
    m = _metrics(run)
    tr = [r for r in m if r["type"] == "train"]
    val = [r for r in m if r["type"] == "val"]
    assert len(tr) == 6 and len(val) == 2

    tb = _scalars(run)
    assert [s for s, _ in tb["train/loss"]] == [r["step"] for r in tr]
    assert [v for _, v in tb["train/loss"]] == pytest.approx([r["loss"] for r in tr], rel=1e-6)  # float32 in events
    assert [v for _, v in tb["train/lr"]] == pytest.approx([r["lr"] for r in tr], rel=1e-6)
    assert [(s, v) for s, v in tb["val/bpb"]] == [(r["step"], pytest.approx(r["val_bpb"], rel=1e-6)) for r in val]
    assert {"train/grad_norm", "train/tokens_per_s", "val/loss"} <= set(tb)

    with open(run / CSV_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["type"], int(r["step"])) for r in rows] == [(r["type"], r["step"]) for r in m]
    assert [float(r["loss"]) for r in rows if r["type"] == "train"] == [r["loss"] for r in tr]  # repr: exact
    assert [float(r["val_bpb"]) for r in rows if r["type"] == "val"] == [r["val_bpb"] for r in val]
    assert all(r["val_bpb"] == "" for r in rows if r["type"] == "train")


def test_resume_keeps_the_csv_rows_up_to_the_checkpoint_once(tmp_path):
    from unicode_substrate import checkpoint as ckpt
    from unicode_substrate.train.trainer import train

    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    run = train(tiny_config(log="csv"), data, tmp_path / "run", table=table, progress=False).path
    import shutil

    shutil.rmtree(ckpt.checkpoint_dir(run, 6))  # resume from step 3: the CSV rows of steps 4-6 are written again
    train(tiny_config(log="csv"), data, run, table=table, resume=True, progress=False)
    with open(run / CSV_FILE, newline="") as f:
        steps = [(r["type"], int(r["step"])) for r in csv.DictReader(f)]
    assert steps == [(r["type"], r["step"]) for r in _metrics(run)]
    assert len(steps) == len(set(steps)) == 8


def test_unknown_or_missing_logger_is_one_line(tmp_path):
    assert parse_loggers(" csv, tensorboard,csv ") == ("csv", "tensorboard")
    assert parse_loggers("") == ()
    with pytest.raises(SubstrateError, match="unknown logger mlflow"):
        tiny_config(log="csv,mlflow")
    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    r = run_cli("train", "--data", data, "--table", table, "--out", tmp_path / "run", "--log", "tensorbord",
                *[f"--set={k}={v}" for k, v in TINY_MODEL.items()])
    one_line_error(r, "unknown logger tensorbord")
    assert not (tmp_path / "run").exists()
    try:
        import wandb  # noqa: F401
    except ImportError:
        from unicode_substrate.train.trainer import train

        with pytest.raises(SubstrateError, match="needs the wandb package"):
            train(tiny_config(log="wandb"), data, tmp_path / "run2", table=table, progress=False).path
        assert not (tmp_path / "run2").exists()  # refused before the run directory was made


def test_log_is_a_toml_key_and_a_train_option(tmp_path):
    from unicode_substrate.train.config import load_config

    (tmp_path / "t.toml").write_text('log = "csv"\nlog_every = 2\n')
    assert load_config(tmp_path / "t.toml").log == "csv"
    assert load_config(tmp_path / "t.toml", log="tensorboard").log == "tensorboard"


def test_a_torn_csv_log_is_one_line_on_resume_and_left_as_it_was(tmp_path):
    """A 200,000-character field (past the csv module's limit) or bytes that are not UTF-8: one line, file kept."""
    from unicode_substrate.errors import SubstrateError
    from unicode_substrate.train.loggers import CSV_FILE, _CSV

    for body in (("step,loss\n1," + "9" * 200_000 + "\n").encode(), b"step,loss\n1,\xff\xfe\n"):
        (tmp_path / CSV_FILE).write_bytes(body)
        with pytest.raises(SubstrateError, match="cannot be read to resume it") as e:
            _CSV(tmp_path, resume_step=1)
        assert "\n" not in str(e.value)
        assert (tmp_path / CSV_FILE).read_bytes() == body
