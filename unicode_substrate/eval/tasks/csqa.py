"""CommonsenseQA, validation split (1,221 items): the release's ``dev_rand_split.jsonl`` or the
Hugging Face export (``validation-00000-of-00001.parquet``) in a folder named for the task.
Its test split is released without answers, so only validation is evaluated."""

from __future__ import annotations

from unicode_substrate.eval.tasks.choice import prompt as choice_prompt, reader as choice_reader
from unicode_substrate.eval.tasks.score import FIRST_CHARACTER, by_answer, score_choice, text_continuations
from unicode_substrate.eval.tasks.task import Files, Task, exports

CSQA = Task(
    name="csqa",
    files=Files(
        release={"validation": (r"(^|/)dev_rand_split\.jsonl$",)},
        generic={"validation": exports(("validation", "valid", "val", "dev"))},
        folders=("commonsenseqa", "commonsense-qa", "tau-commonsense_qa"),
        hint={"validation": "dev_rand_split.jsonl, or validation*.parquet/.jsonl in a folder named csqa"},
    ),
    reader=choice_reader("csqa"),
    prompt=choice_prompt,
    tokens=2,
    scorer=by_answer(score_choice),
    metric=FIRST_CHARACTER.label,
    choices=text_continuations,
    chance=20.0,
    aliases=("commonsense_qa",),
    paper_name="C-SENSE",
    order=4,
    description="CommonsenseQA",
)
