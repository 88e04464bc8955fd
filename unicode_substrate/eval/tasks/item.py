"""One benchmark question, the record every reader produces and every protocol consumes."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    # The Task of a user task file (built-in tasks are found by name in the registry).
    spec: object = field(default=None, compare=False, repr=False)


class RowError(ValueError):
    """A record that does not read exactly; turned into one line naming the file and record."""
