"""tokenizer-stats: known answers on fixed texts, the author's table layout, the published table, bad input."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

import pytest

from _cli_helpers import one_line_error, run_cli
from _train_helpers import make_char_tokenizer
from conftest import REFERENCE_DIR
from unicode_substrate.corpus import LANGUAGE_NAMES
from unicode_substrate.errors import SubstrateError
from unicode_substrate.tokenizer.stats import Cell, Stats, language_order, measure, read_reference, tokenizer_stats

PUBLISHED = Path(REFERENCE_DIR.parent / "tokenizer-benchmarking" / "_tokenizer-benchmarking.csv")
# The character tokenizer knows these characters and one merge, "t" + "h"; "z" has no id (<unk>).
ALPHABET = "the catéf"
TEXTS = {"en": {"a.txt": "the hat", "b.txt": "a cat", "empty.txt": ""}, "fr": {"c.txt": "café", "d.txt": "zz"}}


@pytest.fixture
def world(tmp_path):
    texts = tmp_path / "texts"
    for lang, files in TEXTS.items():
        (texts / lang).mkdir(parents=True)
        for name, text in files.items():
            (texts / lang / name).write_text(text, encoding="utf-8")
    tok = make_char_tokenizer(tmp_path / "tok", ALPHABET)
    # The same vocabulary as a bare Hugging Face directory (no manifest of ours), with a decoder that joins
    # tokens as ours does (the library's default joins them with spaces: no round trip).
    from tokenizers import Tokenizer, decoders

    hf = tmp_path / "hf"
    hf.mkdir()
    lib = Tokenizer.from_file(str(tok / "tokenizer.json"))
    lib.decoder = decoders.Fuse()
    lib.save(str(hf / "tokenizer.json"))
    return texts, tok, hf


def test_measures_equal_a_hand_computation(world):
    texts, tok, hf = world
    stats = measure({"ours": tok, "hf": hf}, texts)
    assert stats.languages == ["English", "French"] and stats.tokenizers == ["ours", "hf"]
    assert stats.empty == {"English": 1}
    for name in ("ours", "hf"):  # ours and the library give the same answers on the same tokenizer.json
        en, fr = stats.cells[("English", name)], stats.cells[("French", name)]
        # "the hat" -> th e ␣ h a t (6 tokens, 7 characters); "a cat" -> a ␣ c a t (5, 5)
        assert en.documents == 2 and en.tokens == 11
        assert en.chars_per_token == pytest.approx((7 / 6 + 5 / 5) / 2)
        assert en.chars_per_token_std == pytest.approx(statistics.stdev([7 / 6, 1.0]))  # n - 1
        assert en.bytes_per_token == pytest.approx(en.chars_per_token)  # ASCII: one byte a character
        assert en.unknown_rate == 0 and en.round_trip
        # "café" -> c a f é (4 tokens, 4 characters, 5 bytes); "zz" -> <unk> <unk>
        assert fr.chars_per_token == pytest.approx((4 / 4 + 2 / 2) / 2)
        assert fr.bytes_per_token == pytest.approx((5 / 4 + 2 / 2) / 2)
        assert fr.unknown_rate == pytest.approx(2 / 6)
        assert not fr.round_trip and fr.round_trip_failures == 1
        vocab = 2 + len(set(ALPHABET) | {"t", "h"}) + 1  # <unk>, </s>, the characters, "th"
        assert en.vocab_size == vocab and en.ids_used == len({"th", "e", " ", "h", "a", "t", "c"})
        assert en.vocab_share == pytest.approx(7 / vocab)


def test_table_csv_reads_back_in_the_authors_layout(world, tmp_path):
    texts, tok, hf = world
    res = run_cli("tokenizer-stats", "--texts", texts, "--tokenizer", f"lossless={tok}", "--tokenizer",
                  f"GPT-2={hf}", "--out", tmp_path / "stats", "--no-progress")
    assert res.exit_code == 0, res.output
    out = tmp_path / "stats"
    assert sorted(p.name for p in out.iterdir()) == ["chars_per_token.png", "heatmap.png", "manifest.json",
                                                     "measures.csv", "table.csv", "table.md"]
    rows = list(csv.reader(io.StringIO((out / "table.csv").read_text(encoding="utf-8"))))
    assert rows[0] == ["LanguageName", "lossless", "GPT-2"]
    assert [r[0] for r in rows[1:]] == ["English", "French"]
    assert float(rows[1][1]) == pytest.approx((7 / 6 + 1) / 2)
    md = (out / "table.md").read_text(encoding="utf-8")
    for heading in ("Characters per token", "UTF-8 bytes per token", "Unknown tokens", "Round trip", "Vocabulary used"):
        assert f"## {heading}" in md
    assert "no (1 of 2)" in md and "Published" not in md
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(out / "table.csv", index_col=0)  # as the notebook reads its own table
    assert df.index.name == "LanguageName" and list(df.columns) == ["lossless", "GPT-2"]
    assert df.loc["French", "GPT-2"] == pytest.approx(1.0)


def test_the_same_inputs_give_the_same_bytes(world, tmp_path):
    texts, tok, _ = world
    a = tokenizer_stats(tmp_path / "a", [f"t={tok}"], texts=texts)
    b = tokenizer_stats(tmp_path / "b", [f"t={tok}"], texts=texts)
    assert {p.name: p.read_bytes() for p in a.iterdir()} == {p.name: p.read_bytes() for p in b.iterdir()}


def test_languages_are_ordered_by_their_mean_for_the_bars():
    def cell(cpt):
        return Cell(1, 0, 1, cpt, float("nan"), cpt, 0.0, 0, 1, 10)
    cells = {("A", "x"): cell(1.0), ("A", "y"): cell(3.0), ("B", "x"): cell(4.0), ("B", "y"): cell(4.0),
             ("C", "x"): cell(2.0), ("C", "y"): cell(2.0)}
    stats = Stats(["A", "B", "C"], ["x", "y"], cells, {}, {}, "t")
    assert language_order(stats) == ["B", "A", "C"]  # means 4, 2, 2: highest first, ties by name


@pytest.fixture(scope="module")
def published() -> Path:
    if not PUBLISHED.is_file():
        pytest.skip(f"the author's tokenizer table is not at {PUBLISHED}")
    return PUBLISHED


def test_the_published_table_is_read_and_named_as_our_language_table_names_it(published):
    ref = read_reference(published)
    assert ref.tokenizers == ["DeepSeek-R1", "GPT-2", "GPT-4", "Mistral", "Qwen", "bvv241-2-3", "bvv241-max", "bvv241-nemo"]
    assert len(ref.values) == 32
    assert set(ref.values) == set(LANGUAGE_NAMES.values()) - {"Undetermined"}  # every folder code has its row
    assert ref.values["English"]["GPT-4"] == pytest.approx(4.151953632978567)  # SPEC: 4.15 for GPT-4's tokenizer
    assert ref.values["Russian"]["bvv241-2-3"] == pytest.approx(1.57, abs=0.005)


def test_reference_figures_are_set_beside_ours_and_labelled(world, tmp_path, published):
    texts, tok, _ = world
    out = tokenizer_stats(tmp_path / "stats", {"lossless": tok}, texts=texts, reference=published)
    md = (out / "table.md").read_text(encoding="utf-8")
    assert "## Published figures" in md and "Wikipedia and Wikisource" in md
    line = next(ln for ln in md.splitlines() if ln.startswith("| English |") and "1.74" in ln)
    assert "published: bvv241-2-3" in md and "ours: lossless" in md, line
    assert (out / "table.csv").read_text(encoding="utf-8").splitlines()[0] == "LanguageName,lossless"  # ours only


def test_bad_input_is_one_line_and_writes_nothing(world, tmp_path):
    texts, tok, hf = world
    (tmp_path / "none").mkdir()
    bad_ref = tmp_path / "ref.csv"
    bad_ref.write_text("Language,GPT-2\nEnglish,4.0\n", encoding="utf-8")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "tokenizer.json").write_text("{}", encoding="utf-8")
    (tmp_path / "lone" / "en").mkdir(parents=True)  # JSON can spell a lone surrogate; no tokenizer takes it
    (tmp_path / "lone" / "en" / "docs.jsonl").write_text('{"text": "ok"}\n{"text": "a\\ud800b"}\n', encoding="utf-8")
    out = tmp_path / "stats"
    cases = [
        (["--texts", tmp_path / "none", "--tokenizer", f"t={tok}"], "no texts"),
        (["--texts", tmp_path / "missing", "--tokenizer", f"t={tok}"], "do not exist"),
        (["--texts", texts, "--tokenizer", f"t={tmp_path / 'gone'}"], "does not exist"),
        (["--texts", texts, "--tokenizer", f"t={tok}", "--tokenizer", f"t={hf}"], "given twice"),
        (["--texts", texts, "--tokenizer", f"../t={tok}"], "must be a non-empty name"),
        (["--texts", texts, "--tokenizer", f"a/b={tok}"], "must be a non-empty name"),
        (["--texts", texts, "--tokenizer", str(tok)], "NAME=PATH"),
        (["--texts", texts, "--tokenizer", f"t={tmp_path / 'none'}"], "neither a tokenizer directory"),
        (["--texts", texts, "--tokenizer", f"t={tok}", "--reference", bad_ref], "LanguageName"),
        (["--texts", texts, "--tokenizer", f"t={tmp_path / 'broken'}"], "cannot be loaded"),
        (["--texts", tmp_path / "lone", "--tokenizer", f"t={hf}"], "docs.jsonl:2: a \\ud800-\\udfff escape without its pair"),
    ]
    for args, fragment in cases:
        one_line_error(run_cli("tokenizer-stats", *args, "--out", out, "--no-progress"), fragment)
        assert not out.exists()
    with pytest.raises(SubstrateError, match="at least one tokenizer"):
        tokenizer_stats(out, [], texts=texts)
