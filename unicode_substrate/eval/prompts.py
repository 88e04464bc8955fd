"""The prompts, generation lengths and log-likelihood continuations of every task, read from its
``Task`` record (the templates themselves live in the task modules, ``eval/tasks/*.py``).

The built-in templates are the paper's, character for character (SPEC E):

* MMLU: ``"Question: {q}\\nOptions: A) {a} B) {b} C) {c} D) {d}\\nAnswer:"``; with K few-shot
  examples (dev rows) each is put first in the same template, followed by a space, its answer
  letter and a blank line: ``"{shot prompt} {letter}\\n\\n" * K + "{prompt}"``.
* ARC, CommonsenseQA: ``"Question: {q}\\nOptions:\\n{label}) {text}\\n...\\nAnswer:"`` (native labels)
* SQuAD: ``"Context: {ctx}\\nQuestion: {q}\\nAnswer:"``
* translation: ``"Translate from English to Russian:\\n{src}\\nAnswer:"``
* BoolQ (the author's script; never reported): ``"Context: {passage}\\nQuestion: {q}\\nAnswer (True/False):"``.
"""

from __future__ import annotations

from unicode_substrate.eval.tasks import TASKS, Item, task_of
from unicode_substrate.eval.tasks.task import MAX_GENERATED

# Tokens generated per multiple-choice item (SPEC E: MMLU 1, ARC/CSQA 2; BoolQ 1 as the author's script).
CHOICE_TOKENS = {name: t.tokens for name, t in TASKS.items() if isinstance(t.tokens, int)}

__all__ = ["CHOICE_TOKENS", "MAX_GENERATED", "continuations", "new_tokens", "prompt"]


def prompt(item: Item) -> str:
    """The prompt for ``item`` (the paper's template for a built-in task)."""
    return task_of(item).prompt(item)


def new_tokens(item: Item) -> int:
    """How many tokens the paper protocol generates for ``item``."""
    return task_of(item).new_tokens(item)


def continuations(item: Item) -> list[str]:
    """What the log-likelihood protocol scores after the prompt (built-in tasks: a space and each
    choice's text, as lm-evaluation-harness scores ARC-style sets, not its label)."""
    task = task_of(item)
    if task.choices is None:
        raise ValueError(f"task {task.name!r} is generative: no continuations to score")
    return task.choices(item)
