"""substrate prepare: corpus -> memory-mapped token arrays with an exact, verified manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from _train_helpers import make_char_tokenizer
from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.tokens import TokenData, write_token_data

DOCS = [f"the {i}th café document, with 中文 and naïve text number {i}.\nthat is all." * (1 + i % 3) for i in range(30)]


@pytest.fixture()
def setup(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in DOCS), encoding="utf-8")
    tok = make_char_tokenizer(tmp_path / "tok", "".join(DOCS))
    return corpus, tok


def _prepare(corpus, tok, out, *extra):
    return CliRunner().invoke(main, ["prepare", "--corpus", str(corpus), "--tokenizer", str(tok), "--out", str(out),
                                     "--val-every", "5", "--no-progress", *extra])


def test_prepare_writes_exact_splits_and_is_deterministic(setup, tmp_path):
    from unicode_substrate.tokenizer import Tokenizer

    corpus, tok_dir = setup
    res = _prepare(corpus, tok_dir, tmp_path / "data")
    assert res.exit_code == 0, res.output
    assert "wrote token data to" in res.output
    data = TokenData.load(tmp_path / "data")
    tok = Tokenizer.load(tok_dir)
    assert data.train.dtype == np.dtype("<u2") and data.tokenizer_sha256 == tok.manifest_sha256
    val_docs = [d for i, d in enumerate(DOCS) if i % 5 == 4]
    train_docs = [d for i, d in enumerate(DOCS) if i % 5 != 4]
    sep = tok.token_to_id("</s>")
    for split, docs in (("train", train_docs), ("val", val_docs)):
        ids = np.asarray(getattr(data, split))
        want = []
        for d in docs:
            want += ([sep] if want else []) + tok.encode(d)
        assert ids.tolist() == want
        assert tok.decode(ids.tolist()) == "</s>".join(docs)  # nothing lost, documents in corpus order
        info = data.manifest["splits"][split]
        assert info == {"tokens": len(want), "documents": len(docs), "utf8_bytes": sum(len(d.encode()) for d in docs)}
    assert data.val_docs[-1].tolist() == [len(data.val), data.manifest["splits"]["val"]["utf8_bytes"]]
    # Same inputs, same bytes.
    assert _prepare(corpus, tok_dir, tmp_path / "again").exit_code == 0
    for name in ("train.bin", "val.bin", "val_docs.npy", "manifest.json"):
        assert (tmp_path / "data" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_prepare_refuses_overwrite_tiny_corpus_and_edited_data(setup, tmp_path):
    corpus, tok = setup
    assert _prepare(corpus, tok, tmp_path / "data").exit_code == 0
    res = _prepare(corpus, tok, tmp_path / "data")
    assert res.exit_code == 2 and res.output.strip().endswith("already exists; force replaces it (option --force)")
    small = tmp_path / "small.txt"
    small.write_text("the only document", encoding="utf-8")
    res = _prepare(small, tok, tmp_path / "small")
    assert res.exit_code == 2 and "too small to split" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "small").exists()
    with open(tmp_path / "data" / "train.bin", "r+b") as f:
        f.write(b"\x07\x00")
    with pytest.raises(SubstrateError, match="train.bin does not match its sha256"):
        TokenData.load(tmp_path / "data")


def test_large_vocabularies_use_uint32(tmp_path):
    docs = [([70_000 + i, 5, 69_999], 9) for i in range(20)]
    write_token_data(tmp_path / "d", docs, 131_072, "ab" * 32, val_every=4)
    data = TokenData.load(tmp_path / "d")
    assert data.train.dtype == np.dtype("<u4") and int(data.train.max()) == 70_018  # doc 19 went to validation
    with pytest.raises(SubstrateError, match="outside the vocabulary"):
        write_token_data(tmp_path / "e", [([1, 2, 70_000], 3)] * 5, 65_536, "ab" * 32)


@pytest.mark.slow
def test_prepare_with_a_built_lossless_tokenizer_round_trips(tmp_path):
    from unicode_substrate.tokenizer import Tokenizer, build_tokenizer

    tok_dir = build_tokenizer(tmp_path / "tok")
    corpus = tmp_path / "corpus"
    (corpus / "en").mkdir(parents=True)
    for i, d in enumerate(DOCS):
        (corpus / "en" / f"{i:02d}.txt").write_text(d, encoding="utf-8")
    res = _prepare(corpus, tok_dir, tmp_path / "data")
    assert res.exit_code == 0, res.output
    data = TokenData.load(tmp_path / "data")
    tok = Tokenizer.load(tok_dir)
    assert data.vocab_size == 65_536 == tok.vocab_size
    files = sorted(range(len(DOCS)), key=lambda i: f"{i:02d}")
    train_docs = [DOCS[i] for n, i in enumerate(files) if n % 5 != 4]
    assert tok.decode(np.asarray(data.train).tolist()) == "</s>".join(train_docs)
