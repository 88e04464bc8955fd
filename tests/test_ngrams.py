"""N-gram mining with the paper's rules, the file schema, and `substrate ngrams`."""

from __future__ import annotations

import ast
import json

import pytest
from click.testing import CliRunner

from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.tokenizer import ngrams as N


def test_preprocessing_and_word_rules():
    assert N.preprocess("it’s `a`\t1984 x\r") == "it's 'a'  x "
    # Latin, Latin-1/Extended-A and Cyrillic words only; the apostrophe stays inside words.
    assert list(N.text_ngrams(N.preprocess("Don’t café Привет שלום ab"), 3)) == ["Don", "on'", "n't", "caf", "afé", "При", "рив", "иве", "вет"]
    assert list(N.text_ngrams("a bc", 2)) == ["bc"]  # words shorter than n give nothing


def test_cjk_documents_count_all_non_space_characters():
    assert list(N.text_ngrams("中国 人，a", 2)) == ["中国", "国人", "人，", "，a"]


def test_mine_keeps_most_common_per_n_per_language():
    docs = [("en", "the then there"), ("en", "the"), ("zh", "中国中国")]
    stats = N.mine(docs, sizes=(2, 3), top_k=2)
    assert [e["lang"] for e in stats] == ["en", "zh"]
    en = stats[0]["top_ngrams"]
    assert en[2] == [("th", 4), ("he", 4)] and en[3] == [("the", 4), ("hen", 1)]
    assert stats[1]["top_ngrams"][2] == [("中国", 2), ("国中", 1)]
    assert stats[1]["language_name"] == "Chinese"


def test_literal_and_json_forms_round_trip(tmp_path):
    stats = N.mine([("en", "the nation and the ration")], sizes=(2, 3), top_k=5)
    lit = tmp_path / "s.txt"
    lit.write_bytes(N.to_literal(stats))
    js = tmp_path / "s.json"
    js.write_bytes(N.to_json(stats))
    assert ast.literal_eval(lit.read_text(encoding="utf-8")) == stats
    assert N.load(lit) == N.load(js) == stats


@pytest.mark.parametrize(
    "content, message",
    [
        ("[{'lang': 'en', 'top_ngrams': {2: [('th', 1)]}", "syntax error at line 1"),
        ("__import__('os').system('true')", "not a plain Python literal"),
        ("{'lang': 'en'}", "expected a list"),
        ("[{'lang': 'en', 'top_ngrams': {2: [('th',)]}}]", "is not a (gram, count) pair"),
        ("[{'lang': 'en', 'top_ngrams': {2: [(5, 1)]}}]", "gram 5 is not a string"),
        ("[{'lang': 'en', 'top_ngrams': {2: [('t h', 1)]}}]", "contains whitespace"),
        ("[{'lang': 'en', 'top_ngrams': {'x': []}}]", "is not an integer"),
    ],
)
def test_bad_statistics_files(tmp_path, content, message):
    f = tmp_path / "bad.txt"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(SubstrateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        N.load(f)


def test_cli_ngrams_writes_paper_schema_and_json(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "en").mkdir(parents=True)
    (corpus / "en" / "a.txt").write_text("the nation there\n" * 3, encoding="utf-8")
    (corpus / "ru").mkdir()
    (corpus / "ru" / "b.txt").write_text("привет мир", encoding="utf-8")
    out = tmp_path / "stats"
    r = CliRunner().invoke(main, ["ngrams", "--corpus", str(corpus), "--max-n", "3", "--top-k", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    stats = ast.literal_eval((out / "ngrams.txt").read_text(encoding="utf-8"))
    assert [e["lang"] for e in stats] == ["en", "ru"] and set(stats[0]["top_ngrams"]) == {2, 3}
    assert json.loads((out / "ngrams.json").read_text(encoding="utf-8"))[0]["top_ngrams"]["2"][0] == list(stats[0]["top_ngrams"][2][0])
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["kind"] == "ngrams"
    # The directory feeds the tokenizer builder directly.
    from unicode_substrate.tokenizer import Tokenizer, build_tokenizer

    tok = Tokenizer.load(build_tokenizer(tmp_path / "tok", ngrams=out))
    assert tok.encode("the") == [tok.token_to_id("the")]


@pytest.mark.slow
def test_cli_ngrams_default_is_builtin_corpus_and_deterministic(tmp_path):
    for name in ("a", "b"):
        r = CliRunner().invoke(main, ["ngrams", "--out", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "a" / "ngrams.txt").read_bytes() == (tmp_path / "b" / "ngrams.txt").read_bytes()
    stats = N.load(tmp_path / "a")
    assert stats[0]["lang"] == "en" and stats[0]["top_ngrams"][3][0][0] == "the"
