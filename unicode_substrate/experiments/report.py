"""The reports of experiments over runs: ``report.md`` and ``loss_curves.png`` for compare and grow.

One writer for both: a comparison sets variants side by side, a growth sets its stages beside
the monolithic control. Both save their pictures through :func:`save_png` (byte-deterministic).
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from unicode_substrate.artifacts import atomic_write_bytes, canonical_json, read_json_object
from unicode_substrate.errors import SubstrateError
from unicode_substrate.metrics import Metric, by_label, family
from unicode_substrate.run import Run
from unicode_substrate.schema import seed_dir

if TYPE_CHECKING:  # pragma: no cover
    from unicode_substrate.train.config import TrainConfig

# The files a report consists of, named once.
REPORT_MD = "report.md"
LOSS_CURVES_PNG = "loss_curves.png"
COMPARE_JSON = "compare.json"
SEEDS_JSON = "seeds.json"  # a growth over seeds: its summary and paired differences


def save_png(fig, path: Path) -> None:
    """Save a matplotlib figure atomically, without a version stamp: same input, same bytes."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:,.2f} MiB"


def _num(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _overall_tokens_per_s(rows: list[dict]) -> float | None:
    """Total training tokens over total training time (each stage's time = its tokens / its tokens/s)."""
    if not rows or any(r.get("tokens_per_s") in (None, 0) for r in rows):
        return None
    tokens = [r["steps"] * r["tokens_per_step"] for r in rows]
    return sum(tokens) / sum(t / r["tokens_per_s"] for t, r in zip(tokens, rows))


def read_statistics(out: Path) -> tuple[dict, list]:
    """(summary, differences) of a finished comparison or growth over seeds, as its report computed them.

    The files are this module's (``compare.json``, ``seeds.json``); a caller such as a study asks
    here instead of knowing their names."""
    for name, what in ((COMPARE_JSON, "comparison record"), (SEEDS_JSON, "growth-over-seeds record")):
        if (out / name).is_file():
            record = read_json_object(out / name, what)
            return record["summary"], record["differences"]
    raise SubstrateError(f"{out} holds no finished comparison or growth over seeds (no {COMPARE_JSON} or {SEEDS_JSON})")


def write_seed_growth_report(out: Path, seeds: list[int], records: dict[int, dict], load=None) -> Path:
    """``report.md`` and ``seeds.json`` (:data:`SEEDS_JSON`) over growths of several seeds: grown against monolithic, paired by seed."""
    from unicode_substrate.experiments.stats import mean_interval, paired

    lines = ["# Growth over seeds", "",
             f"The same growth schedule run once per seed ({', '.join(map(str, seeds))}), each in `seed-S/` with its own "
             "report; a seed sets initialisation and batch order of the grown model and of its monolithic control "
             "together, so the two pair by seed. Figures: mean ± half-width of the 95 % t-interval over seeds.", "",
             "| run | " + " | ".join(label for _, label in METRICS) + " | seeds |", "|---|" + "---:|" * (len(METRICS) + 1)]
    summary: dict = {}
    cols = {"grown": [records[s]["stages"][-1] for s in seeds]}
    if all(records[s].get("monolithic") for s in seeds):
        cols["monolithic"] = [records[s]["monolithic"] for s in seeds]
    for name, rows in cols.items():
        summary[name] = {label: mean_interval([r[key] for r in rows]).to_dict() for key, label in METRICS
                         if all(r.get(key) is not None for r in rows)}
        lines.append(f"| {name} | " + " | ".join(_iv(summary[name].get(label), _fmt(label)) for _, label in METRICS)
                     + f" | {len(rows)} |")
    diffs = []
    if "monolithic" in cols:
        for key, label in METRICS:
            a, b = [r.get(key) for r in cols["grown"]], [r.get(key) for r in cols["monolithic"]]
            if None not in a + b:
                diffs.append({"a": "grown", "b": "monolithic", "metric": label, **paired(a, b).to_dict()})
        lines += [""] + difference_lines(diffs, len(seeds))
    lt = load_text(load)
    lines += ([lt, ""] if lt else []) + [f"Per seed: {', '.join(f'[seed {s}]({seed_dir(s)}/report.md)' for s in seeds)}.", ""]
    atomic_write_bytes(out / SEEDS_JSON, canonical_json({"seeds": seeds, "summary": summary, "differences": diffs,
                                                           **({"load_average": {"start": load[0], "end": load[1]}} if load else {})}))
    atomic_write_bytes(out / REPORT_MD, "\n".join(lines).encode("utf-8"))
    return out / REPORT_MD


def write_growth_report(out: Path, record: dict) -> Path:
    """Write ``report.md`` and ``loss_curves.png`` for a finished growth directory; returns report.md."""
    cfg, stages, mono = record["config"], record["stages"], record.get("monolithic")
    train = cfg["train"]
    lora = cfg.get("lora")
    lines = [
        "# Growth",
        "",
        f"Preset `{train['preset']}` grown in stages of {cfg['stages']} layers"
        + (f" on top of `{record['from']}`" if record.get("from") else "")
        + f", {cfg['steps_per_stage']} steps; "
        + (f"after the first stage `{cfg['trainable']}` trains" if isinstance(cfg["trainable"], str)
           else "what trains is set per stage (the table's \"trains\" column)")
        + (f", with rank-{lora['rank']} adapters (alpha {lora['alpha']:g}) over "
           + ("the frozen layers each stage names" if cfg.get("lora_blocks") else "the frozen blocks")
           + (", merged at each stage's end" if all(cfg.get("merge") or [True])
              else f", merged at the end of stages {', '.join(str(k) for k, m in enumerate(cfg['merge'], 1) if m)} "
                   "(the others keep theirs into the next stage)") if lora else "")
        + f". New blocks start `{cfg['init']}`. Data `{record['data']}`, seed {train['seed']} (stage k: seed + k - 1), "
        f"AdamW lr {train['lr']:g} → {train['min_lr']:g} (warmup {train['warmup']}, cosine, per stage).",
        "",
        "| run | layers | new blocks | trains | trainable parameters | optimizer state | steps | step time, median (quartiles) | val loss | val bits/byte |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    times = {s["run"]: step_times(Run.load(out / s["run"]).metrics()) for s in stages}
    if mono:
        times[mono["run"]] = step_times(Run.load(out / mono["run"]).metrics())
    for s in stages:
        a, b = s["new_blocks"]
        adapters = ""
        if s.get("lora"):
            adapters = " + LoRA" + (f" on layers {s['lora']['blocks']}" if "blocks" in s["lora"] else "") + \
                ("" if s["lora"].get("merge", True) else ", not merged")
        lines.append(f"| stage {s['stage']} | {s['layers']} | {f'{a}–{b - 1}' if b > a else 'none'} | {s['trainable']}{adapters} | "
                     f"{_num(s['trainable_parameters'], ',')} | {_mib(s['optimizer_state_bytes'])} | {s['steps']} | "
                     f"{step_time_text(times[s['run']])} | {_num(s.get('val_loss'), '.4f')} | {_num(s.get('val_bpb'), '.4f')} |")
    if mono:
        lines.append(f"| monolithic | {stages[-1]['layers']} | all | all | {_num(mono.get('trainable_parameters'), ',')} | "
                     f"{_mib(mono.get('optimizer_state_bytes'))} | {mono.get('steps')} | {step_time_text(times[mono['run']])} | "
                     f"{_num(mono.get('val_loss'), '.4f')} | {_num(mono.get('val_bpb'), '.4f')} |")
    grown_bpb = stages[-1].get("val_bpb")
    tps = _overall_tokens_per_s(stages)
    lines += ["", f"Grown model: final validation {_num(grown_bpb, '.4f')} bits/byte, "
                  f"peak optimizer state {_mib(max((s['optimizer_state_bytes'] or 0) for s in stages))}, "
                  f"{_num(tps, ',.0f')} tokens/s over all stages."]
    if mono and grown_bpb is not None and mono.get("val_bpb") is not None:
        diff = grown_bpb - mono["val_bpb"]
        stage_steps = sum(s["steps"] or 0 for s in stages)
        from_steps = record.get("from_steps", 0) if record.get("from") else 0
        if record.get("from") and "from_steps" not in record:  # grown before the record kept the count
            grown_steps, same = f"{stage_steps} steps of the stages on top of `{record['from']}`", False
        else:
            grown_steps = (f"{from_steps} steps of `{record['from']}` + {stage_steps} of the stages = "
                           f"{from_steps + stage_steps}" if record.get("from") else f"{stage_steps} steps over its stages")
            same = mono.get("steps") == from_steps + stage_steps
        lines.append(f"Monolithic control: the final model trained whole from scratch for {mono.get('steps')} steps, "
                     f"{mono['val_bpb']:.4f} bits/byte, optimizer state {_mib(mono.get('optimizer_state_bytes'))}, "
                     f"{_num(mono.get('tokens_per_s'), ',.0f')} tokens/s. The grown model ({grown_steps}) is "
                     f"{abs(diff):.4f} bits/byte {'worse' if diff > 0 else 'better'} than the control ({mono.get('steps')} "
                     f"steps){': the same total steps' if same else ''}.")
    lines += [
        "",
        "Trainable parameters and optimizer state are per stage (frozen blocks have neither); the frozen table "
        "is counted in neither. Bits per byte = validation nats / ln 2 / UTF-8 bytes of the validation text. "
        "Tokens/s (below the table) is training throughput on this machine, evaluation excluded.",
        _TIMING_NOTE,
        *([load_text(record["load_average"])] if load_text(record.get("load_average")) else []),
        "",
        "![loss curves](loss_curves.png)",
        "",
    ]
    _plot_growth(out, record)
    atomic_write_bytes(out / REPORT_MD, "\n".join(lines).encode("utf-8"))
    return out / REPORT_MD


def _plot_growth(out: Path, record: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    # with --from the stages continue the starting run's steps, so grown and control share one step axis
    start = record.get("from_steps", 0) if record.get("from") else 0
    offset, bounds, gx, gy, vx, vy = start, [], [], [], [], []
    for s in record["stages"]:
        metrics = Run.load(out / s["run"]).metrics()
        gx += [offset + m["step"] for m in metrics if m["type"] == "train"]
        gy += [m["loss"] for m in metrics if m["type"] == "train"]
        vx += [offset + m["step"] for m in metrics if m["type"] == "val" and "val_bpb" in m]
        vy += [m["val_bpb"] for m in metrics if m["type"] == "val" and "val_bpb" in m]
        offset += s["steps"]
        bounds.append(offset)
    ax1.plot(gx, gy, lw=1, color="C0", label="grown")
    ax2.plot(vx, vy, "o-", ms=4, color="C0", label="grown")
    ys = list(gy)
    if record.get("monolithic"):
        metrics = Run.load(out / record["monolithic"]["run"]).metrics()
        mx = [m["step"] for m in metrics if m["type"] == "train"]
        my = [m["loss"] for m in metrics if m["type"] == "train"]
        ax1.plot(mx, my, lw=1, color="C3", ls="--", alpha=0.85, label="monolithic")
        ys += [y for x, y in zip(mx, my) if x > bounds[0] // 10]
        val = [m for m in metrics if m["type"] == "val" and "val_bpb" in m]
        ax2.plot([m["step"] for m in val], [m["val_bpb"] for m in val], "s--", ms=4, color="C3", label="monolithic")
    lo, hi, skip = growth_range(gx, gy, bounds, [y for y in ys[len(gy):]])
    ax1.set_ylim(lo, hi)
    for x, peak, marker, text in boundary_marks(gx, gy, bounds):
        ax1.plot([x], [peak], marker, color="black", ms=6, zorder=4)
        ax1.annotate(text, (x, peak), xytext=(4, 4), textcoords="offset points", fontsize=8)
    for ax in (ax1, ax2):
        for b in ([start] if start else []) + bounds[:-1]:
            ax.axvline(b, color="grey", ls=":", lw=1)
        ax.grid(alpha=0.3)
        ax.legend()
    first = f"; steps 1-{skip} (loss up to ln V) above the top" if skip else ""
    ax1.set(xlabel="step (all stages)", ylabel="loss (nats/token)",
            title="training loss (dotted: a stage begins; ▲ its highest loss in the next 5 steps rose over the step "
                  f"before, ▼ even that fell; the change beside it){first}")
    ax1.title.set_fontsize(8)
    ax2.set(xlabel="step (all stages)", ylabel="bits per byte", title="validation bits per byte")
    fig.tight_layout()
    save_png(fig, out / LOSS_CURVES_PNG)


def boundary_spikes(xs: list[int], ys: list[float], bounds: list[int], window: int = 5) -> list[tuple[int, float, float]]:
    """At each stage boundary: (step of the highest loss in the next ``window`` steps, that loss, the loss just before)."""
    out = []
    for b in bounds[:-1]:
        before = [y for x, y in zip(xs, ys) if x <= b]
        after = [(y, x) for x, y in zip(xs, ys) if b < x <= b + window]
        if before and after:
            peak, x = max(after)
            out.append((x, peak, before[-1]))
    return out


def boundary_marks(xs: list[int], ys: list[float], bounds: list[int]) -> list[tuple[int, float, str, str]]:
    """What the growth picture marks at each stage boundary: (step, loss, marker, change). The highest loss
    in the next steps is set against the loss just before: a rise is ▲ ("^") with ``+0.21``, a fall
    (even the highest loss after is lower) ▼ ("v") with ``-0.08``; one sign each, never ``+-``."""
    return [(x, peak, "^" if peak > before else "v", f"{peak - before:+.2f}")
            for x, peak, before in boundary_spikes(xs, ys, bounds)]


def growth_range(xs: list[int], ys: list[float], bounds: list[int], others: list[float] = ()) -> tuple[float, float, int]:
    """Y-limits of the growth plot: everything but the first tenth of stage 1 (loss near ln V), so every
    stage boundary's spike stays inside the picture; ``others`` (the control's losses) count too."""
    skip = bounds[0] // 10 if bounds and bounds[0] >= 20 else 0
    shown = [y for x, y in zip(xs, ys) if x > skip] + list(others)
    shown += [peak for _, peak, _ in boundary_spikes(xs, ys, bounds)]
    if not shown:
        return 0.0, 1.0, 0
    lo, hi = min(shown), max(shown)
    pad = max(0.08 * (hi - lo), 0.05)
    return lo - pad, hi + pad, skip


# --- comparisons -----------------------------------------------------------------------------
def step_times(metrics: list[dict]) -> list[float]:
    """The timed training steps' wall-clock seconds (evaluation excluded)."""
    return [m["step_s"] for m in metrics if m.get("type") == "train" and m.get("step_s")]


def step_time_stats(times: list[float]) -> tuple[float, float, float] | None:
    """Median step time and its spread (first and third quartiles); None when no step was timed."""
    if not times:
        return None
    if len(times) == 1:
        return times[0], times[0], times[0]
    q1, q2, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return q2, q1, q3


def step_time_text(times: list[float]) -> str:
    st = step_time_stats(times)
    if st is None:
        return "-"
    m, q1, q3 = st
    if m < 1:
        return f"{m * 1000:.0f} ms ({q1 * 1000:.0f}–{q3 * 1000:.0f})"
    return f"{m:.2f} s ({q1:.2f}–{q3:.2f})"


def median_tokens_per_s(r: dict) -> float:
    """Training tokens/s of the median step (robust to a neighbour's burst of work); the mean when steps were not timed."""
    times = step_times(r["metrics"])
    return r["tokens_per_step"] / statistics.median(times) if times else r["tokens_per_s"]


def report_tables(markdown: str) -> str:
    """A report's headings and tables, for the terminal (its prose stays in the file)."""
    keep = [ln for ln in markdown.splitlines() if ln.startswith(("|", "#"))]
    out = []
    for ln in keep:
        if ln.startswith("#") and out:
            out.append("")
        out.append(ln)
    return "\n".join(out)


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the system has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def load_text(load) -> str:
    """``load`` = (start, end), each the 1/5/15-minute load averages or None: one sentence, or nothing."""
    if not load or not all(load):
        return ""
    start, end = load
    cores = os.cpu_count() or 1
    if start[0] > cores:
        verdict = "other work loaded the machine before the job began (1-minute load above the core count), so step times are inflated."
    else:
        verdict = "the 1-minute load at the start was within the core count (the end figure counts this job's own threads too)."
    return (f"Load average (1 / 5 / 15 min) at the start {' / '.join(f'{x:.2f}' for x in start)}, at the end "
            f"{' / '.join(f'{x:.2f}' for x in end)}, on {cores} cores: {verdict}")


_TIMING_NOTE = ("Step time is the median training step's wall-clock time (evaluation excluded) with the first and third "
                "quartiles in brackets, measured on this machine while it may have run other work: noisy. Compare "
                "variants within one report, not across runs or machines.")

METRICS = tuple((m.name, m.label) for m in family("validation"))  # (record key, label): val loss, val bits/byte
# The metrics whose every difference also gets a sentence: bits per byte (a fusion study's: the mean over both corpora).
HEADLINE_METRICS = ("val bits/byte", "val bits/byte (mean)")
_EVAL_NAMES = {"paper": "paper", "loglik": "loglik acc", "loglik_norm": "loglik acc_norm"}


def _eval_columns(results: list[dict]) -> list[tuple[str, str]]:
    tasks = list(dict.fromkeys(t for r in results for t in (r.get("eval") or {})))
    return [(t, key) for t in tasks for key in ("paper", "loglik", "loglik_norm")
            if any(key in (r.get("eval") or {}).get(t, {}) for r in results)]


def _value(r: dict, column) -> float | None:
    if isinstance(column, tuple):
        return ((r.get("eval") or {}).get(column[0]) or {}).get(column[1])
    return r.get(column)


def seed_statistics(results: list[dict], seeds: list[int]) -> tuple[dict, list[dict]]:
    """Per variant and column the mean with its interval; per pair of variants the paired differences.

    ``results`` holds one entry per (variant, seed); columns are the validation figures and every
    benchmark column. Returns ``(summary, differences)``, both plain JSON."""
    from itertools import combinations

    from unicode_substrate.experiments.stats import mean_interval, paired

    names = list(dict.fromkeys(r["variant"] for r in results))
    by = {(r["variant"], r.get("seed")): r for r in results}
    columns = [(key, label) for key, label in METRICS] + [((t, k), f"{t} {_EVAL_NAMES[k]}") for t, k in _eval_columns(results)]
    summary: dict = {}
    for name in names:
        summary[name] = {}
        for col, label in columns:
            xs = [_value(by[(name, s)], col) for s in seeds]
            if all(x is not None for x in xs):
                summary[name][label] = mean_interval(xs).to_dict()
    diffs = []
    for a, b in combinations(names, 2):
        for col, label in columns:
            xa, xb = [_value(by[(a, s)], col) for s in seeds], [_value(by[(b, s)], col) for s in seeds]
            if all(x is not None for x in xa + xb):
                diffs.append({"a": a, "b": b, "metric": label, **paired(xa, xb).to_dict()})
    return summary, diffs


def _metric(label: str) -> Metric | None:
    """The registered metric a column label names ("val bits/byte", and a fusion study's "val bits/byte (mean)")."""
    return by_label(label.split(" (")[0])


def _fmt(label: str) -> str:
    m = _metric(label)
    return f".{m.digits}f" if m else ".2f"  # a benchmark score: two decimals


def _iv(d: dict | None, fmt: str) -> str:
    if d is None:
        return "–"
    return format(d["mean"], fmt) if d["half_width"] is None else f"{d['mean']:{fmt}} ± {d['half_width']:{fmt}}"


def difference_lines(diffs: list[dict], n: int) -> list[str]:
    """The paired-differences table and one sentence per validation metric, as report.md prints them."""
    from unicode_substrate.experiments.stats import p_text

    lines = ["## Differences between variants (paired by seed)", "",
             f"For each pair, A − B over the {n} seeds: the mean paired difference, its 95 % t-interval and the two-sided "
             "p-value of a paired t-test (n − 1 degrees of freedom). Lower loss and bits per byte are better; "
             "higher scores are better.", "",
             "| A − B | metric | mean difference | 95 % interval | p (paired t) | seeds | significant at 5 % |",
             "|---|---|---:|---|---:|---:|---|"]
    for d in diffs:
        fmt = _fmt(d["metric"])
        span = "–" if d["diff_low"] is None else f"[{d['diff_low']:+{fmt}}, {d['diff_high']:+{fmt}}]"
        sig = "–" if d["p"] is None else ("yes" if d["p"] < 0.05 else "no")
        lines.append(f"| {d['a']} − {d['b']} | {d['metric']} | {d['diff_mean']:+{fmt}} | {span} | {p_text(d['p'])} | {d['n']} | {sig} |")
    lines.append("")
    lines += multiple_comparisons(diffs)
    for d in diffs:
        if d["metric"] in HEADLINE_METRICS:
            lines.append(significance_sentence(d))
    return lines + [""]


def multiple_comparisons(diffs: list[dict]) -> list[str]:
    """The note on multiple comparisons: every (pair, metric) with a p-value is one test."""
    tests = sum(d["p"] is not None for d in diffs)
    if not tests and diffs:  # on one seed nothing is tested; say so once instead of counting chance hits
        return ["On one seed no pair is tested: the differences are shown without an interval or a p-value.", ""]
    if tests < 2:
        return []
    pairs = len({(d["a"], d["b"]) for d in diffs if d["p"] is not None})
    metrics = len({d["metric"] for d in diffs if d["p"] is not None})
    return [f"{tests} tests are made ({pairs} pair{'s' if pairs > 1 else ''} of variants × up to {metrics} metrics), "
            f"with no correction for multiple comparisons: at the 5 % level about {0.05 * tests:.2g} of them would "
            "come out significant by chance alone even if no variant differed.", ""]


def significance_sentence(d: dict) -> str:
    """``a − b: +0.0123 bits/byte (95 % interval [...], p = ..., 3 seeds): significant at the 5 % level.``"""
    from unicode_substrate.experiments.stats import p_text

    if d["p"] is None:
        return f"{d['a']} − {d['b']}: {d['diff_mean']:+.4f} {d['metric']} on one seed: no interval and no test."
    verdict = "significant" if d["p"] < 0.05 else "not significant"
    m = _metric(d["metric"])
    better = ""
    if d["p"] < 0.05 and m is not None and d["diff_mean"] != 0:  # which way is better is the metric's own
        better = f"; {d['a'] if (d['diff_mean'] > 0) == m.higher_is_better else d['b']} is better"
    return (f"{d['a']} − {d['b']}: {d['diff_mean']:+.4f} {d['metric']} (95 % interval [{d['diff_low']:+.4f}, "
            f"{d['diff_high']:+.4f}], p = {p_text(d['p'])}, {d['n']} seeds): {verdict} at the 5 % level{better}.")


def write_compare_report(out: Path, results: list[dict], cfg: "TrainConfig", data: str | Path,
                         seeds: list[int] | None = None, load=None) -> None:
    """``report.md``, ``loss_curves.png`` and ``compare.json`` from the runs' summaries and metrics.

    ``results`` holds one entry per variant and seed (``seed`` key; one seed when absent); ``load``
    is the machine's load average at the start and end of the job."""
    seeds = seeds or [cfg.seed]
    for r in results:
        r.setdefault("seed", seeds[0])
    names = list(dict.fromkeys(r["variant"] for r in results))
    multi = len(seeds) > 1
    r0 = results[0]
    seeds_text = (f"seeds {', '.join(map(str, seeds))} (a seed sets initialisation and batch order together; the same seed "
                  "gives every variant the same batches, so runs pair by seed)" if multi else f"seed {seeds[0]}")
    lines = [
        "# Comparison",
        "",
        f"Every variant trained on `{data}` with {seeds_text}, {cfg.steps} steps of {r0['tokens_per_step']:,} tokens "
        f"(context {r0['context']}), AdamW lr {cfg.lr:g} → {cfg.min_lr:g} (warmup {cfg.warmup}, cosine), "
        f"weight decay {cfg.weight_decay:g}, clipping {cfg.grad_clip:g}; only the preset differs.",
        "",
    ]
    if "val_tokens" in r0 and "val_bytes" in r0:
        lines += [f"Validation: {r0['val_tokens']:,} predicted tokens over {r0['val_bytes']:,} UTF-8 bytes of the data's "
                  "validation split, the same text for every variant.", ""]
    summary, diffs = seed_statistics(results, seeds)
    if multi:
        lines += [f"Figures are the mean ± the half-width of its 95 % t-interval over {len(seeds)} seeds.", ""]
    lines += [
        "| variant | preset | parameters | trainable | optimizer state | final val loss | final val bits/byte | step time, median (quartiles) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        runs = [r for r in results if r["variant"] == name]
        r = runs[0]
        for x in runs:
            x["tokens_per_s_median"] = median_tokens_per_s(x)
            x["step_time"] = dict(zip(("median", "q1", "q3"), step_time_stats(step_times(x["metrics"])) or ()))
        times = [t for x in runs for t in step_times(x["metrics"])]
        lines.append(
            f"| {name} | {r['preset']} | {r['parameters']:,} | {r['trainable_parameters']:,} | "
            f"{_mib(r['optimizer_state_bytes'])} | {_iv(summary[name].get('val loss'), '.4f')} | "
            f"{_iv(summary[name].get('val bits/byte'), '.4f')} | {step_time_text(times)} |"
        )
    lines += [
        "",
        "Parameters count the frozen table (as the paper does); it has no gradient and no optimizer state.",
        "Bits per byte = validation nats / ln 2 / UTF-8 bytes of the validation text, so tokenizers compare.",
        _TIMING_NOTE + (" Over all seeds of a variant." if multi else ""),
    ]
    lt = load_text(load)
    if lt:
        lines.append(lt)
    if not multi:
        lines.append("One seed per variant: no interval and no test; pass `--seeds 1,2,3` to get them.")
    lines += ["", f"![loss curves]({LOSS_CURVES_PNG})", ""]
    if multi:
        lines += difference_lines(diffs, len(seeds))
    if any(r.get("eval") for r in results):
        if multi:
            lines += seed_benchmark_table(results, summary)
        else:
            from unicode_substrate.eval.report import comparison_table

            lines += comparison_table(results)
    _plot_compare(out / LOSS_CURVES_PNG, aggregate_seeds(results) if multi else results)
    atomic_write_bytes(out / REPORT_MD, "\n".join(lines).encode("utf-8"))
    slim = [{k: v for k, v in r.items() if k != "metrics"} for r in results]
    record = {"config": cfg.to_dict(), "variants": slim, "seeds": seeds, "summary": summary, "differences": diffs}
    if load:
        record["load_average"] = {"start": load[0], "end": load[1], "cores": os.cpu_count()}
    atomic_write_bytes(out / COMPARE_JSON, canonical_json(record))


def seed_benchmark_table(results: list[dict], summary: dict) -> list[str]:
    """Benchmarks over seeds: per variant the mean ± interval of each column, and the chance level."""
    from unicode_substrate.eval.report import CHANCE

    cols = _eval_columns(results)
    labels = [f"{t} {_EVAL_NAMES[k]}" for t, k in cols]
    lines = ["## Benchmarks", "",
             "Each run evaluated with `substrate eval` (results in `evals/NAME/seed-S/`); accuracy in %, BLEU for "
             "translation; mean ± 95 % t-interval over seeds.", "",
             "| variant | final val bits/byte | " + " | ".join(labels) + " |", "|---|---:|" + "---:|" * len(cols)]
    for name, cells in summary.items():
        lines.append(f"| {name} | {_iv(cells.get('val bits/byte'), '.4f')} | "
                     + " | ".join(_iv(cells.get(label), ".2f") for label in labels) + " |")
    tasks = list(dict.fromkeys(t for t, _ in cols))
    chance = [f"{t} {CHANCE[t]:g} %" for t in tasks if t in CHANCE]
    if chance:
        lines += ["", "Chance: " + ", ".join(chance) + "."]
    return lines + [""]


def aggregate_seeds(results: list[dict]) -> list[dict]:
    """One plotting entry per variant: the mean over seeds of every recorded step, with a 95 % band."""
    from unicode_substrate.experiments.stats import mean_interval

    out = []
    for name in dict.fromkeys(r["variant"] for r in results):
        runs = [r for r in results if r["variant"] == name]
        merged: dict[tuple, list[dict]] = {}
        for r in runs:
            for m in r["metrics"]:
                if m.get("type") in ("train", "val"):
                    merged.setdefault((m["step"], m["type"]), []).append(m)
        metrics, bands = [], {"loss": [], "val_loss": [], "val_bpb": []}
        for (step, kind), ms in sorted(merged.items()):
            if len(ms) != len(runs):
                continue  # a step not every seed recorded
            keys = ("loss",) if kind == "train" else ("val_loss", "val_bpb")
            if any(k not in m for k in keys for m in ms):
                continue
            rec = {"type": kind, "step": step}
            for k in keys:
                iv = mean_interval([m[k] for m in ms])
                rec[k] = iv.mean
                bands[k].append((step, iv.low if iv.half is not None else iv.mean, iv.high if iv.half is not None else iv.mean))
            metrics.append(rec)
        # the training band around the smoothed line: lowest to highest of the seeds' running means
        smooth = [_running_mean([m["loss"] for m in r["metrics"] if m.get("type") == "train"],
                                max(1, len([m for m in r["metrics"] if m.get("type") == "train"]) // 20)) for r in runs]
        steps = [m["step"] for m in runs[0]["metrics"] if m.get("type") == "train"]
        if all(len(x) == len(steps) for x in smooth):  # the spread of the seeds (a t-band of 2 seeds is 12.7 sd wide)
            bands["smooth"] = [(st, min(col), max(col)) for st, col in zip(steps, zip(*smooth))]
        out.append({"variant": name, "metrics": metrics, "bands": bands, "seeds": len(runs)})
    return out


def spread_labels(values: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Label heights near ``values`` (same order) at least ``gap`` apart and inside [lo, hi] where room allows."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    pos = [values[i] for i in order]
    for k in range(1, len(pos)):
        pos[k] = max(pos[k], pos[k - 1] + gap)
    if pos and pos[-1] > hi:  # pushed past the top: settle downwards from the top
        pos[-1] = hi
        for k in range(len(pos) - 2, -1, -1):
            pos[k] = min(pos[k], pos[k + 1] - gap)
    out = [0.0] * len(values)
    for k, i in enumerate(order):
        out[i] = max(pos[k], lo) if len(pos) * gap <= hi - lo else pos[k]
    return out


def _end_labels(ax, items: list[tuple[float, float, str, str]], x_text: float) -> None:
    """Final values written right of the curves, moved apart so none overlaps, each tied to its point."""
    if not items:
        return
    lo, hi = ax.get_ylim()
    ys = spread_labels([y for _, y, _, _ in items], 0.07 * (hi - lo), lo + 0.03 * (hi - lo), hi - 0.03 * (hi - lo))
    for (x, y, text, c), yt in zip(items, ys):
        ax.annotate(text, (x, y), xytext=(x_text, yt), textcoords="data", color=c, fontsize=9, fontweight="bold",
                    va="center", ha="left", arrowprops={"arrowstyle": "-", "color": c, "lw": 0.6})


def _running_mean(values: list[float], span: int) -> list[float]:
    """Exponential moving average, so the trend shows through per-step noise."""
    out, acc, a = [], None, 2.0 / (span + 1)
    for x in values:
        acc = x if acc is None else a * x + (1 - a) * acc
        out.append(acc)
    return out


def _loss_range(results: list[dict]) -> tuple[float, float, int]:
    """Y-limits that show where variants differ: the first tenth of the steps (loss near ln V) is left above."""
    last = max((m["step"] for r in results for m in r["metrics"]), default=1)
    skip = last // 10 if last >= 20 else 0
    shown = [m["loss"] for r in results for m in r["metrics"] if m["type"] == "train" and m["step"] > skip]
    shown += [m["val_loss"] for r in results for m in r["metrics"] if m["type"] == "val" and "val_loss" in m]
    if not shown:
        return 0.0, 1.0, 0
    lo, hi = min(shown), max(shown)
    pad = max(0.08 * (hi - lo), 0.05)
    return lo - pad, hi + pad, skip


def _plot_compare(path: Path, results: list[dict], tokens_per_step: int | None = None, x_label: str = "step") -> None:
    """Loss curves of ``results`` (each a ``variant`` name and its ``metrics``) by step; with
    ``tokens_per_step`` (shared by every run) the tokens seen are a second x-axis on top.
    ``x_label`` names what the records' ``step`` holds (plot passes tokens there)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "os^Dv<>p"
    last = max((m["step"] for r in results for m in r["metrics"]), default=1)
    ends, banded = [], False
    for k, r in enumerate(results):
        c, mk = colors[k % len(colors)], markers[k % len(markers)]
        bands = r.get("bands") or {}
        train = [m for m in r["metrics"] if m["type"] == "train"]
        val = [m for m in r["metrics"] if m["type"] == "val" and "val_loss" in m]
        steps, loss = [m["step"] for m in train], [m["loss"] for m in train]
        ax1.plot(steps, loss, lw=0.7, alpha=0.3, color=c)
        ax1.plot(steps, _running_mean(loss, max(1, len(loss) // 20)), lw=1.8, color=c, label=f"{r['variant']} train")
        if bands.get("smooth"):
            banded = True
            bx, blo, bhi = zip(*bands["smooth"])
            ax1.fill_between(bx, blo, bhi, color=c, alpha=0.18, lw=0)
        vx, vl, vb = [m["step"] for m in val], [m["val_loss"] for m in val], [m["val_bpb"] for m in val]
        ax1.plot(vx, vl, mk + "--", color=c, mec="black", mew=0.8, ms=7, lw=1.2, zorder=3, label=f"{r['variant']} validation")
        ax2.plot(vx, vb, mk + "-", color=c, mec="black", mew=0.8, ms=7, lw=1.5, zorder=3, label=r["variant"])
        if bands.get("val_bpb"):
            banded = True
            bx, blo, bhi = zip(*bands["val_bpb"])
            if len(bx) > 1:
                ax2.fill_between(bx, blo, bhi, color=c, alpha=0.2, lw=0)
            ax2.errorbar(bx, vb, yerr=[[m - lo_ for m, lo_ in zip(vb, blo)], [hi_ - m for m, hi_ in zip(vb, bhi)]],
                         fmt="none", ecolor=c, capsize=3, lw=1, zorder=2)
        if vx:  # the final figure, readable even with a single validation point
            ends.append((vx[-1], vb[-1], f"{vb[-1]:.3f}", c))
    lo, hi, skip = _loss_range(results)
    ax1.set_ylim(lo, hi)
    first = f"; steps 1-{skip} (loss up to ln V) above the top" if skip else ""
    ax1.set(xlabel=x_label, ylabel="loss (nats/token)", title=f"training loss (faint: per step, line: running mean){first}")
    ax1.title.set_fontsize(9)
    ax2.set(xlabel=x_label, ylabel="bits per byte", title="validation bits per byte (lower is better)")
    vb_all = [m["val_bpb"] for r in results for m in r["metrics"] if m["type"] == "val" and "val_bpb" in m]
    vb_all += [y for r in results for _, lo_, hi_ in (r.get("bands") or {}).get("val_bpb", []) for y in (lo_, hi_)]
    if vb_all:
        span = max(max(vb_all) - min(vb_all), 0.02)
        ax2.set_ylim(min(vb_all) - 0.15 * span, max(vb_all) + 0.15 * span)
    if banded:
        n = max(r.get("seeds", 0) for r in results)
        ax2.set_title(f"validation bits per byte, mean of {n} seeds\n(bars and band: 95 % t-interval)", fontsize=9)
        ax1.set_title(f"training loss, mean of {n} seeds (band: lowest to highest seed){first}", fontsize=9)
    _end_labels(ax2, ends, last * 1.015 + 0.5)
    for ax in (ax1, ax2):
        ax.set_xlim(0, last * 1.12 + 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7 if len(results) > 3 else 8, ncol=2 if len(results) > 3 else 1)
        if tokens_per_step:
            top = ax.secondary_xaxis("top", functions=(lambda s: s * tokens_per_step, lambda t: t / tokens_per_step))
            top.set_xlabel("tokens", fontsize=8)
            top.tick_params(labelsize=7)
    fig.tight_layout()
    save_png(fig, path)


plot_loss_curves = _plot_compare  # the public name (substrate plot); compare and grow reports call it too
