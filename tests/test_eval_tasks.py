"""Benchmark loaders: every released and exported form parses into the same items; bad files get one line."""

from __future__ import annotations

import json

import pytest

from _eval_helpers import ARC, PAIRS, SUBJECTS, write_export, write_original
from unicode_substrate.eval.tasks import TASKS as EVAL_TASKS
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.prompts import prompt
from unicode_substrate.eval.tasks import Item, load_task, parse_tasks, select


def _key(it: Item):
    return (it.task, it.question, it.answer, it.choices, it.context, it.group)


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return [write_original(root / "original"), write_export(root / "parquet"), write_export(root / "jsonl", "jsonl")]


@pytest.mark.parametrize("task", EVAL_TASKS)
def test_every_form_gives_the_same_items(forms, task):
    loaded = [sorted(map(_key, load_task(task, f)[0])) for f in forms]
    assert loaded[0] and loaded[0] == loaded[1] == loaded[2]


def test_items_carry_the_released_content(forms):
    mmlu = {it.question: it for it in load_task("mmlu", forms[0])[0]}
    assert len(mmlu) == sum(len(r) for r in SUBJECTS.values())  # the dev/ split is not read
    it = mmlu["What is two plus two?"]
    assert it.choices == (("A", "3"), ("B", "4"), ("C", "5"), ("D", "6")) and it.answer == "B" and it.group == "toy_math"
    arc = {it.id: it for it in load_task("arc-easy", forms[1])[0]}
    assert arc["q2"].choices[2] == ("3", "ice") and arc["q2"].answer == "3"  # native numeric labels kept
    assert len(arc["q3"].choices) == 3
    squad = load_task("squad", forms[0])[0]
    # unanswerable (s3) and first answer longer than 8 characters (s2) are filtered out, as the paper does
    assert sorted(it.id for it in squad) == ["s1", "s4"]
    assert {it.answer for it in squad} == {"the mat", "nine"}
    tr = load_task("translation", forms[0])[0]
    assert sorted({it.group for it in tr}) == ["en-ru", "ru-en"] and len(tr) == 2 * len(PAIRS)
    assert {(it.question, it.answer) for it in tr if it.group == "en-ru"} == set(PAIRS)
    assert {it.answer for it in load_task("boolq", forms[2])[0]} == {"True", "False"}


def test_selection_is_seeded_and_limited(forms):
    a, _ = load_task("mmlu", forms[0], seed=1)
    b, _ = load_task("mmlu", forms[0], seed=1)
    c, _ = load_task("mmlu", forms[0], seed=2, limit=2)
    assert [x.id for x in a] == [x.id for x in b] and len(c) == 2
    tr, _ = load_task("translation", forms[0], limit=1)
    assert sorted(it.group for it in tr) == ["en-ru", "ru-en"]  # the limit holds per direction
    many = [Item("squad", str(i), "q", "ans") for i in range(300)]
    assert len(select("squad", many)) == 256


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("task,name,content,expected", [
    ("arc-easy", "Dev.jsonl", '{"question": {"stem": "q", "choices": [{"label": "A", "text": "x"}, '
     '{"label": "B", "text": "y"}]}, "answerKey": "A"}\n{"question": {"choices": []}, "answerKey": "A"}\n',
     "Dev.jsonl line 2: no question.stem"),
    ("csqa", "dev.jsonl", '{"question": "q", "choices": {"label": ["A", "B"], "text": ["x", "y"]}, "answerKey": "C"}\n',
     "dev.jsonl line 1: answerKey 'C' is not one of the labels A, B"),
    ("arc-challenge", "dev.jsonl", '{"question": "q"\n', "dev.jsonl line 1: not valid JSON"),
    ("mmlu", "test/x_test.csv", "q,a,b,c,d,A\nq,a,b,c,E\n", "x_test.csv line 2: expected 6 fields"),
    ("mmlu", "test/x_test.csv", "q,a,b,c,d,Z\n", "x_test.csv line 1: answer 'Z' is not 0-3 or A-D"),
    ("boolq", "dev.jsonl", '{"question": "q", "passage": "p", "answer": "yes"}\n', "line 1: answer 'yes' is not true or false"),
    ("squad", "dev-v2.0.json", '{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "answers": []}]}]}]}',
     "qas[0]: no question"),
    ("translation", "opus.en-ru-dev.en", "a\nb\n", "expected two line-aligned files"),
    ("mmlu", "test.parquet", "not parquet", "is not a readable Parquet file"),
])
def test_malformed_file_is_one_line_naming_it(tmp_path, task, name, content, expected):
    path = _write(tmp_path / task / name, content)
    with pytest.raises(SubstrateError) as e:
        load_task(task, tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and expected in msg and str(path.parent) in msg


def test_unaligned_translation_files(tmp_path):
    _write(tmp_path / "translation" / "x.en", "a\nb\n")
    _write(tmp_path / "translation" / "x.ru", "а\n")
    with pytest.raises(SubstrateError, match=r"x.en has 2 lines but .*x.ru has 1: not line-aligned"):
        load_task("translation", tmp_path)


def test_opus_sentences_kept_as_the_authors_data_path_has_them(tmp_path):
    # load_dataset("Helsinki-NLP/opus-100") splits the files at "\n" and keeps every line as it is:
    # spaces at the ends stay, and an empty sentence is a pair like the others.
    from unicode_substrate.eval.prompts import new_tokens
    from unicode_substrate.eval.tasks.score import score_bleu

    _write(tmp_path / "translation" / "opus.en-ru-dev.en", " Hello there. \n\nCat\n")
    _write(tmp_path / "translation" / "opus.en-ru-dev.ru", "Привет.\n\nКошка \n")
    items, _ = load_task("translation", tmp_path)
    en_ru = {it.id: it for it in items if it.group == "en-ru"}
    assert sorted((it.question, it.answer) for it in en_ru.values()) == [
        ("", ""), (" Hello there. ", "Привет."), ("Cat", "Кошка ")]
    spaced, empty, cat = (next(it for it in en_ru.values() if it.question == q) for q in (" Hello there. ", "", "Cat"))
    assert prompt(spaced) == "Translate from English to Russian:\n Hello there. \nAnswer:"
    assert new_tokens(cat) == len("Кошка ") and new_tokens(empty) == 0  # N counts the reference's spaces
    assert score_bleu("", "") == ("", 0.0)  # sacrebleu's sentence BLEU of an empty pair, as the script scores it


def test_missing_task_and_unknown_task(tmp_path):
    with pytest.raises(SubstrateError, match=r"no arc-easy validation file below .* \(looked for ARC-Easy-Dev.jsonl"):
        load_task("arc-easy", tmp_path)
    _write(tmp_path / "mmlu" / "dev" / "x_dev.csv", "q,a,b,c,d,A\n")  # only a split that is not evaluated
    with pytest.raises(SubstrateError, match="no mmlu test file below .* data/test/"):
        load_task("mmlu", tmp_path)
    with pytest.raises(SubstrateError, match="unknown task 'hellaswag'; the tasks are mmlu, arc-easy"):
        parse_tasks("mmlu,hellaswag")
    assert parse_tasks(" mmlu, boolq ,mmlu") == ["mmlu", "boolq"]


def test_export_answer_as_letter_and_original_arc_fields(tmp_path):
    rows = [{"question": "q?", "subject": "s", "choices": ["a", "b", "c", "d"], "answer": "C"}]
    _write(tmp_path / "mmlu" / "test.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    (it,), _ = load_task("mmlu", tmp_path)
    assert it.answer == "C" and it.group == "s"
    assert ARC[0]["answerKey"] == "B"


# --- few-shot (MMLU dev split) ----------------------------------------------------------------
COLORS_Q = "Question: Color of snow?\nOptions: A) white B) blue C) red D) green\nAnswer:"
SHOT1 = "Question: Color of grass?\nOptions: A) green B) red C) blue D) gray\nAnswer: A\n\n"
SHOT2 = "Question: Color of the sky?\nOptions: A) pink B) brown C) blue D) white\nAnswer: C\n\n"


@pytest.fixture(scope="module")
def dev_forms(tmp_path_factory):
    root = tmp_path_factory.mktemp("fewshot")
    return [write_original(root / "original"), write_export(root / "parquet", dev=True),
            write_export(root / "jsonl", "jsonl", dev=True)]


@pytest.mark.parametrize("form", [0, 1, 2])
def test_fewshot_prompt_is_exact(dev_forms, form):
    def snow(k):
        return next(it for it in load_task("mmlu", dev_forms[form], fewshot=k)[0] if it.question == "Color of snow?")
    assert prompt(snow(0)) == COLORS_Q  # zero-shot: unchanged
    assert prompt(snow(1)) == SHOT1 + COLORS_Q
    assert prompt(snow(2)) == SHOT1 + SHOT2 + COLORS_Q
    items, files = load_task("mmlu", dev_forms[form], fewshot=2)
    assert any("dev" in f.name for f in files)  # the dev files are recorded with the test files
    assert all(len(it.shots) == 2 and {s.group for s in it.shots} == {it.group} for it in items)


def test_fewshot_split_column(tmp_path):
    rows = [{"question": "dq", "subject": "s", "choices": ["a", "b", "c", "d"], "answer": 1, "split": "dev"},
            {"question": "tq", "subject": "s", "choices": ["e", "f", "g", "h"], "answer": 2, "split": "test"}]
    _write(tmp_path / "mmlu" / "mmlu.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    (it,), _ = load_task("mmlu", tmp_path, fewshot=1)  # the dev row is not evaluated, only shown
    assert prompt(it) == ("Question: dq\nOptions: A) a B) b C) c D) d\nAnswer: B\n\n"
                          "Question: tq\nOptions: A) e B) f C) g D) h\nAnswer:")


def test_fewshot_errors(tmp_path, dev_forms):
    with pytest.raises(SubstrateError, match="few-shot count must be a whole number of at least 0, got -1"):
        load_task("mmlu", dev_forms[0], fewshot=-1)
    with pytest.raises(SubstrateError, match="only mmlu has a dev split"):
        load_task("arc-easy", dev_forms[0], fewshot=1)
    assert load_task("arc-easy", dev_forms[0], fewshot=0)[0]
    with pytest.raises(SubstrateError, match="needs 4 dev rows of subject 'toy_(math|colors)', found 3"):
        load_task("mmlu", dev_forms[0], fewshot=4)
    _write(tmp_path / "mmlu" / "test" / "x_test.csv", "q,a,b,c,d,A\n")
    with pytest.raises(SubstrateError) as e:
        load_task("mmlu", tmp_path, fewshot=1)
    assert "\n" not in str(e.value) and "few-shot needs the mmlu dev split" in str(e.value)
    _write(tmp_path / "mmlu" / "dev" / "y_dev.csv", "q,a,b,c,d,A\n")  # a dev file of another subject
    with pytest.raises(SubstrateError, match="few-shot 1 needs 1 dev rows of subject 'x', found 0 in .*y_dev.csv"):
        load_task("mmlu", tmp_path, fewshot=1)
    assert load_task("mmlu", tmp_path)[0]  # zero-shot needs no dev file
    export = write_export(tmp_path / "export")  # no dev file, no split column
    with pytest.raises(SubstrateError, match="few-shot needs the mmlu dev split: .* has no dev file"):
        load_task("mmlu", export, fewshot=1)
