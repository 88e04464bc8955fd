"""The shared progress display: plain lines in a log (5 % marks, at least every 30 s), a bar on a terminal."""

from __future__ import annotations

import io
import json
import re

import pytest

from _cli_helpers import run_cli
from unicode_substrate.progress import Progress

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_at_every_5_percent_mark_even_with_uneven_updates():
    out = io.StringIO()
    p = Progress(1000, "eval", unit="item", stream=out, every_s=1e9)
    for n in (7, 30, 13, 200, 1, 749):  # jumps over several marks at once: one line, not one per mark
        p.update(n)
    lines = out.getvalue().splitlines()
    # 7 and 37: below the first mark; 50 crosses 5 %; 250 crosses 10-25 % (one line); 251: no mark; 1000: the end
    assert [ln.rsplit(", ", 1)[0] for ln in lines] == [
        "eval: item 50/1,000 (5 %)", "eval: item 250/1,000 (25 %)", "eval: item 1,000/1,000 (100 %)"], lines


def test_a_line_at_least_every_interval_between_marks(monkeypatch):
    import unicode_substrate.progress as mod

    clock = [0.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    p = Progress(10_000, "train", stream=out)
    for _ in range(3):  # far below a 5 % mark, but 31 s apart
        clock[0] += 31.0
        p.update(1)
    assert len(out.getvalue().splitlines()) == 3
    assert out.getvalue().splitlines()[-1].startswith("train: step 3/10,000 (0 %), 93 s")


def test_unknown_total_reports_the_final_count_on_close():
    out = io.StringIO()
    with Progress(None, "tokenizing", unit="bytes", stream=out, every_s=1e9) as p:
        p.update(1234)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokenizing: 1,234 bytes, "), lines


def test_a_terminal_gets_a_labelled_bar_not_lines():
    out = _Tty()
    with Progress(10, "stage 2/3", stream=out) as p:
        assert p.bar is not None and not p.lines
        p.update(10)
    assert "stage 2/3" in out.getvalue() and "\r" in out.getvalue()


# --- every long command, run as a log would run it (CliRunner's stderr is no terminal) ---------------
def _no_bar_frames(output: str) -> None:
    assert "\r" not in output and "it/s" not in output, output[-500:]  # tqdm frames would carry both


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from _eval_helpers import make_run, write_original

    root = tmp_path_factory.mktemp("progress_cli")
    run, tok = make_run(root)  # prepare + train of a tiny run with a character tokenizer
    return {"root": root, "run": run, "tok": tok, "data": root / "data", "table": root / "table",
            "bench": write_original(root / "bench")}


def _model_args(workspace):
    from unicode_substrate.run import Run

    m = Run.load(workspace["run"]).model_config.to_dict()
    return [f"--set={k}={m[k]}" for k in ("vocab_size", "d_model", "n_layer", "n_head", "context", "n_embed")]


def test_prepare_and_render_print_progress_lines(workspace, tmp_path):
    from _eval_helpers import all_text

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": all_text()}) + "\n" for _ in range(6)), encoding="utf-8")
    r = run_cli("prepare", "--corpus", corpus, "--tokenizer", workspace["tok"], "--out", tmp_path / "d", "--val-every", "3")
    assert r.exit_code == 0, r.output
    assert re.search(r"^tokenizing: [\d,]+ bytes, \d+ s$", r.output, re.M), r.output
    _no_bar_frames(r.output)
    r = run_cli("render", "--tokenizer", workspace["tok"], "--method", "bit", "--dim", "8", "--out", tmp_path / "t")
    assert r.exit_code == 0, r.output
    assert "table: collision check" in r.output, r.output
    _no_bar_frames(r.output)
    quiet = run_cli("render", "--tokenizer", workspace["tok"], "--method", "bit", "--dim", "8", "--out", tmp_path / "q",
                    "--no-progress")
    assert quiet.exit_code == 0 and "table: collision check" not in quiet.output


@pytest.mark.slow
def test_train_grow_and_compare_label_their_lines(workspace, tmp_path):
    model = _model_args(workspace)
    common = ["--data", workspace["data"], "--table", workspace["table"], "--batch-size", "2", "--device", "cpu"]
    r = run_cli("train", "--preset", "tiny-glyph", *model, *common, "--out", tmp_path / "run", "--steps", "2")
    assert r.exit_code == 0, r.output
    assert "train: step 1/2 (50 %)" in r.output and "train: step 2/2 (100 %)" in r.output
    _no_bar_frames(r.output)

    cfg = tmp_path / "grow.toml"
    fields = dict(a.removeprefix("--set=").split("=") for a in model)
    fields["n_layer"] = "2"
    cfg.write_text('preset = "tiny-glyph"\ndevice = "cpu"\nbatch_size = 2\nstages = [1, 1]\nsteps_per_stage = [2, 2]\n'
                   f"model = {{ {', '.join(f'{k} = {v}' for k, v in fields.items())} }}\n")
    r = run_cli("grow", "--config", cfg, "--data", workspace["data"], "--table", workspace["table"],
                "--out", tmp_path / "grow")
    assert r.exit_code == 0, r.output
    for label in ("stage 1/2: step 2/2", "stage 2/2: step 1/2", "monolithic: step 4/4"):
        assert label in r.output, r.output
    _no_bar_frames(r.output)

    r = run_cli("compare", "--data", workspace["data"], "--variant", f"a=tiny-glyph:{workspace['table']}",
                "--variant", f"b=tiny-glyph:{workspace['table']}", *model, "--steps", "2", "--batch-size", "2",
                "--device", "cpu", "--out", tmp_path / "cmp", "--eval-tasks", "arc-easy",
                "--eval-data-dir", workspace["bench"], "--eval-runs", "1", "--eval-limit", "2")
    assert r.exit_code == 0, r.output
    assert "a (1/2): step 2/2" in r.output and "b (2/2): step 2/2" in r.output
    assert "eval: item " in r.output, r.output  # the benchmarks of every variant, in plain lines too
    _no_bar_frames(r.output)


def test_eval_prints_progress_lines(workspace, tmp_path):
    r = run_cli("eval", "--run", workspace["run"], "--tasks", "arc-easy", "--data-dir", workspace["bench"],
                "--runs", "1", "--out", tmp_path / "ev")
    assert r.exit_code == 0, r.output
    assert re.search(r"^eval: item \d+/\d+ \(100 %\), \d+ s, arc-easy", r.output, re.M), r.output
    _no_bar_frames(r.output)


def test_table_stages_have_a_heartbeat_in_a_log():
    """PCA and the collision check are single long calls: a log still hears from them (the demo's table
    stage once spent minutes with three status lines)."""
    import io
    import time

    from unicode_substrate.progress import Stages

    log = io.StringIO()
    stages = Stages("table", True, stream=log, every_s=0.05)
    stages.next("PCA")
    time.sleep(0.4)
    stages.next("collision check and write")
    time.sleep(0.4)
    stages.close()
    lines = log.getvalue().splitlines()
    assert lines[0] == "table: PCA" and "\r" not in log.getvalue()
    assert any(ln.startswith("table: PCA still running, ") for ln in lines)
    assert any(ln.startswith("table: collision check and write still running, ") for ln in lines)
    n = len(lines)
    time.sleep(0.2)
    assert len(log.getvalue().splitlines()) == n  # closed: the heartbeat stopped
