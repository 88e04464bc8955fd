"""prepare --recipe --decontaminate: 13-gram overlaps with benchmark items found and read by eval's own discovery and readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from _cli_helpers import one_line_error, run_cli
from _train_helpers import make_char_tokenizer
from unicode_substrate.data.contamination import build_index, ngrams, screen, units
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


# One passage per benchmark, each long enough to hold 13-grams, put into its official release layout.
PASSAGES = {
    "mmlu": "Which amendment to the constitution of the republic was ratified by the smallest number of provinces in total?",
    "arc-easy": "Which of these instruments would a geologist carry to measure the hardness of a mineral found on a hill?",
    "arc-challenge": "A student heats two identical beakers of water on one stove; which change shows that energy moved between them?",
    "csqa": "Where would a tired traveller most likely leave a heavy suitcase while waiting for the very late night train?",
    "squad": "The old lighthouse on the northern cape was rebuilt in stone after a storm destroyed the wooden tower in winter.",
    "boolq": "The river festival is held every summer in the valley town and draws boats from every village along the coast.",
    "translation": "The committee will meet again next week to discuss the new schedule for the regional bus and train services.",
}


def test_every_benchmark_in_its_official_layout_is_checked_and_a_planted_passage_of_each_is_dropped(tmp_path):
    from _eval_helpers import unpack_releases
    from unicode_substrate.eval.tasks import TASKS as EVAL_TASKS
    from unicode_substrate.tokenizer import Tokenizer

    bench = unpack_releases(tmp_path / "bench", PASSAGES)
    # Each planted copy differs in case and punctuation, as a page quoting the item would.
    planted = {task: f"Quoted from a study guide: {p.upper().replace(',', '').replace('?', '!')} End."
               for task, p in PASSAGES.items()}
    texts = FILLER[:10] + list(planted.values()) + FILLER[10:]
    corpus = tmp_path / "wiki.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    recipe = tmp_path / "r.toml"
    recipe.write_text('val_every = 5\n[[source]]\nname = "wiki"\npath = "wiki.jsonl"\n', encoding="utf-8")
    tok = make_char_tokenizer(tmp_path / "tok", "".join(texts))
    res = run_cli("prepare", "--recipe", recipe, "--tokenizer", tok, "--out", tmp_path / "d", "--no-progress",
                  "--decontaminate", bench)
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "d" / "contamination.json").read_text(encoding="utf-8"))
    assert rep["checked"] == list(EVAL_TASKS) and rep["not_found"] == {}
    ids = {task: sorted(f["id"] for f in t["found"]) for task, t in rep["tasks"].items()}
    assert ids == {"mmlu": ["toy:1"], "arc-easy": ["eDev0"], "arc-challenge": ["cDev0"], "csqa": ["c1"], "squad": ["q1"],
                   "boolq": ["dev.jsonl:1"],  # BoolQ rows have no id: file and line
                   "translation": ["en-ru:opus.en-ru-dev:1", "ru-en:opus.en-ru-dev:1"]}  # source of one, reference of the other
    docs = {task: {d["document"] for f in t["found"] for d in f["documents"]} for task, t in rep["tasks"].items()}
    assert docs == {task: {10 + k} for k, task in enumerate(PASSAGES)}  # each found in its own document, no other
    # Every split eval can score is read (ARC and OPUS test files too), each file as eval finds it.
    assert rep["tasks"]["arc-easy"]["splits"] == ["validation", "test"]
    assert [Path(f).name for f in rep["tasks"]["mmlu"]["files"]] == ["toy_test.csv"]  # never dev/, val/, auxiliary_train/
    assert rep["tasks"]["csqa"]["items"] == 1 and rep["tasks"]["arc-easy"]["items"] == 3 + 4
    md = (tmp_path / "d" / "contamination.md").read_text(encoding="utf-8")
    assert f"Checked: {', '.join(EVAL_TASKS)}." in md and "no file found" not in md
    data = TokenData.load(tmp_path / "d")
    assert data.manifest["sources"][0]["dropped"] == len(PASSAGES)
    assert data.manifest["contamination"]["checked"] == list(EVAL_TASKS)
    everything = Tokenizer.load(tok).decode(np.concatenate((data.train, data.val)).tolist())
    assert "Quoted from a study guide" not in everything and FILLER[0] in everything


def test_the_report_lists_the_tasks_it_found_no_file_for(tmp_path):
    recipe, tok, bench, _ = setup(tmp_path)  # ARC-Easy only
    res = run_cli("prepare", "--recipe", recipe, "--tokenizer", tok, "--out", tmp_path / "d", "--no-progress",
                  "--decontaminate", bench, "--decontaminate-report-only")
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "d" / "contamination.json").read_text(encoding="utf-8"))
    assert rep["checked"] == ["arc-easy"]
    assert sorted(rep["not_found"]) == sorted(["mmlu", "arc-challenge", "csqa", "squad", "translation", "boolq"])
    assert rep["not_found"]["csqa"].startswith("no csqa validation file below")
    md = (tmp_path / "d" / "contamination.md").read_text(encoding="utf-8")
    assert "Checked: arc-easy." in md and "Not checked, no file found:" in md and "- boolq: no boolq validation file" in md
    assert TokenData.load(tmp_path / "d").manifest["contamination"]["not_found"] == \
        ["mmlu", "arc-challenge", "csqa", "squad", "translation", "boolq"]
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("prepare", "--recipe", recipe, "--tokenizer", tok, "--out", tmp_path / "e", "--no-progress",
                  "--decontaminate", empty)
    one_line_error(res, "no benchmark file below")
    assert not (tmp_path / "e").exists()


def test_a_generative_answer_is_screened_and_a_choice_label_is_not():
    from unicode_substrate.data.contamination import item_fields
    from unicode_substrate.eval.tasks import Item

    reference = "The committee approved the new budget for the coming year after a long debate."
    translation = Item(task="translation", id="1", question="Комитет утвердил бюджет.", answer=reference)
    mc = Item(task="arc-easy", id="2", question=PLANTED, answer="A", choices=(("A", "evaporation"), ("B", "condensation")))
    assert reference in item_fields(translation)  # a reference translation must not be in the training data either
    assert "A" not in item_fields(mc) and "evaporation" in item_fields(mc)
