"""``substrate plot``: loss curves of runs from their metrics.jsonl, deterministic, refusing what is not its own."""

from __future__ import annotations

import pytest

from _cli_helpers import one_line_error, run_cli
from _train_helpers import make_data, make_table, tiny_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from unicode_substrate.train.trainer import train

    root = tmp_path_factory.mktemp("plot")
    data, table = make_data(root / "data"), make_table(root / "table")
    a = train(tiny_config(), data, root / "a", table=table, progress=False).path
    b = train(tiny_config(batch_size=2, lr=1e-3), data, root / "b", table=table, progress=False).path
    return root, a, b


def test_plot_writes_the_same_png_twice_and_names_where(runs, tmp_path):
    from PIL import Image

    root, a, b = runs
    r = run_cli("plot", a, b, "--out", tmp_path / "one.png")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"loss curves written to {tmp_path / 'one.png'}"
    assert run_cli("plot", a, b, "--out", tmp_path / "two.png").exit_code == 0
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()
    assert Image.open(tmp_path / "one.png").size[0] > 600
    assert run_cli("plot", a, "--out", tmp_path / "single.png").exit_code == 0  # one run is enough


def test_plot_axes_hold_steps_and_tokens(runs, tmp_path, monkeypatch):
    """Same batch: steps below, tokens on a top axis; different batches: tokens on the x-axis."""
    from unicode_substrate.experiments import plot as plot_mod
    from unicode_substrate.experiments import report

    seen = []
    monkeypatch.setattr(report, "plot_loss_curves", lambda path, results, **kw: seen.append((results, kw)))
    root, a, b = runs
    plot_mod.plot_runs([a, a], tmp_path / "x.png")
    results, kw = seen[-1]
    assert kw == {"tokens_per_step": 4 * 16} and [r["variant"] for r in results] == ["a", f"{root.name}/a"]
    assert results[0]["metrics"][0]["step"] == 1
    plot_mod.plot_runs([a, b], tmp_path / "y.png")
    results, kw = seen[-1]
    assert kw == {"x_label": "tokens"}
    assert [r["metrics"][0]["step"] for r in results] == [4 * 16, 2 * 16]  # step 1 of each, in tokens


def test_plot_refuses_with_one_line(runs, tmp_path):
    root, a, _ = runs
    (tmp_path / "notes.png").write_text("my notes")
    one_line_error(run_cli("plot", a, "--out", tmp_path / "notes.png"), "already exists", "--force")
    one_line_error(run_cli("plot", a, "--out", tmp_path / "notes.png", "--force"), "is not a picture this toolkit wrote")
    assert (tmp_path / "notes.png").read_text() == "my notes"
    one_line_error(run_cli("plot", a, "--out", tmp_path / "x.jpg"), "must be named .png", "--out")
    one_line_error(run_cli("plot", root / "data", "--out", tmp_path / "x.png"), "is not a training run")
    assert not (tmp_path / "x.png").exists()
    assert run_cli("plot", a, "--out", tmp_path / "p.png").exit_code == 0
    assert run_cli("plot", a, "--out", tmp_path / "p.png", "--force").exit_code == 0  # a picture is replaced


def test_plot_refuses_a_run_without_metrics(runs, tmp_path):
    from unicode_substrate.experiments.fuse import fuse

    root, a, _ = runs
    fused = fuse([a, a], tmp_path / "fused")
    one_line_error(run_cli("plot", fused, "--out", tmp_path / "f.png"), "has no training metrics")


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(step="7") if m["type"] == "train" else None, "step = '7' is not a whole number"),
    (lambda m: m.pop("loss") if m["type"] == "train" else None, "loss = 'None' is not a finite number"),
    (lambda m: m.update(loss=float("nan")) if m["type"] == "train" else None, "loss = 'nan'"),
    (lambda m: m.update(val_loss=None) if m["type"] == "val" else None, "val_loss = 'None'"),
    (lambda m: m.update(val_bpb=None) if m["type"] == "val" else None, "val_bpb = 'None'"),
    (lambda m: m.update(val_bpb="0.5") if m["type"] == "val" else None, "val_bpb = '0.5'"),
])
def test_plot_on_edited_metrics_is_one_line_naming_the_file_and_record(runs, tmp_path, edit, message):
    import json
    import shutil

    _, a, _ = runs
    run = tmp_path / "edited"
    shutil.copytree(a, run)
    records = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    for m in records:
        edit(m)
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in records))
    one_line_error(run_cli("plot", run, "--out", tmp_path / "x.png"), "metrics.jsonl: record ", message)
    assert not (tmp_path / "x.png").exists()


def test_plot_on_a_string_batch_size_is_one_line(runs, tmp_path):
    import json
    import shutil

    _, a, _ = runs
    run = tmp_path / "edited"
    shutil.copytree(a, run)
    rec = json.loads((run / "run.json").read_text())
    rec["train"]["batch_size"] = "4"
    (run / "run.json").write_text(json.dumps(rec))
    one_line_error(run_cli("plot", run, "--out", tmp_path / "x.png"), "run.json: train.batch_size = '4'")


def test_an_interrupted_run_is_labelled_unfinished(runs, tmp_path, monkeypatch):
    """A run stopped mid-way (run.json and metrics, no final checkpoint or summary) says where it stopped."""
    import shutil

    from unicode_substrate.experiments import plot as plot_mod
    from unicode_substrate.experiments import report

    root, a, _ = runs
    cut = tmp_path / "cut"
    shutil.copytree(a, cut)
    (cut / "summary.json").unlink()
    shutil.rmtree(cut / "checkpoints" / "step-00000006")
    lines = (cut / "metrics.jsonl").read_text().splitlines()
    (cut / "metrics.jsonl").write_text("\n".join(ln for ln in lines if '"step":6' not in ln.replace(" ", "")) + "\n")
    seen = []
    monkeypatch.setattr(report, "plot_loss_curves", lambda path, results, **kw: seen.append(results))
    plot_mod.plot_runs([a, cut], tmp_path / "x.png")
    assert [r["variant"] for r in seen[-1]] == ["a", "cut (unfinished at step 3 of 6)"]
