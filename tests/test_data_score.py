"""substrate eval --data: loss and bits per byte of any run (fused ones included) on a data directory's validation split."""

from __future__ import annotations

import json
import os

import pytest

from _cli_helpers import one_line_error, run_cli
from _eval_helpers import make_run, write_original

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("datascore")
    run, tok = make_run(root)
    return {"root": root, "run": run, "data": root / "data", "bench": write_original(root / "bench")}


def _results(out):
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_a_plain_run_scores_what_its_training_validation_said(setup, tmp_path):
    from unicode_substrate.run import Run

    out = tmp_path / "ev"
    r = run_cli("eval", "--run", setup["run"], "--data", setup["data"], "--out", out)
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == f"results written to {out}"
    assert "score data: window" in r.output  # progress lines in a log
    score = _results(out)["data_score"]
    summary = Run.load(setup["run"]).summary()
    assert score["val_tokens"] == summary["val_tokens"] and score["val_bytes"] == summary["val_bytes"]
    assert score["val_loss"] == pytest.approx(summary["val_loss"], rel=1e-6)
    assert score["val_bpb"] == pytest.approx(summary["val_bpb"], rel=1e-6)
    assert f"{score['val_bpb']:.4f}" in (out / "results.md").read_text(encoding="utf-8")
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    again = tmp_path / "again"
    assert run_cli("eval", "--run", setup["run"], "--data", setup["data"], "--out", again).exit_code == 0
    for name in ("results.json", "results.md", "results.png"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_a_fused_run_gets_its_bits_per_byte_beside_benchmarks(setup, tmp_path):
    from unicode_substrate.run import Run

    fused = tmp_path / "fused"
    assert run_cli("fuse", "--expert", setup["run"], "--expert", setup["run"], "--out", fused).exit_code == 0
    assert "val_bpb" not in (Run.load(fused).summary() or {})  # what eval --data is for
    out = tmp_path / "ev"
    r = run_cli("eval", "--run", fused, "--data", setup["data"], "--tasks", "arc-easy", "--data-dir", setup["bench"],
                "--runs", "1", "--limit", "2", "--out", out)
    assert r.exit_code == 0, r.output
    res = _results(out)
    assert set(res["results"]) == {"arc-easy"} and res["results"]["arc-easy"]["n"] == 2
    # two identical experts: the mean of their logits is either one's logits, so the score is the expert's
    expert = Run.load(setup["run"]).summary()
    assert res["data_score"]["val_bpb"] == pytest.approx(expert["val_bpb"], rel=1e-5)
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "arc-easy" in md and "bits per byte" in md


def test_bad_input_is_one_line(setup, tmp_path):
    out = tmp_path / "ev"
    one_line_error(run_cli("eval", "--run", setup["run"], "--out", out), "--tasks", "--data")
    one_line_error(run_cli("eval", "--run", setup["run"], "--data", setup["root"] / "bench", "--out", out))
    one_line_error(run_cli("eval", "--hf-model", setup["root"], "--data", setup["data"], "--out", out), "give --run")
    one_line_error(run_cli("eval", "--run", setup["run"], "--data", setup["data"], "--tasks", "mmlu", "--out", out),
                   "--data-dir")
    assert not out.exists()


def _grow_config(setup, tmp_path, layers: int):
    """A growth schedule of ``layers`` one-block stages of 2 steps, on the setup run's model shape."""
    from unicode_substrate.run import Run

    m = Run.load(setup["run"]).model_config.to_dict()
    fields = {k: m[k] for k in ("vocab_size", "d_model", "n_head", "context", "n_embed")}
    cfg = tmp_path / "grow.toml"
    cfg.write_text(f'preset = "tiny-glyph"\ndevice = "cpu"\nbatch_size = 2\nstages = {[1] * layers}\n'
                   f"steps_per_stage = {[2] * layers}\n"
                   f"model = {{ n_layer = {layers}, {', '.join(f'{k} = {v}' for k, v in fields.items())} }}\n")
    return cfg


def test_a_grown_model_scores_what_its_last_stage_said(setup, tmp_path):
    from unicode_substrate.run import Run

    cfg = _grow_config(setup, tmp_path, layers=2)
    r = run_cli("grow", "--config", cfg, "--data", setup["data"], "--table", setup["root"] / "table",
                "--out", tmp_path / "g", "--no-monolithic", "--no-progress")
    assert r.exit_code == 0, r.output
    assert f"grown model in {tmp_path / 'g' / 'final'};" in r.output
    out = tmp_path / "ev"
    assert run_cli("eval", "--run", tmp_path / "g" / "final", "--data", setup["data"], "--out", out).exit_code == 0
    final = Run.load(tmp_path / "g" / "final").summary()
    assert _results(out)["data_score"]["val_bpb"] == pytest.approx(final["val_bpb"], rel=1e-6)


def test_the_score_is_printed_and_a_recipe_data_folder_is_scored_per_source(setup, tmp_path):
    """eval --data prints its table as every eval does; a recipe-built folder gets bits per byte per
    source beside the overall figure, from the manifest's validation ranges, and the parts add up."""
    import shutil

    root = setup["root"]
    shutil.copy(root / "corpus.jsonl", tmp_path / "wiki.jsonl")
    shutil.copy(setup["bench"] / "arc-easy" / "Dev.jsonl", tmp_path / "ARC-Easy-Train.jsonl")
    (tmp_path / "recipe.toml").write_text(
        'val_every = 3\n[[source]]\nname = "wiki"\npath = "wiki.jsonl"\nshare = 0.97\n'
        '[[source]]\nname = "arc"\npath = "ARC-Easy-Train.jsonl"\nformat = "arc"\n', encoding="utf-8")
    from unicode_substrate.run import Run

    tok = Run.load(setup["run"]).tokenizer_path
    res = run_cli("prepare", "--recipe", tmp_path / "recipe.toml", "--tokenizer", tok, "--out", tmp_path / "mix",
                  "--no-progress")
    assert res.exit_code == 0, res.output
    out = tmp_path / "ev"
    res = run_cli("eval", "--run", setup["run"], "--data", tmp_path / "mix", "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "mix" / "manifest.json").read_text())
    plain = json.loads((root / "data" / "manifest.json").read_text())
    # one rule for both: the tokenizer recorded relative to the data folder where they share a root
    assert manifest["tokenizer_path"] == os.path.relpath(tok, tmp_path / "mix")
    assert plain["tokenizer_path"] == os.path.relpath(tok, root / "data")
    score = _results(out)["data_score"]
    names = [s["name"] for s in score["sources"]]
    assert names == ["wiki", "arc"]
    assert sum(s["val_bytes"] for s in score["sources"]) == score["val_bytes"]
    assert sum(s["val_tokens"] for s in score["sources"]) == score["val_tokens"]
    nats = sum(s["val_loss"] * s["val_tokens"] for s in score["sources"])
    assert nats == pytest.approx(score["val_loss"] * score["val_tokens"], rel=1e-9)
    lines = res.output.splitlines()
    assert lines[0].split() == ["data", "tokens", "UTF-8", "bytes", "loss", "bits/byte"]
    assert lines[1].split()[0] == "all" and lines[1].split()[-1] == f"{score['val_bpb']:.4f}"
    assert [ln.split()[1] for ln in lines[2:4]] == ["wiki", "arc"]
    assert lines[-1] == f"results written to {out}"
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "| source arc |" in md and f"{score['sources'][1]['val_bpb']:.4f}" in md


def test_data_tokens_below_the_first_document_scores_that_document_as_its_help_says(setup, tmp_path):
    """--data-tokens 1 cannot hold a whole document: the first one is scored, as training validation
    counts --eval-tokens (the two figures stay equal), and the help text says so."""
    import numpy as np

    first = int(np.load(setup["data"] / "val_docs.npy")[0, 0])
    assert first > 1
    res = run_cli("eval", "--run", setup["run"], "--data", setup["data"], "--data-tokens", "1",
                  "--out", tmp_path / "ev", "--no-progress")
    assert res.exit_code == 0, res.output
    score = _results(tmp_path / "ev")["data_score"]
    assert score["val_tokens"] == first - 1 and score["max_tokens"] == 1
    assert f"{first - 1:,}" in res.output.splitlines()[1]  # the count scored is printed
    help_text = " ".join(run_cli("eval", "--help").output.split())
    assert "at least the first document" in help_text


def test_grow_over_seeds_names_the_final_folders_that_exist(setup, tmp_path):
    cfg = _grow_config(setup, tmp_path, layers=1)
    r = run_cli("grow", "--config", cfg, "--data", setup["data"], "--table", setup["root"] / "table",
                "--out", tmp_path / "g", "--no-progress", "--seeds", "1,2")
    assert r.exit_code == 0, r.output
    assert f"grown model in {tmp_path / 'g'}/seed-S/final for seeds 1, 2;" in r.output
    assert all((tmp_path / "g" / f"seed-{s}" / "final").is_dir() for s in (1, 2))
    assert not (tmp_path / "g" / "final").exists()


def test_every_benchmark_option_applies_with_data(setup, tmp_path):
    """--task-path alone names the benchmark; --split, --no-bos and --loglik-choices reach it (none is dropped)."""
    out = tmp_path / "ev"
    r = run_cli("eval", "--run", setup["run"], "--data", setup["data"], "--task-path",
                f"arc-easy={setup['bench'] / 'arc-easy'}", "--split", "validation", "--no-bos", "--loglik-choices",
                "letters", "--runs", "1", "--limit", "2", "--out", out)
    assert r.exit_code == 0, r.output
    res = _results(out)
    assert set(res["results"]) == {"arc-easy"} and "data_score" in res
    s = res["settings"]
    assert s["splits"] == {"arc-easy": "validation"} and set(s["task_paths"]) == {"arc-easy"}
    assert s["paper"]["bos"] is False and s["loglik"]["choices"] == "letters"


def test_an_option_that_would_do_nothing_is_refused(setup, tmp_path):
    out = tmp_path / "ev"
    base = ("eval", "--run", setup["run"], "--out", out)
    for extra, flag in ((("--split", "test"), "--split"), (("--bos",), "--bos"), (("--loglik-choices", "letters"), "--loglik-choices"),
                        (("--data-dir", setup["bench"]), "--data-dir"), (("--seed", "1"), "--seed")):
        one_line_error(run_cli(*base, "--data", setup["data"], *extra), flag, "--data alone")
    one_line_error(run_cli(*base, "--tasks", "arc-easy", "--data-dir", setup["bench"], "--data-tokens", "5"), "--data-tokens")
    one_line_error(run_cli(*base, "--hf-model", setup["root"], "--data", setup["data"]), "not --hf-model")
    assert not out.exists()
