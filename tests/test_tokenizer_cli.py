"""`substrate build-tokenizer` and `substrate ngrams` on good and bad input: one line, exit 2, nothing left behind."""

from __future__ import annotations

import pytest

from _cli_helpers import one_line_error as assert_one_line_error
from _cli_helpers import run_cli as run
from _tokenizer_helpers import write_small_stats


def leftovers(parent):
    # The output directory itself, or the hidden temporary one an unfinished write would leave.
    return sorted(p.name for p in parent.iterdir() if p.name in ("tok", "stats") or p.name.startswith((".tok.", ".stats.")))


def test_build_tokenizer_cli_writes_and_refuses_existing(tmp_path):
    stats = write_small_stats(tmp_path / "s.txt")
    out = tmp_path / "tok"
    r = run("build-tokenizer", "--ngrams", stats, "--out", out)
    assert r.exit_code == 0, r.output
    assert "lossless (65536 ids" in r.output and str(out) in r.output
    first = (out / "manifest.json").read_bytes()
    assert_one_line_error(run("build-tokenizer", "--ngrams", stats, "--out", out), "already exists", "--force")
    assert (out / "manifest.json").read_bytes() == first
    r = run("build-tokenizer", "--ngrams", stats, "--out", out, "--force")
    assert r.exit_code == 0 and (out / "manifest.json").read_bytes() == first


BAD_STATS = {
    "syntax": ("[{'lang': 'en',", ["syntax error", "line 1"]),
    "schema": ("{'lang': 'en'}", ["expected a list"]),
    "not-str": ("[{'lang': 'en', 'top_ngrams': {2: [(3.5, 1)]}}]", ["not a string"]),
    "space": ("[{'lang': 'en', 'top_ngrams': {2: [('a\\tb', 1)]}}]", ["contains whitespace"]),
    "code": ("open('x').read()", ["not a plain Python literal"]),
}


@pytest.mark.parametrize("case", sorted(BAD_STATS))
def test_bad_ngram_files(tmp_path, case):
    content, fragments = BAD_STATS[case]
    f = tmp_path / "bad.txt"
    f.write_text(content, encoding="utf-8")
    assert_one_line_error(run("build-tokenizer", "--ngrams", f, "--out", tmp_path / "tok"), "bad.txt", *fragments)
    assert leftovers(tmp_path) == []


def test_non_utf8_ngram_file_names_offset(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"[{'lang': '\xe9n'}]")
    assert_one_line_error(run("build-tokenizer", "--ngrams", f, "--out", tmp_path / "tok"), "bad.txt", "byte offset 11")
    assert leftovers(tmp_path) == []


def test_more_grams_than_slots_says_how_many_and_which(tmp_path):
    grams = [chr(0x4E00 + i // 90) + chr(0x4E00 + i % 90) for i in range(8000)]
    f = tmp_path / "many.txt"
    f.write_text(repr([{"lang": "zh", "top_ngrams": {2: [(g, 1) for g in grams]}}]), encoding="utf-8")
    r = run("build-tokenizer", "--ngrams", f, "--out", tmp_path / "tok")
    last = sorted(grams)[-1]
    assert_one_line_error(r, "8000 n-grams do not fit the 7936 slots", "64 would be dropped", repr(sorted(grams)[7936]), "--top-cnt")
    assert last not in r.output or "..." in r.output
    assert leftovers(tmp_path) == []
    r = run("build-tokenizer", "--ngrams", f, "--top-cnt", "7000", "--out", tmp_path / "tok")  # a lower top-cnt fits
    assert r.exit_code == 0, r.output


def test_unknown_layout_and_misused_options(tmp_path):
    stats = write_small_stats(tmp_path / "s.txt")
    assert_one_line_error(run("build-tokenizer", "--layout", "bvv999", "--out", tmp_path / "tok"), "'bvv999' is not one of", "lossless")
    assert_one_line_error(run("build-tokenizer", "--layout", "bvv241-2-3", "--out", tmp_path / "tok"), "n-gramms-2-3.txt (option --ngrams)")
    assert_one_line_error(run("build-tokenizer", "--ngrams", stats, "--intersection", stats, "--out", tmp_path / "tok"), "only bvv241-max")
    assert_one_line_error(run("build-tokenizer", "--ngrams", tmp_path / "missing.txt", "--out", tmp_path / "tok"), "does not exist")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("content", [b"not json at all", b'{"version": "1.0", "model": {"type": "Nope"}}', b"[1, 2, 3]", b"\xff\xfe"])
def test_from_tokenizer_that_is_not_a_tokenizer(tmp_path, content):
    f = tmp_path / "tokenizer.json"
    f.write_bytes(content)
    assert_one_line_error(run("build-tokenizer", "--from-tokenizer", f, "--out", tmp_path / "tok"), "is not a Hugging Face tokenizer.json")
    assert leftovers(tmp_path) == []


def test_ngrams_cli_bad_corpora(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run("ngrams", "--corpus", empty, "--out", tmp_path / "stats"), "corpus is empty")
    words = tmp_path / "digits.txt"
    words.write_text("123 456 !!!", encoding="utf-8")
    assert_one_line_error(run("ngrams", "--corpus", words, "--out", tmp_path / "stats"), "yields no n-grams")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    assert_one_line_error(run("ngrams", "--corpus", bad, "--out", tmp_path / "stats"), "latin1.txt", "byte offset 3")
    assert leftovers(tmp_path) == []


def test_intersection_with_whitespace_is_refused(tmp_path):
    stats = tmp_path / "s.txt"
    stats.write_text(repr([{"lang": "en", "top_ngrams": {2: [("th", 1)]}}]), encoding="utf-8")
    inter = tmp_path / "inter.txt"
    inter.write_text("\nfoo\nbar baz\n", encoding="utf-8")
    r = run("build-tokenizer", "--layout", "bvv241-max", "--ngrams", stats, "--intersection", inter, "--out", tmp_path / "tok")
    assert_one_line_error(r, "inter.txt, line 3", "contains whitespace")
    assert leftovers(tmp_path) == []
