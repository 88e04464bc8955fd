"""BoolQ, validation split: the release's ``dev.jsonl`` (``question``, ``passage``, ``answer``) or
SuperGLUE's ``BoolQ/val.jsonl`` (``label`` for ``answer``), or a Parquet/JSONL export, all in a
folder named for the task. A loader of the papers' script, never reported; its test split has no
answers."""

from __future__ import annotations

from pathlib import Path

from unicode_substrate.eval.tasks.item import Item, RowError
from unicode_substrate.eval.tasks.read import parse_records, text_field
from unicode_substrate.eval.tasks.score import FIRST_CHARACTER, by_answer, score_choice, text_continuations
from unicode_substrate.eval.tasks.task import Files, Task, exports


def parse(rec: dict, where: str) -> Item:
    answer = rec.get("answer", rec.get("label"))
    if "answer" in rec and "label" in rec and rec["answer"] != rec["label"]:
        raise RowError(f"answer {rec['answer']!r} and label {rec['label']!r} disagree")
    if not isinstance(answer, bool):
        raise RowError(f"answer {answer!r} is not true or false")
    ident = rec.get("id", rec.get("idx"))
    return Item("boolq", str(where if ident is None else ident), text_field(rec, "question"),
                "True" if answer else "False", (("True", "True"), ("False", "False")), context=text_field(rec, "passage"))


def read(unit: tuple[Path, ...], split: str) -> list[Item]:
    return [it for path in unit for it in parse_records(path, parse)]


def prompt(item: Item) -> str:
    """``Context: {passage}\\nQuestion: {q}\\nAnswer (True/False):`` (the author's script)."""
    return f"Context: {item.context}\nQuestion: {item.question}\nAnswer (True/False):"


BOOLQ = Task(
    name="boolq",
    files=Files(
        release={},
        generic={"validation": exports(("validation", "valid", "val", "dev"))},
        folders=("super_glue-boolq", "google-boolq"),
        hint={"validation": "dev.jsonl or val.jsonl (SuperGLUE) or validation*.parquet in a folder named boolq"},
    ),
    reader=read,
    prompt=prompt,
    tokens=1,  # the author's script: evaluate_model_on_boolq(max_new_tokens=1)
    scorer=by_answer(score_choice),
    metric=FIRST_CHARACTER.label,
    choices=text_continuations,
    chance=50.0,
    paper_name="BOOLQ",
    order=7,
    description="BoolQ",
)
