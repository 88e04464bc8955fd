"""Training (prepare --recipe) and eval read a question-answering record the same way.

The same record is written into a training release file (``train-v2.0.json``, ``train.jsonl``,
``*-Train.jsonl``, ``train_rand_split.jsonl``) and into the evaluated file of the same benchmark
(``dev-v2.0.json``, ``boolq/dev.jsonl``, ``*-Dev.jsonl``, ``dev_rand_split.jsonl``): both read it
to the same item, or both refuse it with the same words, naming the file and the record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _cli_helpers import one_line_error, run_cli
from _train_helpers import make_char_tokenizer
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks import load_task, read_split
from unicode_substrate.eval.tasks.registry import get_task
from unicode_substrate.data.qa import qa_documents, qa_items

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def squad_release(qas: list[dict], context: str = "The Avon flows west past the old mill.") -> str:
    return json.dumps({"version": "v2.0", "data": [{"title": "Avon", "paragraphs": [{"context": context, "qas": qas}]}]})


def squad_qa(i: int = 0, answers=("west",), **extra) -> dict:
    return {"id": f"sq{i}", "question": f"Which way does the Avon {i} flow?",
            "answers": [{"text": a, "answer_start": 0} for a in answers], "is_impossible": not answers, **extra}


def choice_row(labels: str = "ABCD", key: str = "B") -> dict:
    return {"id": "Mercury_1", "answerKey": key, "question": {"stem": "Where is the thing kept?", "choices": [
        {"label": lab, "text": f"place {i}"} for i, lab in enumerate(labels)]}}


BOOLQ = {"question": "is the sky blue", "title": "Sky", "answer": True, "passage": "The sky is blue on a clear day."}

# fmt -> (training release file, the evaluated file of the same benchmark below a data dir, its task)
FILES = {"squad": ("train-v2.0.json", "squad/dev-v2.0.json", "squad"),
         "boolq": ("train.jsonl", "boolq/dev.jsonl", "boolq"),
         "arc": ("ARC-Easy-Train.jsonl", "ARC-Easy-Dev.jsonl", "arc-easy"),
         "csqa": ("train_rand_split.jsonl", "dev_rand_split.jsonl", "csqa")}


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def both(tmp_path: Path, fmt: str, content: str):
    """The same content as a training file and as eval's file: (training items, eval items)."""
    train, dev, task = FILES[fmt]
    train_items = list(qa_items(_write(tmp_path / "train" / train, content), fmt))
    eval_items, _ = read_split(get_task(task), _write(tmp_path / "bench" / dev, content).parents[
        dev.count("/")], get_task(task).split)
    return train_items, eval_items


def refusals(tmp_path: Path, fmt: str, content: str) -> tuple[str, str]:
    """The one-line refusals of the same content by training and by eval."""
    train, dev, task = FILES[fmt]
    out = []
    with pytest.raises(SubstrateError) as e:
        list(qa_items(_write(tmp_path / "train" / train, content), fmt))
    out.append(str(e.value))
    with pytest.raises(SubstrateError) as e:
        load_task(task, _write(tmp_path / "bench" / dev, content).parents[dev.count("/")])
    out.append(str(e.value))
    assert all("\n" not in m for m in out), out
    return out[0], out[1]


def _fields(it):
    return it.question, it.answer, it.choices, it.context


@pytest.mark.parametrize("fmt,content", [
    ("squad", squad_release([squad_qa(0), squad_qa(1, ("the west", "west"))])),
    ("boolq", json.dumps(BOOLQ) + "\n" + json.dumps({**BOOLQ, "answer": False}) + "\n"),
    ("arc", json.dumps(choice_row()) + "\n" + json.dumps(choice_row("1234", "3")) + "\n"),
    ("csqa", json.dumps(choice_row("ABCDE", "E")) + "\n"),
])
def test_training_and_eval_read_a_record_to_the_same_item(tmp_path, fmt, content):
    train_items, eval_items = both(tmp_path, fmt, content)
    assert [_fields(it) for it in train_items] == [_fields(it) for it in eval_items] and train_items


@pytest.mark.parametrize("fmt", ["arc", "csqa"])
def test_duplicate_choice_labels_are_refused_by_training_as_by_eval(tmp_path, fmt):
    train, dev = refusals(tmp_path, fmt, json.dumps(choice_row("ABBC", "A")) + "\n")
    assert train.endswith("line 1: duplicate choice label 'B'") and dev.endswith("line 1: duplicate choice label 'B'")
    assert FILES[fmt][0] in train and FILES[fmt][1].split("/")[-1] in dev


@pytest.mark.parametrize("fmt,content,where", [
    ("squad", squad_release([squad_qa(0)], context="The Avon LONE flows west.").replace("LONE", "\\ud800"), "data[0]"),
    ("boolq", '{"question": "is it", "passage": "It is \\udc00.", "answer": true}\n', "line 1"),
])
def test_a_lone_surrogate_escape_is_refused_by_training_as_by_eval(tmp_path, fmt, content, where):
    train, dev = refusals(tmp_path, fmt, content)
    for msg in (train, dev):
        assert f" {where}: a \\ud800-\\udfff escape without its pair" in msg, msg
    # A pair of escapes is one character, and a literal backslash before "ud800" is text.
    ok = content.replace("\\ud800", "\\ud83d\\ude00").replace("\\udc00", "\\\\udc00")
    train_items, eval_items = both(tmp_path / "ok", fmt, ok)
    assert train_items[0].context in ("The Avon \U0001F600 flows west.", "It is \\udc00.")
    assert _fields(train_items[0]) == _fields(eval_items[0])


@pytest.mark.parametrize("fmt,name", [("triviaqa", "web-train.json"), ("hotpotqa", "hotpot_train_v1.1.json")])
def test_a_lone_surrogate_escape_in_the_other_json_releases_is_refused(tmp_path, fmt, name):
    content = {"triviaqa": '{"Data": [{"Question": "Who \\ud800?", "Answer": {"Value": "x"}}]}',
               "hotpotqa": '[{"question": "Which \\udbff?", "answer": "x", "context": [["T", ["s."]]]}]'}[fmt]
    with pytest.raises(SubstrateError, match=r"(Data)?\[0\]: a \\ud800-\\udfff escape without its pair"):
        list(qa_items(_write(tmp_path / name, content), fmt))


def test_an_empty_squad_answer_is_not_trained_on_and_not_evaluated(tmp_path):
    content = squad_release([squad_qa(0, ("",)), squad_qa(1, ("  ", "west")), squad_qa(2), squad_qa(3, ())])
    train_items, eval_items = both(tmp_path, "squad", content)
    docs = list(qa_documents([tmp_path / "train" / "train-v2.0.json"], "squad"))
    assert len(docs) == 1 and docs[0].endswith("Answer: west") and [it.id for it in train_items] == ["sq2"]
    assert [it.id for it in load_task("squad", tmp_path / "bench")[0]] == ["sq2"]  # eval selects the same one
    assert len(eval_items) == 4  # eval reads every question; the unanswerable ones are never selected


@pytest.mark.parametrize("value,expected", [
    ('"true"', "is_impossible 'true' is not true or false"),
    ("1", "is_impossible 1 is not true or false"),
    ("true", "is_impossible is true but answers are given"),
])
def test_is_impossible_must_be_a_boolean_that_agrees_with_the_answers(tmp_path, value, expected):
    content = squad_release([squad_qa(0), squad_qa(1)]).replace('"is_impossible": false}]', f'"is_impossible": {value}}}]')
    train, dev = refusals(tmp_path, "squad", content)
    assert train.endswith(f"data[0].paragraphs[0].qas[1]: {expected}") and dev.endswith(f"data[0].paragraphs[0].qas[1]: {expected}")


def test_a_json_release_nested_100000_deep_is_one_line_at_once(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    train, dev = refusals(tmp_path, "squad", squad_release([squad_qa(0, title=json.loads("[]"))]).replace(
        '"title": []', f'"title": {deep}'))
    for msg in (train, dev):
        assert msg.endswith("data[0]: nested too deeply to read (more than about 1,000 levels)"), msg
    # the JSONL readers say the same, naming the line
    train, dev = refusals(tmp_path / "l", "boolq", json.dumps(BOOLQ)[:-1] + f', "extra": {deep}}}\n')
    assert train.endswith("train.jsonl line 1: nested too deeply to read (more than about 1,000 levels)")
    assert dev.endswith("dev.jsonl line 1: nested too deeply to read (more than about 1,000 levels)")


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return make_char_tokenizer(tmp_path_factory.mktemp("tok") / "tok", "abcdefghijklmnopqrstuvwxyz .,?:\n")


@pytest.mark.parametrize("fmt,name", [("squad", "train-v2.0.json.zst"), ("triviaqa", "web-train.json.zst"),
                                      ("hotpotqa", "hotpot_train_v1.1.json.zst"), ("boolq", "train.jsonl.zst")])
def test_a_corrupt_zst_release_is_one_line_and_nothing_is_written(tmp_path, tok, fmt, name):
    _write(tmp_path / name, ZSTD_MAGIC + b"not a zstd frame" * 8)
    recipe = _write(tmp_path / "r.toml", f'[[source]]\nname = "t"\nbuiltin = true\nshare = 0.9\n'
                                         f'[[source]]\nname = "q"\npath = "{name}"\nformat = "{fmt}"\n')
    before = sorted(p.name for p in tmp_path.iterdir())
    res = run_cli("prepare", "--recipe", recipe, "--tokenizer", tok, "--out", tmp_path / "out", "--no-progress")
    one_line_error(res, f"cannot read {tmp_path / name}: zstd decompress error")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_streamed_json_releases_read_the_same_in_any_chunk_size(tmp_path, monkeypatch):
    from unicode_substrate.eval.tasks import read

    files = {"squad": _write(tmp_path / "train-v2.0.json", squad_release([squad_qa(i) for i in range(5)])),
             "triviaqa": _write(tmp_path / "w-train.json", json.dumps({"Version": 1.0, "Data": [
                 {"Question": f"Who wrote book {i}, \u00e9?", "Answer": {"Value": f"Ann {i}"}} for i in range(5)],
                 "Split": "train"})),
             "hotpotqa": _write(tmp_path / "hotpot_train_v1.1.json", json.dumps([
                 {"question": f"Which {i}?", "answer": f"x{i}", "context": [["T", [f"s {i}.", " more"]]]}
                 for i in range(5)], indent=1))}
    whole = {fmt: list(qa_documents([f], fmt)) for fmt, f in files.items()}
    monkeypatch.setattr(read._Text, "CHUNK", 3)
    assert {fmt: list(qa_documents([f], fmt)) for fmt, f in files.items()} == whole
    assert len(whole["triviaqa"]) == 5 and whole["triviaqa"][1] == "Question: Who wrote book 1, \u00e9?\nAnswer: Ann 1"
    # A syntax error is found where it is, with its line and column, not at the end of the file.
    bad = _write(tmp_path / "bad-train.json", '{"Data": [\n{"Question": "q", "Answer": {"Value": "v"}},\n'
                                              '{"Question" "q"}]}')
    with pytest.raises(SubstrateError, match=r"bad-train.json: not valid JSON at line 3 column 13 \(Expecting ':'"):
        list(qa_documents([bad], "triviaqa"))
    for content, expected in (('{"Data": [], "Data": []}', "two Data members"), ('{"Data": {}}', "Data is not a list"),
                              ('{"Data": []} []', "extra data after the JSON value"), ('{"Data": []}', "no triviaqa records")):
        with pytest.raises(SubstrateError, match=expected):
            list(qa_documents([_write(tmp_path / "x-train.json", content)], "triviaqa"))
