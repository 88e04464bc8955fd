"""The paper's prompt templates (SPEC E), the generation lengths, and the answers each protocol scores.

Templates, character for character:

* MMLU: ``"Question: {q}\\nOptions: A) {a} B) {b} C) {c} D) {d}\\nAnswer:"``; with K few-shot
  examples (dev rows) each is put first in the same template, followed by a space, its answer
  letter and a blank line: ``"{shot prompt} {letter}\\n\\n" * K + "{prompt}"``.
* ARC, CommonsenseQA: ``"Question: {q}\\nOptions:\\n{label}) {text}\\n...\\nAnswer:"`` (native labels)
* SQuAD: ``"Context: {ctx}\\nQuestion: {q}\\nAnswer:"``
* translation: ``"Translate from English to Russian:\\n{src}\\nAnswer:"``
* BoolQ (a loader the paper had but did not report; only its ending is known):
  ``"Context: {passage}\\nQuestion: {q}\\nAnswer (True/False):"``, the SQuAD layout with that ending.
"""

from __future__ import annotations

from unicode_substrate.eval.tasks import LANGUAGES, Item

# Tokens generated per item (SPEC E): MMLU 1, ARC/CSQA 2; SQuAD and translation min(chars, 100).
# BoolQ is our choice: 2, as for the other multiple-choice sets with a separating space.
MAX_GENERATED = 100
CHOICE_TOKENS = {"mmlu": 1, "arc-easy": 2, "arc-challenge": 2, "csqa": 2, "boolq": 2}


def _mmlu(item: Item) -> str:
    opts = " ".join(f"{label}) {text}" for label, text in item.choices)
    return f"Question: {item.question}\nOptions: {opts}\nAnswer:"


def prompt(item: Item) -> str:
    """The paper's prompt for ``item``."""
    if item.task == "mmlu":
        shots = "".join(f"{_mmlu(shot)} {shot.answer}\n\n" for shot in item.shots)
        return shots + _mmlu(item)
    if item.task in ("arc-easy", "arc-challenge", "csqa"):
        opts = "".join(f"{label}) {text}\n" for label, text in item.choices)
        return f"Question: {item.question}\nOptions:\n{opts}Answer:"
    if item.task == "squad":
        return f"Context: {item.context}\nQuestion: {item.question}\nAnswer:"
    if item.task == "boolq":
        return f"Context: {item.context}\nQuestion: {item.question}\nAnswer (True/False):"
    if item.task == "translation":
        src, tgt = item.group.split("-")
        return f"Translate from {LANGUAGES[src]} to {LANGUAGES[tgt]}:\n{item.question}\nAnswer:"
    raise ValueError(f"no prompt for task {item.task!r}")


def new_tokens(item: Item) -> int:
    """How many tokens the paper protocol generates for ``item``."""
    if item.task in CHOICE_TOKENS:
        return CHOICE_TOKENS[item.task]
    return max(1, min(len(item.answer), MAX_GENERATED))  # SQuAD answer / translation reference characters


def continuations(item: Item) -> list[str]:
    """What the log-likelihood protocol scores after the prompt: a space and each choice's text
    (the answer itself, as lm-evaluation-harness scores ARC-style sets, not its label)."""
    return [f" {text}" for _, text in item.choices]
