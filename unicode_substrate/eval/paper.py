"""The paper's generative protocol (SPEC E): prompt, generate N tokens, parse, score; n runs.

For every item: encode the prompt without BOS, sample ``runs`` continuations of N tokens in one
batch from a generator seeded by (seed, task, item id), decode them with special tokens kept,
drop ``<s>``, and score each run:

* multiple choice: strip and upper-case; correct iff the first character equals the gold label
  (native labels; BoolQ's labels True/False compare by their first letter, T or F). Anything
  else, including empty output, is wrong.
* SQuAD: correct iff the stripped, upper-cased generation equals the upper-cased answer or
  contains it.
* translation: upper-case, cut at ``</S>``, strip; the score is sentence BLEU,
  ``sacrebleu.corpus_bleu([gen], [[ref]])`` on upper-cased text.

Per run the task score is the mean over items; reported are the mean over runs and
1.96 * sigma / sqrt(runs), sigma the population standard deviation of the run scores (decoding
noise only, not item sampling), as the paper reports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from unicode_substrate.choices import BOS, EVAL_TEMPERATURE, EVAL_TOP_K
from unicode_substrate.eval.prompts import new_tokens, prompt
from unicode_substrate.eval.tasks import Item

BOS_TEXT = BOS
EOS_CUT = "</S>"


@dataclass(frozen=True)
class Sampling:
    """How the paper protocol samples (the paper does not say; recorded in results.json)."""

    runs: int = 10
    temperature: float = EVAL_TEMPERATURE
    top_k: int | None = EVAL_TOP_K
    seed: int = 0


def parse_choice(text: str) -> str:
    """The parsed answer: the first character of the stripped, upper-cased output ('' when empty)."""
    return text.strip().upper()[:1]


def score_choice(text: str, label: str) -> tuple[str, float]:
    parsed = parse_choice(text)
    return parsed, float(bool(parsed) and parsed == label.strip().upper()[:1])


def score_squad(text: str, answer: str) -> tuple[str, float]:
    gen, ans = text.strip().upper(), answer.strip().upper()
    return gen, float(gen == ans or ans in gen)


def score_translation(text: str, reference: str) -> tuple[str, float]:
    import sacrebleu

    gen = text.upper().split(EOS_CUT)[0].strip()
    return gen, float(sacrebleu.corpus_bleu([gen], [[reference.upper()]]).score)


def score(item: Item, text: str) -> tuple[str, float]:
    """(parsed output, score in [0, 1] for accuracy tasks, BLEU in [0, 100] for translation)."""
    if item.task == "squad":
        return score_squad(text, item.answer)
    if item.task == "translation":
        return score_translation(text, item.answer)
    return score_choice(text, item.answer)


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and 1.96 * population sigma / sqrt(n) of per-run scores."""
    n = len(values)
    mean = sum(values) / n
    sigma = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    return mean, 1.96 * sigma / math.sqrt(n)


def run_item(lm, item: Item, sampling: Sampling) -> dict:
    """Generate and score ``sampling.runs`` answers to ``item``; the sample record for samples.jsonl."""
    from unicode_substrate.eval.models import item_seed

    text = prompt(item)
    n = new_tokens(item)
    ids = lm.encode(text)
    if not ids:
        ids = lm.encode(" ")
    outs, dropped = lm.generate(ids, n, sampling.runs, sampling.temperature, sampling.top_k,
                                item_seed(sampling.seed, item.task, item.id))
    gens = [lm.decode(o).replace(BOS_TEXT, "") for o in outs]
    parsed, scores = zip(*(score(item, g) for g in gens))
    return {"protocol": "paper", "task": item.task, "group": item.group, "id": item.id, "prompt": text,
            "answer": item.answer, "new_tokens": n, "prompt_tokens": len(ids), "prompt_tokens_dropped": dropped,
            "generations": gens, "parsed": list(parsed), "scores": list(scores)}


def summarize(records: list[dict], runs: int, percent: bool) -> dict:
    """Per-run means, their mean and CI (x100 for accuracies), and the item count."""
    scale = 100.0 if percent else 1.0
    per_run = [scale * sum(r["scores"][k] for r in records) / len(records) for k in range(runs)]
    mean, ci = mean_ci(per_run)
    return {"score": mean, "ci95": ci, "runs": per_run, "n": len(records)}
