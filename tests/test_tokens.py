"""The one token writer (unicode_substrate/tokens.py): held byte-identical, and the same for --corpus and --recipe."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

from _cli_helpers import run_cli
from _tokenizer_helpers import build_small

# sha256 of what `substrate prepare` wrote before the writers became one, with the lossless tokenizer of
# tests/_tokenizer_helpers.py. The manifest is hashed without package_version (it changes with every release) and the two
# paths it records (corpus and tokenizer).
# The built-in corpus is the running Python's docstrings, so its figures hold for that Python only.
BUILTIN = {
    (3, 11, 7): {
        "train.bin": "9c931960342c853f691836a2852fff128db3a6ca147fda284aa18d9fa4a14124",
        "val.bin": "a64f43eb5e2447b6dc7cab674e58ff51862f6db69454e1328e21046753fce69b",
        "val_docs.npy": "11f035b2f93ed526788162eb511e3f0d973925ebda6dc71afdc30de07a55a1c2",
        "manifest.json": "79c7055fed26cf7eb170b71cd8f0395f34c87b9522109b1aaf13df59d3cd5d3a",
    },
}
# A fixed corpus (any Python): documents with literal special-token text, empty ones and a character without a merge.
FIXED_TEXTS = [f"doc {i}: the cat </s> sat on <unk> the mat [INST] " * (1 + i % 4) + "中文 ß\u0301" for i in range(40)]
FIXED_TEXTS[5] = ""
FIXED = {
    "train.bin": "b11eeff0611aab495feb61e3df91acdbfa5b7b9898d7ea2aa5100c908bef386b",
    "val.bin": "eebd3a38176252972ce79215c371de999c09a18063fb175193c9af09cd42ae11",
    "val_docs.npy": "872a1d49daa76189d4d5d6f7837e157d6b7b44ff8277efe5090cbaa755a7427c",
    "manifest.json": "3424c7885d0e3154b6ffdb4f520a12a00bfa3a71ddd2ba7a22117442bfaf76ef",
}


def _hashes(out) -> dict[str, str]:
    got = {}
    for f in sorted(out.iterdir()):
        data = f.read_bytes()
        if f.name == "manifest.json":
            m = json.loads(data)
            m.pop("package_version")
            for key in ("corpus", "tokenizer_path"):  # paths, which depend on where the test runs
                m.pop(key)
            data = json.dumps(m, sort_keys=True).encode()
        got[f.name] = hashlib.sha256(data).hexdigest()
    return got


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return build_small(tmp_path_factory.mktemp("tokens") / "tok")


def test_prepare_on_the_builtin_corpus_is_byte_identical(tok, tmp_path):
    want = BUILTIN.get(sys.version_info[:3])
    if want is None:
        pytest.skip(f"the built-in corpus's figures are recorded for Python {', '.join(map(str, BUILTIN))} only")
    out = tmp_path / "data"
    r = run_cli("prepare", "--tokenizer", tok, "--out", out)
    assert r.exit_code == 0, r.output
    assert _hashes(out) == want


def _fixed_corpus(tmp_path):
    corpus = tmp_path / "fixed.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in FIXED_TEXTS), encoding="utf-8")
    return corpus


def test_prepare_on_a_fixed_corpus_is_byte_identical(tok, tmp_path):
    out = tmp_path / "data"
    r = run_cli("prepare", "--corpus", _fixed_corpus(tmp_path), "--tokenizer", tok, "--out", out, "--val-every", "3")
    assert r.exit_code == 0, r.output
    assert _hashes(out) == FIXED


@pytest.mark.parametrize("mode", ["text", "special"])
def test_corpus_and_a_one_source_recipe_write_the_same_tokens(tok, tmp_path, mode):
    """`</s>` and `--special-tokens` mean the same for --corpus and --recipe: same arrays, same manifest record."""
    corpus = _fixed_corpus(tmp_path)
    (tmp_path / "r.toml").write_text('val_every = 3\n[[source]]\nname = "fixed"\npath = "fixed.jsonl"\n')
    a, b = tmp_path / "a", tmp_path / "b"
    r = run_cli("prepare", "--corpus", corpus, "--tokenizer", tok, "--out", a, "--val-every", "3", "--special-tokens", mode)
    assert r.exit_code == 0, r.output
    r = run_cli("prepare", "--recipe", tmp_path / "r.toml", "--tokenizer", tok, "--out", b, "--special-tokens", mode)
    assert r.exit_code == 0, r.output
    for name in ("train.bin", "val.bin", "val_docs.npy"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert ma["special_tokens"] == mb["special_tokens"] == mode
    assert ma["unknown"] == mb["unknown"] and ma["splits"] == mb["splits"]
    for key in ("tokenizer_path", "tokenizer_layout", "tokenizer_manifest_sha256", "separator_id", "dtype"):
        assert ma[key] == mb[key], key


def test_a_literal_separator_ends_no_document_in_either(tok, tmp_path):
    from unicode_substrate.tokenizer import Tokenizer
    from unicode_substrate.tokens import TokenData

    corpus = _fixed_corpus(tmp_path)
    (tmp_path / "r.toml").write_text('val_every = 3\n[[source]]\nname = "fixed"\npath = "fixed.jsonl"\n')
    sep = Tokenizer.load(tok).token_to_id("</s>")
    literal = {split: sum(t.count("</s>") for i, t in enumerate(FIXED_TEXTS) if (i % 3 == 2) == (split == "val"))
               for split in ("train", "val")}
    for mode in ("text", "special"):
        out = tmp_path / f"r-{mode}"
        r = run_cli("prepare", "--recipe", tmp_path / "r.toml", "--tokenizer", tok, "--out", out, "--special-tokens", mode)
        assert r.exit_code == 0, r.output
        data = TokenData.load(out)
        for split in ("train", "val"):
            docs = data.manifest["splits"][split]["documents"]
            # one separator between documents; with "special" also one per literal `</s>` in the text
            want = docs - 1 + (literal[split] if mode == "special" else 0)
            assert int((getattr(data, split) == sep).sum()) == want, (mode, split)
