"""SQuAD v2, validation split: the release's ``dev-v2.0.json`` (``data[].paragraphs[].qas[]``) or
the export (``id``, ``context``, ``question``, ``answers{text}``). The paper keeps answerable
questions whose first answer has at most 8 characters and samples 256 of them.

:func:`article_items` reads one article of the release and :func:`answerable` says which items
have an answer; the training reader of ``train-v2.0.json`` (``data/qa.py``) uses both."""

from __future__ import annotations

import random
from pathlib import Path

from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks.item import Item, RowError
from unicode_substrate.eval.tasks.read import get_path, json_list, parse_records, text_field
from unicode_substrate.eval.tasks.score import CONTAINS, by_answer, score_contains
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


def _qa_answers(qa: dict) -> tuple[str, ...]:
    """The answers of a release question; none when it is impossible (v2), which must be a boolean."""
    ans = answers(get_path(qa, "answers"))  # v2: [] for an unanswerable question
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise RowError(f"is_impossible {impossible!r} is not true or false")
    if impossible and ans:
        raise RowError("is_impossible is true but answers are given")
    return ans


def article_items(article, where: str) -> list[Item]:
    """The items of one release article (``data[i]``, named ``where``); an article, paragraph or
    question of another shape is refused (a RowError naming its place), not skipped."""
    at = where
    try:
        if not isinstance(article, dict):
            raise RowError("not an object")
        items = []
        for p, para in enumerate(_list(article.get("paragraphs"), "paragraphs")):
            at = f"{where}.paragraphs[{p}]"
            if not isinstance(para, dict):
                raise RowError("not an object")
            for q, qa in enumerate(_list(para.get("qas"), "qas")):
                at = f"{where}.paragraphs[{p}].qas[{q}]"
                if not isinstance(qa, dict):
                    raise RowError("not an object")
                ans = _qa_answers(qa)
                items.append(Item("squad", str(qa.get("id") or at), text_field(qa, "question"),
                                  ans[0] if ans else "", context=text_field(para, "context"), answers=ans))
        return items
    except RowError as e:
        raise RowError(f"{at}: {e}") from None


def read_json(path: Path) -> list[Item]:
    """The release JSON, one article at a time."""
    items = []
    for a, article in json_list(path, "data"):
        try:
            items += article_items(article, f"data[{a}]")
        except RowError as e:
            raise SubstrateError(f"{path} {e}") from None
    return items


def answerable(item: Item) -> bool:
    """Whether a SQuAD item has an answer to score or to train on (its first answer is not empty)."""
    return bool(item.answer.strip())


def read(unit: tuple[Path, ...], split: str) -> list[Item]:
    return [it for path in unit
            for it in (read_json(path) if path.suffix.lower() == ".json" else parse_records(path, export_row))]


def prompt(item: Item) -> str:
    """``Context: {ctx}\\nQuestion: {q}\\nAnswer:``; a question without a passage (the TriviaQA and
    NQ-open training items; eval's SQuAD items always have one) has no context line."""
    question = f"Question: {item.question}\nAnswer:"
    return f"Context: {item.context}\n{question}" if item.context else question


def select(task: Task, items: list[Item], rng: random.Random, limit: int | None) -> list[Item]:
    """Answerable items whose first answer has at most 8 characters, shuffled, the first 256."""
    items = [it for it in items if answerable(it) and len(it.answer) <= SQUAD_MAX_ANSWER_CHARS]
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
    metric=CONTAINS.label,
    choices=None,
    chance=None,
    select=select,
    aliases=("squadv2",),
    paper_name="SQUAD",
    order=5,
    protocols=("paper",),
    description="SQuAD v2, answerable, first answer at most 8 characters",
)
