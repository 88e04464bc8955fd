"""The log-likelihood protocol for multiple choice (as lm-evaluation-harness scores it).

For every item the prompt is the paper's (so both protocols see the same text) and each choice's
continuation is a space and the choice's text. The prompt and the continuation are encoded
separately and joined, and the score of a choice is the summed log-probability of its tokens
given everything before them, from one forward pass of prompt + continuation (batched, longest
first, right-padded; causal attention makes the padding invisible). ``acc`` takes the likeliest
choice, ``acc_norm`` the likeliest per UTF-8 byte of the continuation; ties go to the first
choice. No sampling: the result is deterministic. The 95 % interval is the binomial one over
items, 1.96 * sqrt(p (1 - p) / n), since there is no decoding noise to measure.
"""

from __future__ import annotations

import math

from unicode_substrate.eval.prompts import continuations, prompt
from unicode_substrate.eval.tasks import Item


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def run_items(lm, items: list[Item], batch_size: int = 16, progress=None) -> list[dict]:
    """Score every choice of every item; one sample record per item."""
    records = []
    step = max(1, batch_size)
    for start in range(0, len(items), step):
        chunk = items[start:start + step]
        reqs, spans = [], []
        for item in chunk:
            ctx = lm.encode(prompt(item))
            conts = continuations(item)
            spans.append((len(reqs), len(conts)))
            reqs += [(ctx, lm.encode(c)) for c in conts]
        lls = lm.logliks(reqs, batch_size=batch_size)
        for item, (a, n) in zip(chunk, spans):
            records.append(record(item, lls[a:a + n]))
        if progress is not None:
            progress.update(len(chunk))
    return records


def record(item: Item, lls: list[float]) -> dict:
    """The sample record of one item from its choices' log-likelihoods."""
    conts = continuations(item)
    nbytes = [len(c.encode("utf-8")) for c in conts]
    labels = [label for label, _ in item.choices]
    pred = labels[_argmax(lls)]
    pred_norm = labels[_argmax([ll / b for ll, b in zip(lls, nbytes)])]
    return {"protocol": "loglik", "task": item.task, "group": item.group, "id": item.id, "prompt": prompt(item),
            "answer": item.answer, "choices": labels, "continuations": conts, "loglik": lls, "bytes": nbytes,
            "pred": pred, "pred_norm": pred_norm, "correct": pred == item.answer, "correct_norm": pred_norm == item.answer}


def binomial_ci(p: float, n: int) -> float:
    return 1.96 * math.sqrt(p * (1 - p) / n) if n else 0.0


def summarize(records: list[dict]) -> dict:
    """acc and acc_norm in percent with binomial 95 % intervals, and the item count."""
    n = len(records)
    acc = sum(r["correct"] for r in records) / n
    norm = sum(r["correct_norm"] for r in records) / n
    return {"acc": 100 * acc, "acc_ci95": 100 * binomial_ci(acc, n),
            "acc_norm": 100 * norm, "acc_norm_ci95": 100 * binomial_ci(norm, n), "n": n}
