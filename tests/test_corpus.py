"""Corpus readers: .txt, directories with <lang>/ folders, .jsonl, .parquet, the built-in corpus, bad files."""

from __future__ import annotations

import json

import pytest

from unicode_substrate.corpus import builtin_documents, iter_documents
from unicode_substrate.errors import SubstrateError


def test_txt_file_and_language(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("hello world", encoding="utf-8")
    assert list(iter_documents(f)) == [("und", "hello world")]
    assert list(iter_documents(f, lang="en")) == [("en", "hello world")]


def test_directory_with_language_folders_in_sorted_order(tmp_path):
    (tmp_path / "ru").mkdir()
    (tmp_path / "en").mkdir()
    (tmp_path / "ru" / "b.txt").write_text("привет", encoding="utf-8")
    (tmp_path / "en" / "z.txt").write_text("zeta", encoding="utf-8")
    (tmp_path / "en" / "a.txt").write_text("alpha", encoding="utf-8")
    (tmp_path / "top.txt").write_text("top", encoding="utf-8")
    (tmp_path / "en" / "notes.md").write_text("ignored", encoding="utf-8")
    assert list(iter_documents(tmp_path)) == [("en", "alpha"), ("en", "zeta"), ("ru", "привет"), ("und", "top")]
    assert {lang for lang, _ in iter_documents(tmp_path, lang="fr")} == {"fr"}


def test_jsonl_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    j = tmp_path / "d.jsonl"
    j.write_text(json.dumps({"text": "one"}) + "\n\n" + json.dumps({"text": "two", "id": 2}) + "\n", encoding="utf-8")
    assert [t for _, t in iter_documents(j)] == ["one", "two"]
    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["x", None, "y"], "n": [1, 2, 3]}), p)
    assert [t for _, t in iter_documents(p)] == ["x", "y"]


def test_bad_files_name_file_and_offset(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good text \xff\xfe more")
    with pytest.raises(SubstrateError, match=r"bad.txt is not valid UTF-8 \(byte offset 10\)"):
        list(iter_documents(bad))
    j = tmp_path / "bad.jsonl"
    j.write_bytes(b'{"text": "ok"}\n{"text": "\xc3"}\n')
    with pytest.raises(SubstrateError, match=r"byte offset 25"):
        list(iter_documents(j))
    j.write_text('{"text": "ok"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(SubstrateError, match=r"bad.jsonl:2: expected an object"):
        list(iter_documents(j))
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"not parquet")
    with pytest.raises(SubstrateError, match="bad.parquet"):
        list(iter_documents(p))
    with pytest.raises(SubstrateError, match="does not exist"):
        list(iter_documents(tmp_path / "missing"))


def test_unreadable_file_is_one_clear_error(tmp_path, monkeypatch):
    from pathlib import Path

    f = tmp_path / "locked.txt"
    f.write_text("x", encoding="utf-8")

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)  # root ignores file modes, so simulate the refusal
    with pytest.raises(SubstrateError, match="cannot read .*locked.txt: Permission denied"):
        list(iter_documents(f))


def test_builtin_corpus_is_english_docstrings_of_about_1_8_mb():
    docs = builtin_documents()
    size = sum(len(d.encode("utf-8")) for d in docs)
    assert 1_000_000 < size < 3_000_000
    assert builtin_documents() is docs  # extracted once per process
    assert any("Return" in d for d in docs)
    assert all(lang == "en" for lang, _ in iter_documents(None))
