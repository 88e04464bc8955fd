"""Seed statistics: the t-interval and the paired t-test, against scipy and against a hand computation."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sp

from unicode_substrate.experiments.stats import mean_interval, paired, p_text


def test_interval_by_hand():
    # 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302652729749464, half = 4.3027 / sqrt(3)
    iv = mean_interval([1, 2, 3])
    assert iv.mean == 2 and iv.n == 3
    assert iv.half == pytest.approx(4.302652729749464 / math.sqrt(3), rel=1e-12)
    assert iv.text(".2f") == "2.00 ± 2.48"


def test_interval_and_paired_test_match_scipy():
    a, b = [3.10, 3.05, 3.21, 3.12, 3.08], [2.96, 3.01, 3.02, 3.00, 2.99]
    iv = mean_interval(a)
    lo, hi = sp.t.interval(0.95, len(a) - 1, loc=sp.tmean(a), scale=sp.sem(a))
    assert (iv.low, iv.high) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))
    pr = paired(a, b)
    ref = sp.ttest_rel(a, b)
    assert pr.t == pytest.approx(ref.statistic, rel=1e-12) and pr.p == pytest.approx(ref.pvalue, rel=1e-12)
    d = [x - y for x, y in zip(a, b)]
    lo, hi = sp.t.interval(0.95, len(d) - 1, loc=sp.tmean(d), scale=sp.sem(d))
    assert (pr.diff.low, pr.diff.high) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))
    assert pr.significant() is True and pr.to_dict()["n"] == 5


def test_paired_by_hand():
    # differences 1, 2, 3: t = 2 / (1 / sqrt 3) = 2 sqrt 3; p = 2 * P(T2 > 3.4641) = 0.07417990022744862
    pr = paired([2, 4, 6], [1, 2, 3])
    assert pr.t == pytest.approx(2 * math.sqrt(3), rel=1e-12)
    assert pr.p == pytest.approx(0.07417990022744862, rel=1e-9) and pr.significant() is False


def test_one_seed_has_no_interval_and_constant_differences_have_no_spread():
    assert mean_interval([2.5]).half is None and mean_interval([2.5]).text() == "2.5000"
    one = paired([3.0], [2.0])
    assert one.diff.mean == 1.0 and one.p is None and one.significant() is None
    same = paired([2, 3, 4], [1, 2, 3])
    assert same.diff.half == 0 and same.p == 0.0
    assert paired([1, 2], [1, 2]).p == 1.0
    assert p_text(None) == "-" and p_text(1e-7) == "< 0.0001" and p_text(0.0312) == "0.0312"
    with pytest.raises(ValueError):
        paired([1, 2], [1])


def test_docs_worked_example_is_what_the_report_prints():
    from pathlib import Path

    from unicode_substrate.experiments.report import significance_sentence

    d = {"a": "a", "b": "b", "metric": "val bits/byte", **paired([1.5090, 1.5123, 1.5156], [1.5, 1.5, 1.5]).to_dict()}
    sentence = significance_sentence(d)
    assert sentence.startswith("a − b: +0.0123 val bits/byte (95 % interval [+0.0041, +0.0205], p = 0.0232")
    docs = (Path(__file__).resolve().parents[1] / "docs" / "statistics.md").read_text(encoding="utf-8")
    assert sentence in " ".join(docs.split())


def test_multiple_comparison_note_counts_pairs_times_metrics():
    from unicode_substrate.experiments.report import difference_lines

    one = paired([1.0, 1.2, 1.1], [0.9, 1.0, 1.05]).to_dict()
    diffs = [{"a": "x", "b": "y", "metric": m, **one} for m in ("val loss", "val bits/byte", "arc-easy")]
    text = "\n".join(difference_lines(diffs, 3))
    assert "3 tests are made (1 pair of variants × up to 3 metrics)" in text and "about 0.15 of them" in text
    assert "tests are made" not in "\n".join(difference_lines(diffs[:1], 3))  # one test: nothing to correct
    single = {"a": "x", "b": "y", "metric": "val loss", **paired([1.0], [0.9]).to_dict()}
    assert "tests are made" not in "\n".join(difference_lines([single, {**single, "metric": "val bits/byte"}], 1))
