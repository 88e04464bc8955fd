"""Benchmark files in the forms they are distributed in, read into one kind of item.

Each task reads the folder of its name under the benchmark directory (``BENCH/mmlu``,
``BENCH/arc-easy``, ...), recursively. The format is told by the file layout:

* ``mmlu``: the original release (``test/{subject}_test.csv``, no header: question, A, B, C, D,
  answer letter) or an export (``*.parquet`` / ``*.jsonl`` with ``question``, ``subject``,
  ``choices`` (list) and ``answer`` (index or letter));
* ``arc-easy``, ``arc-challenge``, ``csqa``: the original JSONL (``question.stem``,
  ``question.choices[{label, text}]``, ``answerKey``) or the export (``*.parquet`` / ``*.jsonl``
  with ``question``, ``choices{label, text}``, ``answerKey``); native labels (A-E, 1-4) are kept;
* ``squad``: the original SQuAD v2 JSON (``data[].paragraphs[].qas[]``) or the export
  (``*.parquet`` / ``*.jsonl`` with ``id``, ``context``, ``question``, ``answers{text}``);
* ``boolq``: JSONL (or Parquet) with ``question``, ``passage``, ``answer`` (true/false);
* ``translation``: OPUS line-aligned text files (``NAME.en`` beside ``NAME.ru``) or Parquet with a
  ``translation`` struct (``{"en": ..., "ru": ...}``); every language pair found, both directions.

A file whose name carries a split word (train, dev, val, validation, test) is read only when it
is the evaluated split (MMLU: test; the others: validation/dev), so the original release folders
can be given whole.
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from unicode_substrate.choices import EVAL_TASKS
from unicode_substrate.errors import SubstrateError

SPLIT_WORDS = frozenset({"train", "dev", "val", "validation", "test"})
EVAL_SPLIT = {task: frozenset({"dev", "val", "validation"}) for task in EVAL_TASKS} | {"mmlu": frozenset({"test"})}
LANGUAGES = {"en": "English", "ru": "Russian", "zh": "Chinese"}  # the names the paper's prompt uses
MC_TASKS = ("mmlu", "arc-easy", "arc-challenge", "csqa", "boolq")
# The paper's item counts (SPEC E): SQuAD 256 sampled answerable items whose first answer has at
# most 8 characters; 128 sentence pairs per translation direction.
SQUAD_ITEMS, SQUAD_MAX_ANSWER_CHARS, TRANSLATION_PAIRS = 256, 8, 128


@dataclass(frozen=True)
class Item:
    """One benchmark question. ``answer`` is the gold label (multiple choice), the first answer
    (SQuAD) or the reference (translation); ``group`` is the MMLU subject or translation direction."""

    task: str
    id: str
    question: str
    answer: str
    choices: tuple[tuple[str, str], ...] = ()  # (label, text), native labels
    context: str = ""  # SQuAD context, BoolQ passage
    group: str | None = None
    answers: tuple[str, ...] = field(default=(), compare=False)  # every SQuAD answer, for the record
    shots: tuple["Item", ...] = field(default=(), compare=False)  # few-shot examples put before the prompt (MMLU dev)


class RowError(ValueError):
    """A row that does not parse; turned into one line naming the file and row."""


# --- finding the files ------------------------------------------------------------------------
def _is_eval_split(rel: Path, task: str) -> bool:
    words = set(re.split(r"[^a-z]+", rel.as_posix().lower()))
    return not (words & SPLIT_WORDS) or bool(words & EVAL_SPLIT[task])


def task_files(data_dir: str | Path, task: str, suffixes: tuple[str, ...]) -> list[Path]:
    """The files of ``task`` under ``data_dir/task`` with one of ``suffixes``, sorted; an error when none."""
    if task not in EVAL_TASKS:
        raise SubstrateError(f"unknown task {task!r}; the tasks are {', '.join(EVAL_TASKS)}")
    folder = Path(data_dir) / task
    if not folder.is_dir():
        raise SubstrateError(f"no {task} benchmark: {folder} is not a directory")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                   and _is_eval_split(p.relative_to(folder), task))
    if not files:
        raise SubstrateError(f"no {task} benchmark file in {folder} (looked for {', '.join(suffixes)} files of the "
                             f"{'/'.join(sorted(EVAL_SPLIT[task]))} split)")
    return files


# --- reading rows -----------------------------------------------------------------------------
def _rows(path: Path) -> Iterator[tuple[str, object]]:
    """(where, record) for every record of a JSONL, JSON-lines or Parquet file."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            records = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types for a broken file
            raise SubstrateError(f"{path} is not a readable Parquet file: {str(e).splitlines()[0]}") from None
        for i, rec in enumerate(records):
            yield f"row {i}", rec
        return
    for i, line in enumerate(_text(path).splitlines(), 1):
        if line.strip():
            try:
                yield f"line {i}", json.loads(line)
            except json.JSONDecodeError as e:
                raise SubstrateError(f"{path} line {i}: not valid JSON ({e.msg})") from None


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise SubstrateError(f"{path} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise SubstrateError(f"cannot read {path}: {e.strerror or e}") from None


def _parse_rows(path: Path, parse: Callable[[dict, str], Item | None]) -> list[Item]:
    items = []
    for where, rec in _rows(path):
        try:
            if not isinstance(rec, dict):
                raise RowError("not an object")
            item = parse(rec, f"{path.name}:{where.split()[-1]}")
        except RowError as e:
            raise SubstrateError(f"{path} {where}: {e}") from None
        if item is not None:
            items.append(item)
    return items


def _str(rec: dict, key: str, what: str | None = None) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RowError(f"no {what or key} (a non-empty string)")
    return value


def _get(rec, *path):
    for key in path:
        if not isinstance(rec, dict) or key not in rec:
            raise RowError(f"no {'.'.join(path)}")
        rec = rec[key]
    return rec


# --- MMLU -------------------------------------------------------------------------------------
LETTERS = "ABCD"


def _mmlu_answer(value) -> str:
    if isinstance(value, bool):
        raise RowError(f"answer {value!r} is not 0-3 or A-D")
    if isinstance(value, int) and 0 <= value < 4:
        return LETTERS[value]
    if isinstance(value, str) and value.strip().upper() in LETTERS and value.strip():
        return value.strip().upper()
    raise RowError(f"answer {value!r} is not 0-3 or A-D")


def _mmlu_csv(path: Path) -> list[Item]:
    subject = re.sub(r"_(test|dev|val)$", "", path.stem)
    items = []
    for i, row in enumerate(csv.reader(_text(path).splitlines()), 1):
        if not row:
            continue
        if len(row) != 6:
            raise SubstrateError(f"{path} line {i}: expected 6 fields (question, A, B, C, D, answer), got {len(row)}")
        try:
            answer = _mmlu_answer(row[5])
        except RowError as e:
            raise SubstrateError(f"{path} line {i}: {e}") from None
        items.append(Item("mmlu", f"{subject}:{i}", row[0], answer, tuple(zip(LETTERS, row[1:5])), group=subject))
    return items


def _mmlu_export(rec: dict, where: str) -> Item | None:
    split = rec.get("split")
    if isinstance(split, str) and split.strip().lower() in SPLIT_WORDS - EVAL_SPLIT["mmlu"]:
        return None  # a row of another split in a file holding several (a ``split`` column)
    return _mmlu_export_row(rec, where)


def _mmlu_export_row(rec: dict, where: str) -> Item:
    choices = _get(rec, "choices")
    if not isinstance(choices, list) or len(choices) != 4 or not all(isinstance(c, str) for c in choices):
        raise RowError("choices is not a list of 4 strings")
    subject = _str(rec, "subject")
    return Item("mmlu", f"{subject}:{where}", _str(rec, "question"), _mmlu_answer(_get(rec, "answer")),
                tuple(zip(LETTERS, choices)), group=subject)


def load_mmlu(data_dir: Path) -> tuple[list[Item], list[Path]]:
    files = task_files(data_dir, "mmlu", (".csv", ".parquet", ".jsonl"))
    items = [it for f in files for it in (_mmlu_csv(f) if f.suffix.lower() == ".csv" else _parse_rows(f, _mmlu_export))]
    return items, files


def _dev_csv(test_file: Path) -> Path:
    """``.../test/{subject}_test.csv`` -> ``.../dev/{subject}_dev.csv`` (the original release layout)."""
    subject = re.sub(r"_test$", "", test_file.stem)
    return test_file.parent.parent / "dev" / f"{subject}_dev.csv"


def _is_dev_row(rec: dict) -> bool:
    split = rec.get("split")
    return isinstance(split, str) and split.strip().lower() == "dev"


def _dev_file_row(rec: dict, where: str) -> Item | None:
    """A row of a dev file (every row, except those a ``split`` column puts elsewhere)."""
    return _mmlu_export_row(rec, where) if "split" not in rec or _is_dev_row(rec) else None


def _dev_column_row(rec: dict, where: str) -> Item | None:
    """A row of a file holding several splits: only those whose ``split`` column is dev."""
    return _mmlu_export_row(rec, where) if _is_dev_row(rec) else None


def mmlu_shots(data_dir: Path, test_files: list[Path], k: int) -> tuple[dict[str, tuple[Item, ...]], list[Path]]:
    """subject -> the first ``k`` dev rows of that subject, and the files they came from.

    The original release: ``dev/{subject}_dev.csv`` beside ``test/``, one per test file. An export:
    the Parquet/JSONL files whose path names the dev split, and rows whose ``split`` column is ``dev``."""
    folder = Path(data_dir) / "mmlu"
    shots: dict[str, list[Item]] = {}
    used: list[Path] = []
    csvs = [f for f in test_files if f.suffix.lower() == ".csv"]
    for f in csvs:
        dev = _dev_csv(f)
        if not dev.is_file():
            raise SubstrateError(f"few-shot needs the MMLU dev split: {dev} does not exist")
        for it in _mmlu_csv(dev):
            shots.setdefault(it.group, []).append(it)
        used.append(dev)
    if len(csvs) < len(test_files):
        dev_files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".parquet", ".jsonl")
                           and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                           and "dev" in re.split(r"[^a-z]+", p.relative_to(folder).as_posix().lower()))
        for f in dev_files + [f for f in test_files if f.suffix.lower() != ".csv"]:
            found = _parse_rows(f, _dev_file_row if f in dev_files else _dev_column_row)
            for it in found:
                shots.setdefault(it.group, []).append(it)
            if found:
                used.append(f)
        if not any(f.suffix.lower() != ".csv" for f in used):
            raise SubstrateError(f"few-shot needs the MMLU dev split: {folder} has no dev file and no rows whose "
                                 "split column is dev")
    return {s: tuple(rows[:k]) for s, rows in shots.items()}, sorted(set(used))


def attach_shots(items: list[Item], shots: dict[str, tuple[Item, ...]], k: int, files: list[Path]) -> list[Item]:
    """Every item with the first ``k`` dev rows of its subject; an error when a subject has fewer."""
    out = []
    for it in items:
        mine = shots.get(it.group, ())
        if len(mine) < k:
            raise SubstrateError(f"few-shot {k} needs {k} dev rows of subject {it.group!r}, found {len(mine)} in "
                                 f"{', '.join(str(f) for f in files) or 'no dev file'}")
        out.append(replace(it, shots=mine))
    return out


# --- ARC and CommonsenseQA --------------------------------------------------------------------
def _choice_parser(task: str):
    def parse(rec: dict, where: str) -> Item:
        q = rec.get("question")
        if isinstance(q, dict):  # original release: question.stem, question.choices[{label, text}]
            stem = _str(q, "stem", "question.stem")
            raw = _get(q, "choices")
            if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
                raise RowError("question.choices is not a list of {label, text}")
            labels = [c.get("label") for c in raw]
            texts = [c.get("text") for c in raw]
        else:  # export: question (string), choices {label: [...], text: [...]}
            stem = _str(rec, "question")
            raw = _get(rec, "choices")
            if not isinstance(raw, dict):
                raise RowError("choices is not {label: [...], text: [...]}")
            labels, texts = raw.get("label"), raw.get("text")
            if not isinstance(labels, list) or not isinstance(texts, list) or len(labels) != len(texts):
                raise RowError("choices.label and choices.text are not lists of one length")
        if len(labels) < 2 or not all(isinstance(x, str) and x for x in labels + texts):
            raise RowError("the choices need at least two non-empty labels and texts")
        answer = _str(rec, "answerKey")
        if answer not in labels:
            raise RowError(f"answerKey {answer!r} is not one of the labels {', '.join(labels)}")
        return Item(task, str(rec.get("id") or where), stem, answer, tuple(zip(labels, texts)))
    return parse


def _load_choice(task: str):
    def load(data_dir: Path) -> tuple[list[Item], list[Path]]:
        files = task_files(data_dir, task, (".jsonl", ".parquet"))
        return [it for f in files for it in _parse_rows(f, _choice_parser(task))], files
    return load


# --- SQuAD v2 ---------------------------------------------------------------------------------
def _squad_answers(value) -> tuple[str, ...]:
    if isinstance(value, dict):  # export: {"text": [...], "answer_start": [...]}
        value = value.get("text")
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise RowError("answers.text is not a list of strings")
        return tuple(value)
    if isinstance(value, list) and all(isinstance(a, dict) and isinstance(a.get("text"), str) for a in value):
        return tuple(a["text"] for a in value)
    raise RowError("answers is not a list of {text} nor {text: [...]}")


def _squad_export(rec: dict, where: str) -> Item:
    answers = _squad_answers(_get(rec, "answers"))
    return Item("squad", str(rec.get("id") or where), _str(rec, "question"), answers[0] if answers else "",
                context=_str(rec, "context"), answers=answers)


def _squad_json(path: Path) -> list[Item]:
    try:
        doc = json.loads(_text(path))
    except json.JSONDecodeError as e:
        raise SubstrateError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise SubstrateError(f"{path}: not a SQuAD file (no data list)")
    items = []
    for a, article in enumerate(doc["data"]):
        for p, para in enumerate(article.get("paragraphs", []) if isinstance(article, dict) else []):
            for q, qa in enumerate(para.get("qas", []) if isinstance(para, dict) else []):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                try:
                    if not isinstance(qa, dict):
                        raise RowError("not an object")
                    answers = _squad_answers(qa.get("answers", []))
                    items.append(Item("squad", str(qa.get("id") or where), _str(qa, "question"),
                                      answers[0] if answers else "", context=_str(para, "context"), answers=answers))
                except RowError as e:
                    raise SubstrateError(f"{path} {where}: {e}") from None
    return items


def load_squad(data_dir: Path) -> tuple[list[Item], list[Path]]:
    files = task_files(data_dir, "squad", (".json", ".parquet", ".jsonl"))
    items = [it for f in files for it in (_squad_json(f) if f.suffix.lower() == ".json" else _parse_rows(f, _squad_export))]
    return items, files


# --- BoolQ ------------------------------------------------------------------------------------
def _boolq(rec: dict, where: str) -> Item:
    answer = rec.get("answer", rec.get("label"))
    if not isinstance(answer, bool):
        raise RowError(f"answer {answer!r} is not true or false")
    return Item("boolq", str(rec.get("id") or where), _str(rec, "question"), "True" if answer else "False",
                (("True", "True"), ("False", "False")), context=_str(rec, "passage"))


def load_boolq(data_dir: Path) -> tuple[list[Item], list[Path]]:
    files = task_files(data_dir, "boolq", (".jsonl", ".parquet"))
    return [it for f in files for it in _parse_rows(f, _boolq)], files


# --- translation ------------------------------------------------------------------------------
def _pair_items(pairs: list[tuple[str, str, str]], a: str, b: str) -> list[Item]:
    """Both directions of every (id, text_a, text_b) pair, the direction as group ("en-ru")."""
    for lang in (a, b):
        if lang not in LANGUAGES:
            raise SubstrateError(f"translation language {lang!r} has no name for the prompt (known: {', '.join(LANGUAGES)})")
    items = []
    for pid, ta, tb in pairs:
        items.append(Item("translation", f"{a}-{b}:{pid}", ta, tb, group=f"{a}-{b}"))
        items.append(Item("translation", f"{b}-{a}:{pid}", tb, ta, group=f"{b}-{a}"))
    return items


def _opus_pairs(files: list[Path]) -> tuple[list[Item], list[Path]]:
    by_stem: dict[Path, dict[str, Path]] = {}
    for f in files:
        by_stem.setdefault(f.with_suffix(""), {})[f.suffix[1:].lower()] = f
    items, used = [], []
    for stem, langs in sorted(by_stem.items()):
        if len(langs) != 2:
            raise SubstrateError(f"{stem}.*: expected two line-aligned files (e.g. .en and .ru), found "
                                 f"{', '.join(p.name for p in langs.values())}")
        (a, fa), (b, fb) = sorted(langs.items(), key=lambda kv: (kv[0] != "en", kv[0]))
        la, lb = _text(fa).splitlines(), _text(fb).splitlines()
        if len(la) != len(lb):
            raise SubstrateError(f"{fa} has {len(la)} lines but {fb} has {len(lb)}: not line-aligned")
        for i, (x, y) in enumerate(zip(la, lb), 1):
            if not x.strip() or not y.strip():
                raise SubstrateError(f"{fa if not x.strip() else fb} line {i}: empty sentence")
        items += _pair_items([(f"{stem.name}:{i}", x, y) for i, (x, y) in enumerate(zip(la, lb), 1)], a, b)
        used += [fa, fb]
    return items, used


def _parquet_pairs(path: Path) -> list[Item]:
    pairs, langs = [], None
    for where, rec in _rows(path):
        t = rec.get("translation") if isinstance(rec, dict) else None
        if not isinstance(t, dict) or len(t) != 2 or not all(isinstance(v, str) and v.strip() for v in t.values()):
            raise SubstrateError(f"{path} {where}: translation is not a struct of two non-empty sentences")
        keys = tuple(sorted(t, key=lambda k: (k != "en", k)))
        if langs is not None and keys != langs:
            raise SubstrateError(f"{path} {where}: languages {', '.join(keys)} differ from the file's {', '.join(langs)}")
        langs = keys
        pairs.append((f"{path.name}:{where.split()[-1]}", t[keys[0]], t[keys[1]]))
    return _pair_items(pairs, *langs) if langs else []


def load_translation(data_dir: Path) -> tuple[list[Item], list[Path]]:
    suffixes = (".parquet",) + tuple(f".{code}" for code in LANGUAGES)
    files = task_files(data_dir, "translation", suffixes)
    parquet = [f for f in files if f.suffix.lower() == ".parquet"]
    items, used = _opus_pairs([f for f in files if f.suffix.lower() != ".parquet"])
    for f in parquet:
        items += _parquet_pairs(f)
    return items, sorted(used + parquet)


LOADERS: dict[str, Callable[[Path], tuple[list[Item], list[Path]]]] = {
    "mmlu": load_mmlu,
    "arc-easy": _load_choice("arc-easy"),
    "arc-challenge": _load_choice("arc-challenge"),
    "csqa": _load_choice("csqa"),
    "squad": load_squad,
    "boolq": load_boolq,
    "translation": load_translation,
}


def parse_tasks(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"mmlu,arc-easy"`` (or a list) as task names in the given order; unknown names are an error."""
    names = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    if not names:
        raise SubstrateError(f"no task given; the tasks are {', '.join(EVAL_TASKS)}")
    for t in names:
        if t not in EVAL_TASKS:
            raise SubstrateError(f"unknown task {t!r}; the tasks are {', '.join(EVAL_TASKS)}")
    return list(dict.fromkeys(names))


def check_fewshot(task: str, fewshot: int) -> None:
    """Few-shot counts are whole numbers from 0; only MMLU has a dev split to draw them from here."""
    if isinstance(fewshot, bool) or not isinstance(fewshot, int) or fewshot < 0:
        raise SubstrateError(f"few-shot count must be a whole number of at least 0, got {fewshot!r}")
    if fewshot > 0 and task != "mmlu":
        raise SubstrateError(f"few-shot {fewshot} asked for {task}: only mmlu has a dev split for few-shot examples here")


def load_task(task: str, data_dir: str | Path, seed: int = 0, limit: int | None = None,
              fewshot: int = 0) -> tuple[list[Item], list[Path]]:
    """The evaluated items of ``task`` (selected as the paper does, shuffled with ``seed``, at most
    ``limit`` per task or translation direction) and the files they came from. With ``fewshot`` K > 0
    (MMLU only) every item carries the first K dev rows of its subject as ``shots``."""
    if task not in LOADERS:
        raise SubstrateError(f"unknown task {task!r}; the tasks are {', '.join(EVAL_TASKS)}")
    check_fewshot(task, fewshot)
    items, files = LOADERS[task](Path(data_dir))
    if not items:
        raise SubstrateError(f"the {task} files ({', '.join(str(f) for f in files)}) hold no items")
    items = select(task, items, seed, limit)
    if fewshot > 0:
        shots, dev_files = mmlu_shots(Path(data_dir), files, fewshot)
        items = attach_shots(items, shots, fewshot, dev_files)
        files = sorted(set(files) | set(dev_files))
    return items, files


def select(task: str, items: list[Item], seed: int = 0, limit: int | None = None) -> list[Item]:
    """The paper's selection, with the shuffle it left unseeded seeded by ``seed``."""
    rng = random.Random(f"{seed}/{task}")  # str seeds hash with sha512: the same order on every machine
    if task == "squad":
        items = [it for it in items if it.answer and len(it.answer) <= SQUAD_MAX_ANSWER_CHARS]
        if not items:
            raise SubstrateError(f"no answerable SQuAD item has a first answer of at most {SQUAD_MAX_ANSWER_CHARS} characters")
        rng.shuffle(items)
        items = items[:SQUAD_ITEMS]
    elif task == "translation":
        groups: dict[str, list[Item]] = {}
        for it in items:
            groups.setdefault(it.group, []).append(it)
        items = []
        for g in sorted(groups):
            chosen = groups[g][:]
            rng.shuffle(chosen)
            items += chosen[:TRANSLATION_PAIRS][:limit]
        return items
    else:
        rng.shuffle(items)
    return items[:limit]
