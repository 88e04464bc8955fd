"""MMLU: the release tarball's ``data/test/{subject}_test.csv`` (few-shot rows from
``data/dev/{subject}_dev.csv``; ``val/`` and ``auxiliary_train/`` are never read), or a Parquet/JSONL
export with ``question``, ``subject``, ``choices`` (list of 4) and ``answer`` (0-3 or A-D).

The CSVs have no header: question, A, B, C, D, answer letter. They are parsed by the csv module
on the raw text, so a quoted question that spans lines keeps its line breaks.
"""

from __future__ import annotations

import re
from pathlib import Path

from unicode_substrate.eval.tasks.item import Item, RowError
from unicode_substrate.eval.tasks.read import csv_rows, get_path, parse_records, text_field
from unicode_substrate.eval.tasks.score import FIRST_CHARACTER, by_answer, score_choice, text_continuations
from unicode_substrate.eval.tasks.task import Files, Task, exports
from unicode_substrate.errors import SubstrateError

LETTERS = "ABCD"
# MMLU names its splits test, dev (the few-shot examples) and val; "dev" is its own split here.
SPLIT_WORDS = {"test": "test", "dev": "dev", "val": "validation", "validation": "validation", "train": "train"}


def answer_letter(value) -> str:
    """0-3 or A-D as the answer letter."""
    if isinstance(value, bool):
        raise RowError(f"answer {value!r} is not 0-3 or A-D")
    if isinstance(value, int) and 0 <= value < 4:
        return LETTERS[value]
    if isinstance(value, str) and value.strip() and value.strip().upper() in LETTERS:
        return value.strip().upper()
    raise RowError(f"answer {value!r} is not 0-3 or A-D")


def read_csv(path: Path) -> list[Item]:
    """One subject's release CSV (``{subject}_test.csv`` or ``_dev.csv``)."""
    subject = re.sub(r"_(test|dev|val)$", "", path.stem)
    items = []
    for line, row in csv_rows(path):
        if not row:
            continue
        if len(row) != 6:
            raise SubstrateError(f"{path} line {line}: expected 6 fields (question, A, B, C, D, answer), got {len(row)}")
        try:
            answer = answer_letter(row[5])
        except RowError as e:
            raise SubstrateError(f"{path} line {line}: {e}") from None
        items.append(Item("mmlu", f"{subject}:{line}", row[0], answer, tuple(zip(LETTERS, row[1:5])), group=subject))
    return items


def export_row(rec: dict, where: str) -> Item:
    choices = get_path(rec, "choices")
    if not isinstance(choices, list) or len(choices) != 4 or not all(isinstance(c, str) for c in choices):
        raise RowError("choices is not a list of 4 strings")
    subject = text_field(rec, "subject")
    return Item("mmlu", f"{subject}:{where}", text_field(rec, "question"), answer_letter(get_path(rec, "answer")),
                tuple(zip(LETTERS, choices)), group=subject)


def read(unit: tuple[Path, ...], split: str) -> list[Item]:
    """The ``split`` rows of a unit. A row's ``split`` column, where there is one, decides; otherwise
    a file whose name names no split holds test rows."""
    items = []
    for path in unit:
        if path.suffix.lower() == ".csv":
            items += read_csv(path)
            continue
        named = MMLU.files.splits_named(path.stem)

        def parse(rec: dict, where: str) -> Item | None:
            column = rec.get("split")
            if isinstance(column, str) and column.strip():
                mine = SPLIT_WORDS.get(column.strip().lower(), column.strip().lower()) == split
            else:
                mine = split in named or (not named and split == "test")
            return export_row(rec, where) if mine else None
        items += parse_records(path, parse)
    return items


def prompt_body(item: Item) -> str:
    opts = " ".join(f"{label}) {text}" for label, text in item.choices)
    return f"Question: {item.question}\nOptions: {opts}\nAnswer:"


def prompt(item: Item) -> str:
    """``Question: {q}\\nOptions: A) {a} B) {b} C) {c} D) {d}\\nAnswer:``, after the few-shot examples
    (each the same template, a space, its letter and a blank line)."""
    return "".join(f"{prompt_body(s)} {s.answer}\n\n" for s in item.shots) + prompt_body(item)


MMLU = Task(
    name="mmlu",
    files=Files(
        release={"test": (r"(^|/)test/[^/]+_test\.csv$",), "dev": (r"(^|/)dev/[^/]+_dev\.csv$",)},
        generic={"test": exports(("test",)) + (r"^[^/]+_test\.csv$",),
                 "dev": exports(("dev",)) + (r"^[^/]+_dev\.csv$",)},
        folders=("hendrycks_test", "cais-mmlu"),
        split_words=SPLIT_WORDS,
        suffixes=(".csv", ".parquet", ".jsonl"),
        hint={"test": "data/test/*_test.csv, or test*.parquet/.jsonl in a folder named mmlu",
              "dev": "data/dev/*_dev.csv, or dev*.parquet/.jsonl in a folder named mmlu"},
    ),
    reader=read,
    prompt=prompt,
    tokens=1,
    scorer=by_answer(score_choice),
    metric=FIRST_CHARACTER.label,
    choices=text_continuations,
    chance=25.0,
    split="test",
    splits=("test",),
    fewshot_split="dev",
    aliases=(),
    group_kind="subject",
    part=lambda item: item.group,
    paper_name="MMLU",
    order=1,
    description="MMLU, 57 subjects, test split",
)
