"""Guard rails where a user is about to be misled: lost characters, a mislabelled tokenizer, odd widths, silent runs, bare --help."""

from __future__ import annotations

import json

import pytest

from _cli_helpers import one_line_error
from _cli_helpers import run_cli as run
from _tokenizer_helpers import build_small, write_small_stats
from _train_helpers import TINY_MODEL, make_data, make_table


def test_prepare_says_how_much_became_unk_and_suggests_lossless(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(4):  # two astral characters per line, 50 lines per document
        (corpus / f"{i}.txt").write_text("plain text \U0001F600 more text \U00010348 end.\n" * 50, encoding="utf-8")
    paper = build_small(tmp_path / "paper", "bvv241-2-3")
    r = run("prepare", "--tokenizer", paper, "--corpus", corpus, "--out", tmp_path / "d1", "--val-every", "2", "--no-progress")
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "d1" / "manifest.json").read_text())
    total = sum(s["tokens"] for s in m["splits"].values())
    assert m["unknown"]["tokens"] == 400  # each astral character is one <unk> in a paper layout
    assert f"warning: 400 of {total:,} tokens ({400 / total:.1%}) are <unk>: layout bvv241-2-3" in r.output
    assert "--layout lossless" in r.output
    lossless = build_small(tmp_path / "lossless", "lossless")
    r = run("prepare", "--tokenizer", lossless, "--corpus", corpus, "--out", tmp_path / "d2", "--val-every", "2", "--no-progress")
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    assert json.loads((tmp_path / "d2" / "manifest.json").read_text())["unknown"]["tokens"] == 0


def test_bvv241_max_without_its_intersection_list_is_refused(tmp_path):
    stats = write_small_stats(tmp_path / "s.txt")
    one_line_error(run("build-tokenizer", "--layout", "bvv241-max", "--ngrams", stats, "--out", tmp_path / "tok"),
                   "intersection", "bvv241-max")
    assert not (tmp_path / "tok").exists()


def test_bit_codes_take_any_width_that_gives_distinct_codes(tmp_path):
    from unicode_substrate.table import load_table

    tok = build_small(tmp_path / "tok")
    r = run("render", "--tokenizer", tok, "--method", "bit", "--dim", "100", "--out", tmp_path / "t100")
    assert r.exit_code == 0, r.output
    t = load_table(tmp_path / "t100")
    assert t.dim == 100 and "collisions: none" in r.output
    one_line_error(run("render", "--tokenizer", tok, "--method", "bit", "--dim", "15", "--out", tmp_path / "t15"),
                   "32768 distinct binary codes", "65536 tokens")
    one_line_error(run("render", "--tokenizer", tok, "--method", "bit", "--dim", "5000", "--out", tmp_path / "t5000"), "at most 4096")


def test_help_lists_choices_and_defaults_and_explains_every_option():
    from unicode_substrate.choices import LAYOUT_NAMES
    from unicode_substrate.cli.train import compare, generate, train
    from unicode_substrate.model.config import PRESETS
    from unicode_substrate.train.config import TrainConfig

    text = run("train", "--help").output
    assert all(name in text for name in PRESETS)
    assert f"[default: {TrainConfig.steps}]" in text and f"[default: {TrainConfig.lr}]" in text
    assert f"[default: {TrainConfig.steps}]" in run("compare", "--help").output
    assert all(name in run("build-tokenizer", "--help").output for name in LAYOUT_NAMES)
    for cmd in (train, compare, generate):
        bare = [p.name for p in cmd.params if not getattr(p, "help", None)]
        assert not bare, f"{cmd.name}: options without help: {bare}"


def test_progress_lines_every_5_percent_when_stderr_is_not_a_terminal(capsys):
    from unicode_substrate.progress import Progress

    lines = Progress(40, "train", every_s=1e9)
    for _ in range(40):
        lines.set_postfix("loss 5.0000, 1,234 tokens/s")
        lines.update(1)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 20, err
    assert err[0].startswith("train: step 2/40 (5 %), ") and err[0].endswith(" s, loss 5.0000, 1,234 tokens/s")
    assert err[-1].startswith("train: step 40/40 (100 %)")
    off = Progress(40, "train", enabled=False)
    off.update(40)
    off.write("hidden")
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_train_ends_with_its_final_validation_figures(tmp_path):
    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    r = run("train", "--data", data, "--table", table, "--out", tmp_path / "run", "--steps", "2", "--batch-size", "2",
            "--device", "cpu", *[f"--set={k}={v}" for k, v in TINY_MODEL.items()])
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "train: step 1/2 (50 %)" in r.output  # CliRunner's stderr is no terminal: progress lines, not a bar
    assert (f"final validation at step 2: loss {s['val_loss']:.4f} nats/token, {s['val_bpb']:.4f} bits per byte "
            f"over {s['val_tokens']:,} tokens ({s['val_bytes']:,} bytes)") in r.output
    assert r.output.strip().splitlines()[-1] == f"run written to {tmp_path / 'run'}"


def test_every_training_option_is_reachable_from_train_help():
    """Nothing is TOML-only: every TrainConfig field has a train option (preset: --preset, model: --set)."""
    import dataclasses

    from unicode_substrate.cli.train import train
    from unicode_substrate.train.config import TrainConfig

    options = {o for p in train.params for o in p.opts}
    special = {"preset": "--preset", "model": "--set"}
    for f in dataclasses.fields(TrainConfig):
        flag = special.get(f.name, "--" + f.name.replace("_", "-"))
        assert flag in options, f"TrainConfig.{f.name} has no {flag} option in train --help"
    text = run("train", "--help").output
    assert "--beta1" in text and "--eval-batch-size" in text and "--log-every" in text and "--log L1,L2" in text
