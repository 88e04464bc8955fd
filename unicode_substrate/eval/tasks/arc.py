"""ARC (AI2 Reasoning Challenge), Easy and Challenge sets, validation split (570 and 299 items).

The release unpacks to ``ARC-V1-Feb2018-2/ARC-Easy/ARC-Easy-Dev.jsonl`` (and ``-Test``, ``-Train``,
and the Challenge files beside); the two files may also sit side by side in one folder. arc-easy
reads only Easy files, arc-challenge only Challenge files. The Hugging Face export
(``ARC-Easy/validation-00000-of-00001.parquet``) is read from a folder named for the set.
"""

from __future__ import annotations

from unicode_substrate.eval.tasks.choice import prompt as choice_prompt, reader as choice_reader
from unicode_substrate.eval.tasks.score import FIRST_CHARACTER, by_answer, score_choice, text_continuations
from unicode_substrate.eval.tasks.task import Files, Task, exports

VALIDATION, TEST = ("validation", "valid", "val", "dev"), ("test",)


def _arc(name: str, release: str, alias: str, paper_name: str, order: int) -> Task:
    return Task(
        name=name,
        files=Files(
            release={"validation": (rf"(^|/){release}-Dev\.jsonl$",), "test": (rf"(^|/){release}-Test\.jsonl$",)},
            generic={"validation": exports(VALIDATION), "test": exports(TEST)},
            folders=(release,),
            hint={"validation": f"{release}-Dev.jsonl, or validation*/dev*.parquet/.jsonl in a folder named {name}",
                  "test": f"{release}-Test.jsonl, or test*.parquet/.jsonl in a folder named {name}"},
        ),
        reader=choice_reader(name),
        prompt=choice_prompt,
        tokens=2,
        scorer=by_answer(score_choice),
        metric=FIRST_CHARACTER.label,
        choices=text_continuations,
        chance=25.0,
        splits=("validation", "test"),
        aliases=(alias,),
        paper_name=paper_name,
        order=order,
        description=f"ARC {release[4:]}",
    )


ARC_EASY = _arc("arc-easy", "ARC-Easy", "arc_easy", "ARC-e", order=2)
ARC_CHALLENGE = _arc("arc-challenge", "ARC-Challenge", "arc_challenge", "ARC-c", order=3)
