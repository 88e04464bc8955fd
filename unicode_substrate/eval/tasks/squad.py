"""SQuAD v2, validation split: the release's ``dev-v2.0.json`` (``data[].paragraphs[].qas[]``) or
the export (``id``, ``context``, ``question``, ``answers{text}``). The paper keeps answerable
questions whose first answer has at most 8 characters and samples 256 of them."""

from __future__ import annotations

import json
import random
from pathlib import Path

from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks.item import Item, RowError
from unicode_substrate.eval.tasks.read import get_path, parse_records, read_text, text_field
from unicode_substrate.eval.tasks.score import by_answer, score_contains
from unicode_substrate.eval.tasks.task import ANSWER_LENGTH, Files, Task, exports

SQUAD_ITEMS, SQUAD_MAX_ANSWER_CHARS = 256, 8


def answers(value) -> tuple[str, ...]:
    """Every answer text, from the release's list of {text} or the export's {text: [...]}."""
    if isinstance(value, dict):
        value = value.get("text")
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise RowError("answers.text is not a list of strings")
        return tuple(value)
    if isinstance(value, list) and all(isinstance(a, dict) and isinstance(a.get("text"), str) for a in value):
        return tuple(a["text"] for a in value)
    raise RowError("answers is not a list of {text} nor {text: [...]}")


def export_row(rec: dict, where: str) -> Item:
    ans = answers(get_path(rec, "answers"))
    return Item("squad", str(rec.get("id") or where), text_field(rec, "question"), ans[0] if ans else "",
                context=text_field(rec, "context"), answers=ans)


def _list(value, where: str) -> list:
    if not isinstance(value, list):
        raise RowError(f"{where} is not a list")
    return value


def read_json(path: Path) -> list[Item]:
    """The release JSON; an article, paragraph or question of another shape is refused, not skipped."""
    try:
        doc = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise SubstrateError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise SubstrateError(f"{path}: not a SQuAD file (no data list)")
    items, where = [], "data"
    try:
        for a, article in enumerate(doc["data"]):
            where = f"data[{a}]"
            if not isinstance(article, dict):
                raise RowError("not an object")
            for p, para in enumerate(_list(article.get("paragraphs"), "paragraphs")):
                where = f"data[{a}].paragraphs[{p}]"
                if not isinstance(para, dict):
                    raise RowError("not an object")
                for q, qa in enumerate(_list(para.get("qas"), "qas")):
                    where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                    if not isinstance(qa, dict):
                        raise RowError("not an object")
                    ans = answers(get_path(qa, "answers"))  # v2: [] for an unanswerable question
                    items.append(Item("squad", str(qa.get("id") or where), text_field(qa, "question"),
                                      ans[0] if ans else "", context=text_field(para, "context"), answers=ans))
    except RowError as e:
        raise SubstrateError(f"{path} {where}: {e}") from None
    return items


def read(unit: tuple[Path, ...], split: str) -> list[Item]:
    return [it for path in unit
            for it in (read_json(path) if path.suffix.lower() == ".json" else parse_records(path, export_row))]


def prompt(item: Item) -> str:
    """``Context: {ctx}\\nQuestion: {q}\\nAnswer:``"""
    return f"Context: {item.context}\nQuestion: {item.question}\nAnswer:"


def select(task: Task, items: list[Item], rng: random.Random, limit: int | None) -> list[Item]:
    """Answerable items whose first answer has at most 8 characters, shuffled, the first 256."""
    items = [it for it in items if it.answer and len(it.answer) <= SQUAD_MAX_ANSWER_CHARS]
    if not items:
        raise SubstrateError(f"no answerable SQuAD item has a first answer of at most {SQUAD_MAX_ANSWER_CHARS} characters")
    rng.shuffle(items)
    return items[:SQUAD_ITEMS][:limit]


SQUAD = Task(
    name="squad",
    files=Files(
        release={"validation": (r"(^|/)dev-v2\.0\.json$",)},
        generic={"validation": exports(("validation", "valid", "val", "dev"), "parquet|jsonl|json")},
        folders=("squad_v2", "squad-v2", "squad2"),
        suffixes=(".json", ".parquet", ".jsonl"),
        hint={"validation": "dev-v2.0.json, or validation*.parquet/.jsonl in a folder named squad"},
    ),
    reader=read,
    prompt=prompt,
    tokens=ANSWER_LENGTH,
    scorer=by_answer(score_contains),
    metric="containment accuracy",
    choices=None,
    chance=None,
    select=select,
    aliases=("squadv2",),
    paper_name="SQUAD",
    protocols=("paper",),
    description="SQuAD v2, answerable, first answer at most 8 characters",
)
