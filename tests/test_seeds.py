"""Several seeds per variant: paired batches, intervals and paired tests in compare and grow reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from _train_helpers import TINY_MODEL, make_data, make_table, tiny_config
from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.experiments.compare import compare, parse_seeds, parse_variant
from unicode_substrate.experiments.stats import mean_interval, paired
from unicode_substrate.run import Run


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("seed_inputs")
    return make_data(d / "data"), make_table(d / "table")


def test_seeds_are_parsed_or_refused():
    assert parse_seeds("3, 1,2") == [3, 1, 2] and parse_seeds(None) is None and parse_seeds([4]) == [4]
    for bad, words in (("1,1,2", "given twice"), ("1,x", "non-negative integers"), ("1,-2", "non-negative"), ("", "non-negative"),
                       ([True], "non-negative")):
        with pytest.raises(SubstrateError, match=words):
            parse_seeds(bad)


def test_bad_seeds_are_one_line(inputs, tmp_path):
    data, table = inputs
    for seeds, words in (("1,2,1", "seeds must be distinct, 1 given twice"), ("a", "non-negative integers")):
        res = CliRunner().invoke(main, ["compare", "--data", str(data), "--variant", f"a=tiny-glyph:{table}", "--variant",
                                        "b=tiny-unfrozen", "--seeds", seeds, "--out", str(tmp_path / "cmp"), "--no-progress"])
        assert res.exit_code == 2 and words in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "cmp").exists()


def test_multi_seed_compare_pairs_batches_and_reports_intervals(inputs, tmp_path, monkeypatch):
    from unicode_substrate.tokens import TokenData

    data, table = inputs
    seen: dict[tuple[int, int], list[np.ndarray]] = {}
    real = TokenData.train_batch

    def spy(self, seed, step, rows, global_rows, context):
        x, y = real(self, seed, step, rows, global_rows, context)
        seen.setdefault((seed, step), []).append(x.copy())
        return x, y

    monkeypatch.setattr(TokenData, "train_batch", spy)
    cfg = tiny_config(steps=3, eval_every=0, ckpt_every=0, eval_tokens=300)
    out = tmp_path / "cmp"
    compare([parse_variant(f"frozen=tiny-glyph:{table}"), parse_variant("trainable=tiny-unfrozen")], data, out, cfg,
            progress=False, seeds=[1, 2, 3])
    # Each (seed, step) was drawn once per variant, identically; another seed gives other batches.
    assert sorted(seen) == [(s, t) for s in (1, 2, 3) for t in range(3)]
    for batches in seen.values():
        assert len(batches) == 2 and np.array_equal(batches[0], batches[1])
    assert not np.array_equal(seen[(1, 0)][0], seen[(2, 0)][0])
    runs = {(v, s): Run.load(out / "runs" / v / f"seed-{s}") for v in ("frozen", "trainable") for s in (1, 2, 3)}
    assert {r.record.train["seed"] for r in runs.values()} == {1, 2, 3}
    bpb = {k: r.summary()["val_bpb"] for k, r in runs.items()}
    record = json.loads((out / "compare.json").read_text())
    assert record["seeds"] == [1, 2, 3] and len(record["variants"]) == 6
    want = mean_interval([bpb[("frozen", s)] for s in (1, 2, 3)])
    got = record["summary"]["frozen"]["val bits/byte"]
    assert got["mean"] == pytest.approx(want.mean) and got["half_width"] == pytest.approx(want.half) and got["n"] == 3
    diff = next(d for d in record["differences"] if d["metric"] == "val bits/byte")
    ref = paired([bpb[("frozen", s)] for s in (1, 2, 3)], [bpb[("trainable", s)] for s in (1, 2, 3)])
    assert (diff["a"], diff["b"], diff["n"]) == ("frozen", "trainable", 3)
    assert diff["diff_mean"] == pytest.approx(ref.diff.mean) and diff["p"] == pytest.approx(ref.p)
    report = (out / "report.md").read_text()
    assert f"| frozen | tiny-glyph |" in report and f"{want.mean:.4f} ± {want.half:.4f}" in report
    assert "## Differences between variants (paired by seed)" in report
    verdict = "significant" if ref.p < 0.05 else "not significant"
    assert f"frozen − trainable: {ref.diff.mean:+.4f} val bits/byte" in report and f"3 seeds): {verdict} at the 5 % level" in report
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Resume keeps every finished run (identity checked) and writes the same report.
    before = (out / "report.md").read_text()
    seen.clear()
    compare([parse_variant(f"frozen=tiny-glyph:{table}"), parse_variant("trainable=tiny-unfrozen")], data, out, cfg,
            progress=False, seeds=[1, 2, 3], resume=True)
    assert not seen  # nothing trained again
    strip = lambda t: "\n".join(l for l in t.splitlines() if not l.startswith("Load average"))
    assert strip((out / "report.md").read_text()) == strip(before)
    with pytest.raises(SubstrateError, match="another configuration"):  # a finished run of other steps is not reused
        compare([parse_variant(f"frozen=tiny-glyph:{table}"), parse_variant("trainable=tiny-unfrozen")], data, out,
                cfg.replace(steps=2), progress=False, seeds=[1, 2, 3], resume=True)


def test_end_labels_never_overlap_and_growth_range_keeps_the_spikes():
    from unicode_substrate.experiments.report import boundary_spikes, growth_range, spread_labels

    ys = spread_labels([3.00, 3.001, 3.002, 4.0], gap=0.1, lo=2.0, hi=5.0)
    assert all(abs(a - b) >= 0.1 - 1e-12 for i, a in enumerate(ys) for b in ys[i + 1:])
    assert ys[3] == 4.0 and ys[0] == 3.0
    top = spread_labels([4.99, 4.995], gap=0.1, lo=2.0, hi=5.0)  # pushed past the top: settled below it
    assert max(top) <= 5.0 and abs(top[0] - top[1]) >= 0.1 - 1e-12
    # stage 1: steps 1-100 from 11 down to 4.5; a spike to 7.5 right after the boundary, then down to 4.2
    xs = list(range(1, 201))
    ys = [11 - 6.5 * min(x, 20) / 20 for x in range(1, 101)] + [7.5 if x == 2 else 4.4 - 0.001 * x for x in range(1, 101)]
    (x, peak, before), = boundary_spikes(xs, ys, [100, 200])
    assert (x, peak, before) == (102, 7.5, 4.5)
    lo, hi, skip = growth_range(xs, ys, [100, 200])
    assert skip == 10 and hi > 7.5 and lo < 4.3 and hi < 11  # the spike inside, the ln V start above


def test_growth_marks_a_rise_as_a_rise_and_a_fall_as_a_fall():
    """A boundary where the loss kept falling is ▼ with a minus, never a '+-0.21' spike."""
    from unicode_substrate.experiments.report import boundary_marks

    xs = list(range(1, 31))
    ys = [5.0 - 0.01 * x for x in range(1, 11)] + [5.5] + [4.8] * 9 + [4.0 - 0.01 * x for x in range(1, 11)]
    rise, fall = boundary_marks(xs, ys, [10, 20, 30])
    assert rise == (11, 5.5, "^", "+0.60")
    assert fall[2:] == ("v", "-0.81") and fall[1] < 4.8
    assert not any("+-" in m[3] for m in (rise, fall))


def test_grow_over_seeds_pairs_grown_and_monolithic(inputs, tmp_path):
    from unicode_substrate.experiments.grow import GrowConfig, grow

    data, table = inputs
    gcfg = GrowConfig(train=tiny_config(model={**TINY_MODEL, "n_layer": 2}, ckpt_every=0, eval_every=0, eval_tokens=300),
                      stages=(1, 1), steps_per_stage=(2, 2))
    out = tmp_path / "grown"
    report = grow(gcfg, data, out, table=table, progress=False, seeds=[1, 2])
    rec = {s: json.loads((out / f"seed-{s}" / "grow.json").read_text()) for s in (1, 2)}
    assert [rec[s]["config"]["train"]["seed"] for s in (1, 2)] == [1, 2]
    seeds = json.loads((out / "seeds.json").read_text())
    diff = next(d for d in seeds["differences"] if d["metric"] == "val bits/byte")
    ref = paired([rec[s]["stages"][-1]["val_bpb"] for s in (1, 2)], [rec[s]["monolithic"]["val_bpb"] for s in (1, 2)])
    assert diff["diff_mean"] == pytest.approx(ref.diff.mean) and diff["p"] == pytest.approx(ref.p) and diff["n"] == 2
    text = report.read_text()
    assert "| grown |" in text and "| monolithic |" in text and "grown − monolithic" in text
    assert "step time, median (quartiles)" in (out / "seed-1" / "report.md").read_text()
    from unicode_substrate.experiments.grow import statistics  # what a study asks for, without knowing the files

    assert statistics(out) == (seeds["summary"], seeds["differences"])
    one, none = statistics(out / "seed-1")  # one growth: its figures, nothing tested
    assert none == [] and one["grown"]["val bits/byte"]["mean"] == rec[1]["stages"][-1]["val_bpb"]
    with pytest.raises(SubstrateError, match="already exists"):
        grow(gcfg, data, out, table=table, progress=False, seeds=[1, 2])


def test_a_seed_beyond_64_bits_is_refused_like_seed():
    from unicode_substrate.errors import SubstrateError
    from unicode_substrate.experiments.compare import parse_seeds

    assert parse_seeds(f"1,{2**63 - 1}") == [1, 2**63 - 1]
    with pytest.raises(SubstrateError, match="seeds must each be an integer at least 0 and at most"):
        parse_seeds(f"1,{2**63}")


def test_a_one_seed_study_neither_counts_tests_nor_promises_interval_bars(monkeypatch, tmp_path):
    """On one seed no pair is tested: results.md says so once instead of '5 pairs are tested ...', and
    results.png's panels say 'one seed: no interval' instead of promising interval bars."""
    from unicode_substrate.experiments import report
    from unicode_substrate.experiments.stats import mean_interval, paired
    from unicode_substrate.experiments.study import _plot_results

    names = ["a", "b", "c"]
    diffs = [{"a": x, "b": y, "metric": "val bits/byte", **paired([1.0 + i], [1.1]).to_dict()}
             for i, (x, y) in enumerate([("a", "b"), ("a", "c"), ("b", "c")])]
    text = "\n".join(report.difference_lines(diffs, 1))
    assert "pairs are tested" not in text and "significant by chance" not in text
    assert "On one seed no pair is tested" in text
    three = [{"a": "a", "b": "b", "metric": "val bits/byte", **paired([1.0, 1.2, 1.1], [1.1, 1.3, 1.3]).to_dict()},
             {"a": "a", "b": "c", "metric": "val bits/byte", **paired([1.0, 1.2, 1.1], [1.2, 1.1, 1.0]).to_dict()}]
    assert "2 tests are made (2 pairs" in "\n".join(report.difference_lines(three, 3))
    titles = []
    monkeypatch.setattr(report, "save_png", lambda fig, path: titles.extend(ax.get_title() for ax in fig.axes))
    _plot_results(tmp_path / "r.png", {n: {"val bits/byte": mean_interval([1.0]).to_dict()} for n in names},
                  ["val bits/byte"])
    assert titles == ["val bits/byte (one seed: no interval)"]
    titles.clear()
    _plot_results(tmp_path / "r.png", {n: {"val bits/byte": mean_interval([1.0, 1.2]).to_dict()} for n in names},
                  ["val bits/byte"])
    assert titles == ["val bits/byte (bar: 95 % interval over seeds)"]


def test_a_growth_over_seeds_killed_by_sigkill_resumes_and_forces(inputs, tmp_path, monkeypatch):
    """The dead process's lock (and its leftovers) beside seed-S no longer make the folder "hold other files"."""
    import subprocess
    import sys

    from unicode_substrate.experiments import grow as gr

    data, table = inputs
    gcfg = gr.GrowConfig(train=tiny_config(model={**TINY_MODEL, "n_layer": 2}, ckpt_every=0, eval_every=0, eval_tokens=300),
                         stages=(1, 1), steps_per_stage=(2, 2))
    out = tmp_path / "grown"
    real = gr._run_stage

    def killed_in_seed_2(cfg, data, stage_out, *a, **k):
        if "seed-2" in str(stage_out):
            raise KeyboardInterrupt
        return real(cfg, data, stage_out, *a, **k)

    monkeypatch.setattr(gr, "_run_stage", killed_in_seed_2)
    with pytest.raises(KeyboardInterrupt):
        gr.grow(gcfg, data, out, table=table, progress=False, seeds=[1, 2], monolithic=False)
    monkeypatch.setattr(gr, "_run_stage", real)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process that is gone: SIGKILL leaves its pid in the lock
    (out / ".seed-2.lock").write_text(f"{dead.pid}\n")
    (out / f".seed-2.tmp-{dead.pid}-x").mkdir()
    report = gr.grow(gcfg, data, out, table=table, progress=False, seeds=[1, 2], monolithic=False, resume=True)
    assert report.is_file() and not (out / ".seed-2.lock").exists() and (out / "seed-2" / "final").is_dir()
    (out / ".seed-1.lock").write_text(f"{dead.pid}\n")
    assert gr.grow(gcfg, data, out, table=table, progress=False, seeds=[1, 2], monolithic=False, force=True).is_file()
