"""The paper protocol's scorers (SPEC E, and the author's ``_models_benchmarking.py`` where the papers are silent).

Each takes the generated text and the gold answer and gives (parsed output, score): 0/1 for the
accuracy scorers, sentence BLEU in [0, 100] for translation.
"""

from __future__ import annotations

from typing import Callable

from unicode_substrate.eval.tasks.item import Item
from unicode_substrate.metrics import Metric, register

EOS_CUT = "</S>"


def parse_choice(text: str) -> str:
    """The parsed answer: the first character of the stripped, upper-cased output ('' when empty)."""
    return text.strip().upper()[:1]


def score_choice(text: str, label: str) -> tuple[str, float]:
    """Correct iff the first character of the stripped, upper-cased output is the gold label's
    (BoolQ's True/False compare as T/F, as the script's ``'T' if answer else 'F'``)."""
    parsed = parse_choice(text)
    return parsed, float(bool(parsed) and parsed == label.strip().upper()[:1])


def score_contains(text: str, answer: str) -> tuple[str, float]:
    """SQuAD: the stripped, upper-cased generation equals the upper-cased answer or contains it;
    the answer itself is not stripped, as in the author's script."""
    gen, ans = text.strip().upper(), answer.upper()
    return gen, float(gen == ans or ans in gen)


def score_bleu(text: str, reference: str) -> tuple[str, float]:
    """Translation: stripped and upper-cased, then cut at ``</S>`` (in that order, as the script
    does), sentence BLEU ``sacrebleu.corpus_bleu([gen], [[ref]])`` on upper-cased text."""
    import sacrebleu

    gen = text.strip().upper()
    cut = gen.find(EOS_CUT)
    gen = gen[:cut] if cut != -1 else gen
    return gen, float(sacrebleu.corpus_bleu([gen], [[reference.upper()]]).score)


FIRST_CHARACTER = register(Metric("first-character", "paper", "first-character accuracy", higher_is_better=True, digits=2, fn=score_choice,
                description=score_choice.__doc__.split("\n")[0]))
CONTAINS = register(Metric("contains", "paper", "containment accuracy", higher_is_better=True, digits=2, fn=score_contains,
                description=score_contains.__doc__.split("\n")[0]))
BLEU = register(Metric("bleu", "paper", "sentence BLEU", higher_is_better=True, digits=2, fn=score_bleu, percent=False,
                description=score_bleu.__doc__.split("\n")[0]))


def by_answer(scorer: Callable[[str, str], tuple[str, float]]) -> Callable[[Item, str], tuple[str, float]]:
    """A Task scorer ``(item, text)`` from a ``(text, gold)`` one, the gold being ``item.answer``."""
    def score(item: Item, text: str) -> tuple[str, float]:
        return scorer(text, item.answer)
    score.__name__ = scorer.__name__
    return score


def text_continuations(item: Item) -> list[str]:
    """Log-likelihood continuations: a space and each choice's text (as lm-evaluation-harness scores ARC)."""
    return [f" {text}" for _, text in item.choices]
