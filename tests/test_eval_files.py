"""Benchmark files found where the official downloads unpack, read exactly, or refused in one line.

The fixtures (``_eval_helpers.unpack_releases``, and small files written here) follow each
release's documented layout and format (invented questions): the MMLU tarball's
data/{dev,val,test,auxiliary_train}/{subject}_{split}.csv without header; ARC-V1-Feb2018-2/ARC-{Easy,Challenge}/ARC-*-{Train,Dev,Test}.jsonl; CommonsenseQA's
{train,dev}_rand_split.jsonl and test_rand_split_no_answers.jsonl; SQuAD v2's
{train,dev}-v2.0.json; BoolQ's {train,dev}.jsonl and SuperGLUE's BoolQ/{train,val,test}.jsonl;
OPUS-100's opus-100-corpus/v1.0/supervised/<pair>/opus.<pair>-{train,dev,test}.<lang>.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.prompts import prompt
from unicode_substrate.eval.tasks import load_task, parse_tasks

from _eval_helpers import arc_rows, unpack_releases, write_csv, write_jsonl, write_lines


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    return unpack_releases(tmp_path_factory.mktemp("downloads"))


def _rel(files, root):
    return sorted(Path(f).relative_to(root).as_posix() for f in files)


def test_release_layouts_are_found_by_name(releases):
    root = releases
    items, files = load_task("mmlu", root)
    assert _rel(files, root) == ["data/test/toy_test.csv"] and len(items) == 3  # never val/ nor auxiliary_train/
    items, files = load_task("mmlu", root, fewshot=2)
    assert _rel(files, root) == ["data/dev/toy_dev.csv", "data/test/toy_test.csv"]
    assert all(len(it.shots) == 2 and it.shots[0].question == "dev question 0?" for it in items)
    items, files = load_task("arc-easy", root)
    assert _rel(files, root) == ["ARC-V1-Feb2018-2/ARC-Easy/ARC-Easy-Dev.jsonl"] and len(items) == 3
    items, files = load_task("arc-challenge", root)
    assert _rel(files, root) == ["ARC-V1-Feb2018-2/ARC-Challenge/ARC-Challenge-Dev.jsonl"] and len(items) == 2
    assert _rel(load_task("csqa", root)[1], root) == ["csqa/dev_rand_split.jsonl"]
    assert _rel(load_task("squad", root)[1], root) == ["squad/dev-v2.0.json"]
    assert _rel(load_task("boolq", root)[1], root) == ["boolq/dev.jsonl"]
    items, files = load_task("translation", root)
    sup = "opus-100-corpus/v1.0/supervised"
    assert _rel(files, root) == [f"{sup}/en-ru/opus.en-ru-dev.en", f"{sup}/en-ru/opus.en-ru-dev.ru",
                                 f"{sup}/en-zh/opus.en-zh-dev.en", f"{sup}/en-zh/opus.en-zh-dev.zh"]
    assert sorted({it.group for it in items}) == ["en-ru", "en-zh", "ru-en", "zh-en"]  # both directions
    assert {it.question for it in items if it.group == "en-ru"} == {"dev cat", "dev house"}


def test_split_test_selects_the_test_files(releases):
    root = releases
    items, files = load_task("translation", root, split="test")
    assert all(f.name.startswith(("opus.en-ru-test.", "opus.en-zh-test.")) for f in files) and len(files) == 4
    assert {it.question for it in items if it.group == "en-ru"} == {"test cat", "test house"}
    assert _rel(load_task("arc-easy", root, split="test")[1], root) == ["ARC-V1-Feb2018-2/ARC-Easy/ARC-Easy-Test.jsonl"]
    for task in ("csqa", "squad", "boolq"):  # released without answers (or not at all)
        with pytest.raises(SubstrateError, match=f"{task} is not evaluated on a test split"):
            load_task(task, root, split="test")
    with pytest.raises(SubstrateError, match=r"mmlu is not evaluated on a validation split \(its evaluated splits: test"):
        load_task("mmlu", root, split="validation")


def test_an_unpacked_arc_release_under_arc_easy_gives_easy_only(tmp_path):
    arc = tmp_path / "arc-easy" / "ARC-V1-Feb2018-2"
    write_jsonl(arc / "ARC-Easy" / "ARC-Easy-Dev.jsonl", arc_rows("e", 3))
    write_jsonl(arc / "ARC-Challenge" / "ARC-Challenge-Dev.jsonl", arc_rows("c", 2))
    items, _ = load_task("arc-easy", tmp_path)
    assert sorted(it.id for it in items) == ["e0", "e1", "e2"]
    # both sets side by side in one arc/ folder: each task takes its own file
    side = tmp_path / "side"
    write_jsonl(side / "arc" / "ARC-Easy-Dev.jsonl", arc_rows("e", 3))
    write_jsonl(side / "arc" / "ARC-Challenge-Dev.jsonl", arc_rows("c", 2))
    assert sorted(it.id for it in load_task("arc-challenge", side)[0]) == ["c0", "c1"]
    assert sorted(it.id for it in load_task("arc-easy", side)[0]) == ["e0", "e1", "e2"]
    # the Hugging Face export of ai2_arc: one folder per set, generic shard names
    hf = tmp_path / "hf" / "ai2_arc"
    for s, tag in (("ARC-Easy", "e"), ("ARC-Challenge", "c")):
        write_jsonl(hf / s / "validation-00000-of-00001.jsonl",
               [{"id": r["id"], "question": r["question"]["stem"], "answerKey": r["answerKey"],
                 "choices": {"label": [c["label"] for c in r["question"]["choices"]],
                             "text": [c["text"] for c in r["question"]["choices"]]}} for r in arc_rows(tag, 2)])
    assert sorted(it.id for it in load_task("arc_challenge", tmp_path / "hf")[0]) == ["c0", "c1"]


def test_two_files_for_one_split_are_refused_naming_both(releases, tmp_path):
    copy = tmp_path / "copy"
    write_jsonl(copy / "a" / "ARC-Easy-Dev.jsonl", arc_rows("e", 1))
    write_jsonl(copy / "b" / "ARC-Easy-Dev.jsonl", arc_rows("e", 1))
    with pytest.raises(SubstrateError) as e:
        load_task("arc-easy", copy)
    msg = str(e.value)
    assert "\n" not in msg and "two files could be the arc-easy validation split" in msg
    assert str(copy / "a" / "ARC-Easy-Dev.jsonl") in msg and str(copy / "b" / "ARC-Easy-Dev.jsonl") in msg
    # BoolQ's own dev.jsonl beside SuperGLUE's BoolQ/val.jsonl
    write_jsonl(tmp_path / "bq" / "boolq" / "dev.jsonl", [{"question": "q", "passage": "p", "answer": True}])
    write_jsonl(tmp_path / "bq" / "boolq" / "BoolQ" / "val.jsonl", [{"question": "q", "passage": "p", "idx": 0, "label": True}])
    with pytest.raises(SubstrateError, match=r"two files could be the boolq validation split: .*BoolQ/val.jsonl and .*dev.jsonl"):
        load_task("boolq", tmp_path / "bq")
    # one MMLU subject twice (a release CSV and the same subject in an export)
    write_csv(tmp_path / "mm" / "data" / "test" / "toy_test.csv", [("q?", "a", "b", "c", "d", "A")])
    write_jsonl(tmp_path / "mm" / "mmlu" / "test.jsonl", [{"question": "q?", "subject": "toy", "choices": list("abcd"), "answer": 0}])
    with pytest.raises(SubstrateError, match=r"two files could be the mmlu test split \(subject toy\)"):
        load_task("mmlu", tmp_path / "mm")


def test_task_path_points_a_task_at_a_file_or_folder(releases, tmp_path):
    arc = releases / "ARC-V1-Feb2018-2"
    items, files = load_task("arc-easy", None, task_path=arc / "ARC-Challenge" / "ARC-Challenge-Test.jsonl")
    assert [f.name for f in files] == ["ARC-Challenge-Test.jsonl"] and len(items) == 4  # a file is taken as it is
    items, files = load_task("arc-easy", tmp_path, task_path=arc)
    assert [f.name for f in files] == ["ARC-Easy-Dev.jsonl"]
    one_side = releases / "opus-100-corpus" / "v1.0" / "supervised" / "en-ru" / "opus.en-ru-dev.ru"
    items, files = load_task("translation", None, task_path=one_side)  # one side of a pair brings the other
    assert sorted(f.name for f in files) == ["opus.en-ru-dev.en", "opus.en-ru-dev.ru"]
    with pytest.raises(SubstrateError, match="task path arc-easy=.*nowhere: no such file or folder"):
        load_task("arc-easy", tmp_path, task_path=tmp_path / "nowhere")


def test_a_benchmark_is_one_module_the_registry_finds(tmp_path, monkeypatch):
    from unicode_substrate.eval.tasks import TASKS
    from unicode_substrate.eval.tasks.registry import discover

    assert list(TASKS) == ["mmlu", "arc-easy", "arc-challenge", "csqa", "squad", "translation", "boolq"]  # the paper's order
    assert all(t.name == name and t.reader and t.prompt and t.scorer and t.metric for name, t in TASKS.items())
    # a package holding one more module with a Task: found, placed by its order, and nothing else lists it
    package = tmp_path / "more_tasks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("X = 1\n")
    (package / "newbench.py").write_text(
        "from unicode_substrate.eval.tasks.boolq import BOOLQ\n"
        "import dataclasses\n"
        "NEW = dataclasses.replace(BOOLQ, name='newbench', paper_name=None, order=0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = discover("more_tasks")
    assert list(found) == ["newbench", "boolq"]  # BOOLQ imported there counts as the same task, once
    (package / "clash.py").write_text(
        "from unicode_substrate.eval.tasks.boolq import BOOLQ\nimport dataclasses\n"
        "OTHER = dataclasses.replace(BOOLQ, order=3)\n")
    with pytest.raises(RuntimeError, match="two built-in tasks are named 'boolq'"):
        discover("more_tasks")


def test_lm_eval_names_are_aliases():
    assert parse_tasks("arc_easy,arc_challenge,commonsense_qa,boolq,squadv2,mmlu") == \
        ["arc-easy", "arc-challenge", "csqa", "boolq", "squad", "mmlu"]
    assert parse_tasks("arc_easy,arc-easy") == ["arc-easy"]


def test_list_files_without_a_model(releases, tmp_path):
    res = CliRunner().invoke(main, ["eval", "--list-files", "--data-dir", str(releases)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "mmlu (test split, 3 items evaluated):\n  data/test/toy_test.csv\n" in out
    assert "arc-challenge (validation split, 2 items evaluated):\n  ARC-V1-Feb2018-2/ARC-Challenge/ARC-Challenge-Dev.jsonl\n" in out
    assert "  opus-100-corpus/v1.0/supervised/en-zh/opus.en-zh-dev.zh\n" in out
    res = CliRunner().invoke(main, ["eval", "--list-files", "--data-dir", str(releases), "--tasks", "translation",
                                    "--split", "test"])
    assert res.exit_code == 0 and "translation (test split, 8 items evaluated):" in res.output
    assert "dev" not in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(main, ["eval", "--list-files", "--data-dir", str(empty)])
    assert res.exit_code == 0 and "arc-easy: not found (no arc-easy validation file below" in res.output
    res = CliRunner().invoke(main, ["eval", "--list-files", "--data-dir", str(empty), "--tasks", "arc_easy"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and res.output.startswith("error: no arc-easy validation file")
    assert not any(tmp_path.glob("*/results.json"))


# --- exact reading ----------------------------------------------------------------------------
def test_quoted_multiline_mmlu_question_keeps_its_line_breaks(tmp_path):
    question = "Read the passage.\n\"We hold these truths\"\r\nto be self-evident.\nWhat is it?"
    write_csv(tmp_path / "data" / "test" / "hist_test.csv", [(question, "a\nb", "c", "d", "e", "B"), ("Next?", "a", "b", "c", "d", "A")])
    raw = (tmp_path / "data" / "test" / "hist_test.csv").read_bytes()
    assert b'"Read the passage.\n""We hold these truths""\r\nto' in raw  # the csv module's quoting, as released
    items, _ = load_task("mmlu", tmp_path)
    it = next(i for i in items if i.question.startswith("Read"))
    assert it.question == question and it.choices[0] == ("A", "a\nb") and it.id == "hist:1"
    assert prompt(it) == f"Question: {question}\nOptions: A) a\nb B) c C) d D) e\nAnswer:"
    assert next(i for i in items if i.question == "Next?").id == "hist:6"  # the record's first line


def test_opus_line_with_u2028_stays_aligned(tmp_path):
    pair = tmp_path / "opus-100-corpus" / "v1.0" / "supervised" / "en-ru"
    en = ["one\u2028still one", "two\x85two\x0ctwo", "three\rthree"]
    ru = ["один", "два", "три"]
    (pair).mkdir(parents=True)
    (pair / "opus.en-ru-dev.en").write_bytes("\r\n".join(en).encode("utf-8") + b"\r\n")  # CRLF line ends
    (pair / "opus.en-ru-dev.ru").write_bytes("\n".join(ru).encode("utf-8"))  # no final newline
    items, _ = load_task("translation", tmp_path)
    got = {it.question: it.answer for it in items if it.group == "en-ru"}
    assert got == dict(zip(en, ru))


# --- readers refuse what they cannot read exactly (file and record named) ----------------------
@pytest.mark.parametrize("task,name,content,expected", [
    ("squad", "squad/dev-v2.0.json", json.dumps({"data": [{"title": "t", "paragraphs": {"context": "c", "qas": []}}]}),
     "dev-v2.0.json data[0]: paragraphs is not a list"),
    ("squad", "squad/dev-v2.0.json", json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": {"id": "1"}}]}]}),
     "dev-v2.0.json data[0].paragraphs[0]: qas is not a list"),
    ("squad", "squad/dev-v2.0.json", json.dumps({"data": ["x"]}), "dev-v2.0.json data[0]: not an object"),
    ("arc-easy", "ARC-Easy-Dev.jsonl", json.dumps({"id": "a", "question": {"stem": "q", "choices": [
        {"label": "A", "text": "x"}, {"label": "A", "text": "y"}]}, "answerKey": "A"}) + "\n",
     "ARC-Easy-Dev.jsonl line 1: duplicate choice label 'A'"),
    ("csqa", "dev_rand_split.jsonl", "\n" + json.dumps({"question": "q", "choices": {"label": ["A", "B", "B"],
     "text": ["x", "y", "z"]}, "answerKey": "A"}) + "\n", "dev_rand_split.jsonl line 2: duplicate choice label 'B'"),
    ("boolq", "boolq/val.jsonl", json.dumps({"question": "q", "passage": "p", "answer": True, "label": False}) + "\n",
     "val.jsonl line 1: answer True and label False disagree"),
    ("mmlu", "data/test/x_test.csv", 'q,a,b,c,d,A\n"open quote,a,b,c,d,A\nq,a,b,c,d,A\n',
     "x_test.csv line 2: not valid CSV (unexpected end of data)"),
    ("mmlu", "data/test/x_test.csv", 'q,a,b,c,d,A\n"multi\nline",a,b,c,d\n', "x_test.csv line 2: expected 6 fields"),
    ("mmlu", "data/test/x_test.csv", b"q,a,b,c,d,\xff\n", "x_test.csv is not UTF-8 text (byte 10)"),
])
def test_readers_refuse_naming_file_and_record(tmp_path, task, name, content, expected):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(SubstrateError) as e:
        load_task(task, tmp_path)
    assert "\n" not in str(e.value) and expected in str(e.value) and str(path) in str(e.value)


def test_task_folders_keep_reading_names_that_carry_the_split(tmp_path):
    squad = {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "Ann is nine.", "qas": [
        {"id": "q1", "question": "Age?", "answers": [{"text": "nine", "answer_start": 7}]}]}]}]}
    (tmp_path / "squad").mkdir()
    (tmp_path / "squad" / "squad_v2_dev.json").write_text(json.dumps(squad), encoding="utf-8")
    (tmp_path / "squad" / "squad_v2_train.json").write_text("{broken", encoding="utf-8")  # another split: not read
    assert [f.name for f in load_task("squad", tmp_path)[1]] == ["squad_v2_dev.json"]
    write_lines(tmp_path / "translation" / "news-dev.en", ["a cat"])  # the DIR/<task>/ layout, any pair name
    write_lines(tmp_path / "translation" / "news-dev.ru", ["кот"])
    write_lines(tmp_path / "translation" / "opus.de-en-dev.en", ["not ours"])  # another OPUS pair: not the task's
    items, files = load_task("translation", tmp_path)
    assert sorted(f.name for f in files) == ["news-dev.en", "news-dev.ru"] and len(items) == 2
    (tmp_path / "squad" / "squad_v2_dev.json").write_text(json.dumps({"data": [{"paragraphs": [
        {"context": "c", "qas": [{"id": "1", "question": "q"}]}]}]}), encoding="utf-8")
    with pytest.raises(SubstrateError, match=r"squad_v2_dev.json data\[0\].paragraphs\[0\].qas\[0\]: no answers"):
        load_task("squad", tmp_path)


def test_list_files_counts_one_item_in_the_singular(tmp_path):
    row = {"id": "q1", "question": {"stem": "Which?", "choices": [{"label": "A", "text": "a"}, {"label": "B", "text": "b"}]},
           "answerKey": "A"}
    (tmp_path / "arc-easy").mkdir()
    (tmp_path / "arc-easy" / "Dev.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["eval", "--list-files", "--data-dir", str(tmp_path), "--tasks", "arc-easy"])
    assert res.exit_code == 0, res.output
    assert "arc-easy (validation split, 1 item evaluated):" in res.output and "1 items" not in res.output
