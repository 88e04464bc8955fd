"""Statistics over seeds: a mean with its 95 % t-interval, and a paired difference with its interval and t-test.

A comparison trains every variant once per seed, and a seed fixes initialisation and batch order
together, so the runs of two variants with the same seed form a pair. The numbers here are the
textbook ones (Student's t over n seeds, n - 1 degrees of freedom):

* mean ``m = sum(x) / n``, sample standard deviation ``s`` (divisor ``n - 1``);
* interval ``m ± t(0.975, n - 1) * s / sqrt(n)``;
* paired difference ``d_i = a_i - b_i`` (same seed), the same interval over ``d``, and the two-sided
  p-value of ``t = mean(d) / (sd(d) / sqrt(n))`` (a paired t-test).

With one seed there is no interval and no test (``half`` and ``p`` are None): the report says so.
When every difference is the same number the spread is 0: the interval is that number and ``p`` is
0 (if it is not 0) or 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` seeds with its t-interval half-width (None for one seed)."""

    mean: float
    half: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half is None else self.mean - self.half

    @property
    def high(self) -> float | None:
        return None if self.half is None else self.mean + self.half

    def text(self, fmt: str = ".4f") -> str:
        return format(self.mean, fmt) if self.half is None else f"{self.mean:{fmt}} ± {self.half:{fmt}}"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "half_width": self.half, "low": self.low, "high": self.high, "n": self.n, "level": LEVEL}


@dataclass(frozen=True)
class Paired:
    """The mean of ``a - b`` over ``n`` paired seeds, its interval and the paired t-test's two-sided p-value."""

    diff: Interval
    t: float | None
    p: float | None

    def significant(self, alpha: float = 1 - LEVEL) -> bool | None:
        return None if self.p is None else self.p < alpha

    def to_dict(self) -> dict:
        return {**{f"diff_{k}": v for k, v in self.diff.to_dict().items() if k not in ("n", "level")},
                "t": self.t, "p": self.p, "n": self.diff.n, "level": LEVEL}


def t_critical(df: int, level: float = LEVEL) -> float:
    """The two-sided critical value of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def _sd(xs: list[float], m: float) -> float:
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def mean_interval(xs, level: float = LEVEL) -> Interval:
    """The mean of ``xs`` and its ``level`` t-interval (none for a single value)."""
    xs = [float(x) for x in xs]
    if not xs:
        raise ValueError("no values")
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return Interval(m, None, 1)
    return Interval(m, t_critical(len(xs) - 1, level) * _sd(xs, m) / math.sqrt(len(xs)), len(xs))


def paired(a, b, level: float = LEVEL) -> Paired:
    """Mean difference ``a - b`` over pairs, its interval and the paired t-test (two-sided)."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    d = [x - y for x, y in zip(a, b)]
    diff = mean_interval(d, level)
    if diff.n == 1:
        return Paired(diff, None, None)
    from scipy.stats import t as student

    se = _sd(d, diff.mean) / math.sqrt(diff.n)
    if se == 0:
        return Paired(diff, None if diff.mean == 0 else math.copysign(math.inf, diff.mean), 1.0 if diff.mean == 0 else 0.0)
    t = diff.mean / se
    return Paired(diff, t, float(2 * student.sf(abs(t), diff.n - 1)))


def p_text(p: float | None) -> str:
    """A p-value as a report prints it."""
    if p is None:
        return "-"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"
