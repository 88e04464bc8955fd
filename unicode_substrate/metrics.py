"""Every metric a report shows, as one record registered once by the module that computes it.

As lm-evaluation-harness registers its metric functions (``register_metric``: name, higher is
better, aggregation), a :class:`Metric` says what a figure is called, which way is better, how it
is shown and, where there is one, the function that computes it. The module that computes a
metric registers it beside the function (``tokens.py`` the validation figures, ``eval/loglik.py``
the log-likelihood accuracies, ``eval/tasks/score.py`` the paper protocol's scorers); reports,
tables, loggers and task files read the records, so adding a metric is one ``register`` call.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

# family -> the module that computes (and registers) its metrics, imported when the family is asked for
FAMILIES = {"validation": "unicode_substrate.tokens", "loglik": "unicode_substrate.eval.loglik",
            "paper": "unicode_substrate.eval.tasks.score"}


@dataclass(frozen=True)
class Metric:
    name: str  # its key in records (val_bpb, acc_norm, first-character)
    family: str  # validation (token data), loglik (per item, lm-eval's), paper (a generation's score)
    label: str  # how reports and tables name it
    higher_is_better: bool
    digits: int  # decimals a report shows
    description: str = ""
    headline: bool = False  # also shown beside other runs (compare, results-table), not only in its own eval
    field: str | None = None  # loglik: the per-item record field (true when the item counts) it averages
    fn: Callable | None = None  # paper: (generated text, gold) -> (parsed answer, score)
    percent: bool = True  # paper: a 0/1 score per item, shown x100 as a percentage (BLEU is already 0-100)


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric`` to the registry (once: a second metric of that name is a programming error)."""
    if metric.family not in FAMILIES:
        raise ValueError(f"metric {metric.name!r}: family must be one of {', '.join(FAMILIES)}, not {metric.family!r}")
    if METRICS.get(metric.name, metric) != metric:
        raise ValueError(f"two metrics are named {metric.name!r}")
    METRICS[metric.name] = metric
    return metric


def family(name: str) -> tuple[Metric, ...]:
    """The registered metrics of one family, in the order they were registered."""
    importlib.import_module(FAMILIES[name])  # its metrics are registered where they are computed
    return tuple(m for m in METRICS.values() if m.family == name)


def by_label(label: str) -> Metric | None:
    """The metric a report labels ``label`` (None for a column that is not one, e.g. a benchmark score)."""
    for name in FAMILIES:
        family(name)
    return next((m for m in METRICS.values() if m.label == label), None)
