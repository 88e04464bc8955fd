"""substrate generate: samples from a trained run, decoded with its tokenizer; mismatches refused."""

from __future__ import annotations

import json

from click.testing import CliRunner

from _train_helpers import make_char_tokenizer, make_table
from unicode_substrate.cli import main

TEXT = ["the cat sat on the mat. " * 8, "a dog ate the hat! " * 8] * 10


def test_generate_from_a_trained_run(tmp_path):
    from unicode_substrate.tokenizer import Tokenizer

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXT), encoding="utf-8")
    tok_dir = make_char_tokenizer(tmp_path / "tok", "".join(TEXT))
    tok = Tokenizer.load(tok_dir)
    table = make_table(tmp_path / "table", dim=8, vocab=tok.vocab_size, tokenizer_sha=tok.manifest_sha256)
    run = CliRunner().invoke
    assert run(main, ["prepare", "--corpus", str(corpus), "--tokenizer", str(tok_dir), "--out", str(tmp_path / "data"),
                      "--val-every", "5"]).exit_code == 0
    model = ["--set", f"vocab_size={tok.vocab_size}", "--set", "d_model=16", "--set", "n_layer=1", "--set", "n_head=2",
             "--set", "context=16", "--set", "n_embed=8"]
    res = run(main, ["train", "--preset", "tiny-glyph", *model, "--data", str(tmp_path / "data"), "--table", str(table),
                     "--out", str(tmp_path / "run"), "--steps", "3", "--batch-size", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    args = ["generate", "--run", str(tmp_path / "run"), "--prompt", "the c", "--max-new-tokens", "6", "--temperature", "0"]
    a, b = run(main, args), run(main, args)
    assert a.exit_code == 0, a.output
    text = a.output.rstrip("\n")
    # six new tokens of at most two characters each (a </s> decodes to nothing)
    assert a.output == b.output and text.startswith("the c") and len(text) <= len("the c") + 12
    res = run(main, [*args[:3], "--samples", "2", "--temperature", "1", "--seed", "3"])
    assert res.exit_code == 0 and res.output.count("--- sample") == 2
    # A table that is not the run's is refused, in one line.
    other = make_table(tmp_path / "other", dim=8, vocab=tok.vocab_size, tokenizer_sha=tok.manifest_sha256, seed=1)
    res = run(main, [*args, "--table", str(other)])
    assert res.exit_code == 2 and res.output.startswith("error: table") and "not the one run" in res.output
