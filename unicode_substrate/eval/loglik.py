"""The log-likelihood protocol for multiple choice, as lm-evaluation-harness (0.4) scores it.

For every item the prompt is the paper's (so both protocols see the same text) and each choice's
continuation is the target delimiter, a space, and the choice: its text (``choices="text"``, as
lm-eval's ARC tasks), or for MMLU and CommonsenseQA its answer letter (``choices="letters"``, as
lm-eval's stock ``mmlu`` and ``commonsense_qa`` tasks; ARC and BoolQ keep their texts there too).

Encoding follows lm-eval's ``_encode_pair`` for causal models: trailing spaces of the context move
to the continuation, ``context + continuation`` is encoded whole, the context alone, and the
continuation is the whole string's tokens after the context's length. Both are encoded as lm-eval's
``tok_encode`` does by default, with the tokenizer's own special tokens: a Llama-style tokenizer
puts its BOS first, ours and the bvv241 ones add none (``LanguageModel.encode_loglik``; ``--no-bos``
encodes without special tokens, as lm-eval's ``add_bos_token=False``, ``--bos`` puts exactly one
BOS first). The score of a choice is
the summed log-probability of those tokens, from one forward pass (batched, longest first,
right-padded; causal attention makes the padding invisible).

Metrics, as lm-eval's ``process_results``: ``acc`` takes the likeliest choice, ``acc_norm`` the
likeliest per character of the choice (the delimiter excluded), ``acc_bytes`` the likeliest per
UTF-8 byte of the choice; ties go to the first choice (numpy's argmax). No sampling: the result
is deterministic. The 95 % interval is Wilson's score interval over items, which stays inside
[0, 100] for few items or scores near the ends, unlike the normal approximation.
"""

from __future__ import annotations

import math

from unicode_substrate.errors import SubstrateError
from unicode_substrate.metrics import Metric, family, register
from unicode_substrate.eval.prompts import prompt
from unicode_substrate.eval.tasks import Item

CHOICE_STYLES = ("text", "letters")
LETTER_TASKS = frozenset({"mmlu", "csqa"})  # lm-eval's stock tasks score these by answer letter
DELIMITER = " "  # lm-eval's default target_delimiter
Z95 = 1.959963984540054  # the two-sided 95 % normal quantile


def choice_strings(item: Item, style: str = "text") -> list[str]:
    """The strings lm-eval's ``doc_to_choice`` would give: letters (MMLU, CSQA under ``letters``) or texts."""
    if style not in CHOICE_STYLES:
        raise SubstrateError(f"unknown choice style {style!r}; choose one of {', '.join(CHOICE_STYLES)}")
    if style == "letters" and item.task in LETTER_TASKS:
        return [label for label, _ in item.choices]
    return [text for _, text in item.choices]


def encode_pair(lm, context: str, continuation: str, _encoded: dict | None = None) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) cut from one encoding of the whole string, as lm-eval does.
    ``_encoded`` keeps the context's encoding for the next choice of the same prompt."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = lm.encode_loglik(context + continuation)
    if _encoded is None:
        ctx = lm.encode_loglik(context)
    elif context in _encoded:
        ctx = _encoded[context]
    else:
        ctx = _encoded[context] = lm.encode_loglik(context)
    return ctx, whole[len(ctx):]


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def _per(ll: float, length: int) -> float:
    """``ll / length`` as lm-evaluation-harness's numpy division gives it: an empty choice (length 0) is
    -inf for a negative log-likelihood, so it is never the normalised pick, instead of a ZeroDivisionError."""
    if length:
        return ll / length
    return -math.inf if ll < 0 else (math.inf if ll > 0 else -math.inf)


def run_items(lm, items: list[Item], batch_size: int = 16, progress=None, choices: str = "text") -> list[dict]:
    """Score every choice of every item; one sample record per item."""
    records = []
    step = max(1, batch_size)
    for start in range(0, len(items), step):
        chunk = items[start:start + step]
        reqs, spans = [], []
        for item in chunk:
            text = prompt(item)
            strings = choice_strings(item, choices)
            spans.append((len(reqs), len(strings)))
            encoded: dict = {}
            reqs += [encode_pair(lm, text, DELIMITER + s, encoded) for s in strings]
        lls = lm.logliks(reqs, batch_size=batch_size)
        for item, (a, n) in zip(chunk, spans):
            records.append(record(item, lls[a:a + n], choices))
        if progress is not None:
            progress.update(len(chunk))
    return records


def record(item: Item, lls: list[float], choices: str = "text") -> dict:
    """The sample record of one item from its choices' log-likelihoods."""
    strings = choice_strings(item, choices)
    chars = [len(s) for s in strings]
    nbytes = [len(s.encode("utf-8")) for s in strings]
    labels = [label for label, _ in item.choices]
    pred = labels[_argmax(lls)]
    pred_norm = labels[_argmax([_per(ll, c) for ll, c in zip(lls, chars)])]
    pred_bytes = labels[_argmax([_per(ll, b) for ll, b in zip(lls, nbytes)])]
    return {"protocol": "loglik", "task": item.task, "group": item.group, "id": item.id, "prompt": prompt(item),
            "answer": item.answer, "choices": labels, "continuations": [DELIMITER + s for s in strings],
            "loglik": lls, "chars": chars, "bytes": nbytes, "pred": pred, "pred_norm": pred_norm,
            "pred_bytes": pred_bytes, "correct": pred == item.answer, "correct_norm": pred_norm == item.answer,
            "correct_bytes": pred_bytes == item.answer}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for k successes in n trials, as fractions in [0, 1]; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # at k = 0 and k = n one bound is exactly 0 or 1; floating point would leave it a hair off
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


register(Metric("acc", "loglik", "acc", higher_is_better=True, digits=2, headline=True, field="correct",
                description="the likeliest choice"))
register(Metric("acc_norm", "loglik", "acc_norm", higher_is_better=True, digits=2, headline=True, field="correct_norm",
                description="log-likelihood divided by the choice's length in characters (delimiter excluded)"))
register(Metric("acc_bytes", "loglik", "acc_bytes", higher_is_better=True, digits=2, field="correct_bytes",
                description="log-likelihood divided by the choice's length in UTF-8 bytes (delimiter excluded)"))


def summarize(records: list[dict]) -> dict:
    """Every log-likelihood metric (acc, acc_norm, acc_bytes) in percent, each with its Wilson 95 % interval,
    and the item count."""
    n = len(records)
    out: dict = {"n": n, "interval": "wilson95"}
    for m in family("loglik"):
        k = sum(bool(r.get(m.field)) for r in records)
        lo, hi = wilson(k, n)
        out[m.name], out[f"{m.name}_low"], out[f"{m.name}_high"] = 100 * k / n, 100 * lo, 100 * hi
    return out


def settings(choices: str = "text", bos: bool | None = None) -> dict:
    """How the log-likelihood protocol scored, recorded in results.json."""
    return {
        "bos": ("tokenizer default (as lm-eval's tok_encode: its special tokens, none for a text that starts "
                "with the BOS text)" if bos is None else
                "one BOS before context and context + continuation" if bos else "none (no special tokens)"),
        "choices": choices,
        "continuation": ("' ' + the choice after the paper prompt"
                         + ("; MMLU and CommonsenseQA: the answer letter" if choices == "letters" else "; the choice text")),
        "encoding": "lm-eval's: context + continuation encoded whole, split after the context's token count",
        **{m.name: m.description for m in family("loglik") if m.name != "acc"},
        "interval": "Wilson score interval, 95 %, over items",
    }
