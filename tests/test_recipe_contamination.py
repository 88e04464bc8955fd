"""prepare --recipe --decontaminate: 13-gram overlaps with benchmark items read by eval's own readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from _cli_helpers import one_line_error, run_cli
from _train_helpers import make_char_tokenizer
from unicode_substrate.recipes.contamination import build_index, ngrams, screen, units
from unicode_substrate.tokens import TokenData

PLANTED = "Which of these processes moves most of the water from the ocean surface into the air above it every day?"
NOT_PLANTED = "Which tool would a student use to measure how much mass a small rock sample has in the school laboratory?"
FILLER = [f"filler text {i} about rivers, hills and the weather of the valley. " * 3 for i in range(40)]


def write_benchmarks(root: Path) -> Path:
    """ARC-Easy in its original release layout (``ARC-Easy-Dev.jsonl``, the split eval scores)."""
    rows = [{"id": "Mercury_1", "question": {"stem": PLANTED, "choices": [
        {"text": "evaporation", "label": "A"}, {"text": "condensation", "label": "B"}]}, "answerKey": "A"},
            {"id": "Mercury_2", "question": {"stem": NOT_PLANTED, "choices": [
                {"text": "a balance", "label": "A"}, {"text": "a ruler", "label": "B"}]}, "answerKey": "A"}]
    folder = root / "bench" / "arc-easy"
    folder.mkdir(parents=True)
    (folder / "ARC-Easy-Dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root / "bench"


def setup(tmp_path: Path):
    # The planted copy differs in case and punctuation, as a web page quoting the question would.
    planted = "A quiz page. " + PLANTED.upper().replace("?", "!") + " The answer is evaporation."
    texts = FILLER[:17] + [planted] + FILLER[17:]
    corpus = tmp_path / "wiki.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    recipe = tmp_path / "r.toml"
    recipe.write_text('val_every = 5\n[[source]]\nname = "wiki"\npath = "wiki.jsonl"\n', encoding="utf-8")
    tok = make_char_tokenizer(tmp_path / "tok", "".join(texts) + PLANTED)
    return recipe, tok, write_benchmarks(tmp_path), planted


def test_a_planted_question_is_found_and_dropped_and_one_not_planted_is_not_reported(tmp_path):
    from unicode_substrate.tokenizer import Tokenizer

    recipe, tok, bench, planted = setup(tmp_path)
    res = run_cli("prepare", "--recipe", recipe, "--tokenizer", tok, "--out", tmp_path / "d", "--no-progress",
                  "--decontaminate", bench)
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "d" / "contamination.json").read_text(encoding="utf-8"))
    arc = rep["tasks"]["arc-easy"]
    assert arc["items"] == 2
    assert [f["id"] for f in arc["found"]] == ["Mercury_1"]
    assert arc["found"][0]["documents"][0]["source"] == "wiki" and arc["found"][0]["documents"][0]["document"] == 17
    assert rep["dropped"] is True and len(rep["documents"]) == 1
    md = (tmp_path / "d" / "contamination.md").read_text(encoding="utf-8")
    assert "Mercury_1" in md and "Mercury_2" not in md
    data = TokenData.load(tmp_path / "d")
    src = data.manifest["sources"][0]
    assert src["documents"] == 41 and src["dropped"] == 1
    assert data.manifest["contamination"]["items_found"] == {"arc-easy": 1}
    t = Tokenizer.load(tok)
    everything = t.decode(np.concatenate((data.train, data.val)).tolist())
    assert "OCEAN SURFACE" not in everything and FILLER[0] in everything

    # Report only: the same finding, nothing dropped.
    res = run_cli("prepare", "--recipe", recipe, "--tokenizer", tok, "--out", tmp_path / "r", "--no-progress",
                  "--decontaminate", bench, "--decontaminate-report-only")
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "r" / "contamination.json").read_text(encoding="utf-8"))
    assert [f["id"] for f in rep["tasks"]["arc-easy"]["found"]] == ["Mercury_1"] and rep["dropped"] is False
    data = TokenData.load(tmp_path / "r")
    assert data.manifest["sources"][0]["dropped"] == 0
    assert "OCEAN SURFACE" in Tokenizer.load(tok).decode(np.concatenate((data.train, data.val)).tolist())


def test_ngrams_are_of_lower_cased_words_without_punctuation_and_of_characters_without_spaces():
    assert units("The Cat's hat, on-the MAT!") == ["the", "cats", "hat", "onthe", "mat"]
    assert units("我们的中国 text") == ["我", "们", "的", "中", "国", "text"]
    assert len(ngrams(" ".join(f"w{i}" for i in range(20)))) == 8
    assert ngrams("too short to hold thirteen words") == set()


def test_a_chinese_sentence_is_found_by_characters(tmp_path):
    zh = "我们在北京的一所大学里学习中国历史和文化已经三年了"
    folder = tmp_path / "bench" / "translation"
    folder.mkdir(parents=True)
    (folder / "opus.en-zh-dev.en").write_text("We have studied Chinese history and culture in Beijing for three years.\n",
                                             encoding="utf-8")
    (folder / "opus.en-zh-dev.zh").write_text(zh + "\n", encoding="utf-8")
    index = build_index(tmp_path / "bench")
    assert screen(index, "zh-wiki", 0, "他说：" + zh + "。") is True
    assert screen(index, "zh-wiki", 1, "我们在上海的一所中学里学习数学和物理已经两年了") is False
    assert [d["document"] for d in index.documents] == [0]


def test_a_missing_benchmark_task_is_one_line_with_nothing_written(tmp_path):
    recipe, tok, bench, _ = setup(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    res = run_cli("prepare", "--recipe", recipe, "--tokenizer", tok, "--out", tmp_path / "d", "--no-progress",
                  "--decontaminate", bench, "--tasks", "csqa")
    one_line_error(res, "no csqa validation file")
    assert {p.name for p in tmp_path.iterdir()} == before
