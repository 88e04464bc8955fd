"""The multiple-choice record ARC and CommonsenseQA share: the release JSONL (``question.stem``,
``question.choices[{label, text}]``, ``answerKey``) or the export (``question``,
``choices{label: [...], text: [...]}``, ``answerKey``); native labels (A-E, 1-4) are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from unicode_substrate.eval.tasks.item import Item, RowError
from unicode_substrate.eval.tasks.read import get_path, labelled_choices, parse_records, text_field


def parse_choice_record(task: str) -> Callable[[dict, str], Item]:
    """The record parser of ``task``'s items; refuses what it cannot read exactly."""
    def parse(rec: dict, where: str) -> Item:
        q = rec.get("question")
        if isinstance(q, dict):  # release: question.stem, question.choices[{label, text}]
            stem = text_field(q, "stem", "question.stem")
            raw = get_path(q, "choices")
            if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
                raise RowError("question.choices is not a list of {label, text}")
            labels = [c.get("label") for c in raw]
            texts = [c.get("text") for c in raw]
        else:  # export: question (string), choices {label: [...], text: [...]}
            stem = text_field(rec, "question")
            raw = get_path(rec, "choices")
            if not isinstance(raw, dict):
                raise RowError("choices is not {label: [...], text: [...]}")
            labels, texts = raw.get("label"), raw.get("text")
            if not isinstance(labels, list) or not isinstance(texts, list) or len(labels) != len(texts):
                raise RowError("choices.label and choices.text are not lists of one length")
        choices = labelled_choices(labels, texts)
        answer = text_field(rec, "answerKey")
        if answer not in labels:
            raise RowError(f"answerKey {answer!r} is not one of the labels {', '.join(labels)}")
        return Item(task, str(rec.get("id") or where), stem, answer, choices)
    return parse


def reader(task: str) -> Callable[[tuple[Path, ...], str], list[Item]]:
    """Every record of every file of a unit."""
    parse = parse_choice_record(task)

    def read(unit: tuple[Path, ...], split: str) -> list[Item]:
        return [it for path in unit for it in parse_records(path, parse)]
    return read


def prompt(item: Item) -> str:
    """``Question: {q}\\nOptions:\\n{label}) {text}\\n...\\nAnswer:`` with the native labels."""
    opts = "".join(f"{label}) {text}\n" for label, text in item.choices)
    return f"Question: {item.question}\nOptions:\n{opts}Answer:"
