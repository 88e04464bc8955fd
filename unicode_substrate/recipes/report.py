"""The reports of recipes over runs: ``report.md`` and ``loss_curves.png`` for compare and grow.

One writer for both: a comparison sets variants side by side, a growth sets its stages beside
the monolithic control. Both save their pictures through :func:`save_png` (byte-deterministic).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from unicode_substrate.artifacts import atomic_write_bytes, canonical_json
from unicode_substrate.run import Run

if TYPE_CHECKING:  # pragma: no cover
    from unicode_substrate.train.config import TrainConfig

# The files a report consists of, named once.
REPORT_MD = "report.md"
LOSS_CURVES_PNG = "loss_curves.png"
COMPARE_JSON = "compare.json"


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
        + f", {cfg['steps_per_stage']} steps; after the first stage `{cfg['trainable']}` trains"
        + (f", with rank-{lora['rank']} adapters (alpha {lora['alpha']:g}) over the frozen blocks, merged at each stage's end" if lora else "")
        + f". New blocks start `{cfg['init']}`. Data `{record['data']}`, seed {train['seed']} (stage k: seed + k - 1), "
        f"AdamW lr {train['lr']:g} → {train['min_lr']:g} (warmup {train['warmup']}, cosine, per stage).",
        "",
        "| run | layers | new blocks | trains | trainable parameters | optimizer state | steps | tokens/s | val loss | val bits/byte |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in stages:
        a, b = s["new_blocks"]
        lines.append(f"| stage {s['stage']} | {s['layers']} | {a}–{b - 1} | {s['trainable']}{' + LoRA' if s.get('lora') else ''} | "
                     f"{_num(s['trainable_parameters'], ',')} | {_mib(s['optimizer_state_bytes'])} | {s['steps']} | "
                     f"{_num(s['tokens_per_s'], ',.0f')} | {_num(s.get('val_loss'), '.4f')} | {_num(s.get('val_bpb'), '.4f')} |")
    if mono:
        lines.append(f"| monolithic | {stages[-1]['layers']} | all | all | {_num(mono.get('trainable_parameters'), ',')} | "
                     f"{_mib(mono.get('optimizer_state_bytes'))} | {mono.get('steps')} | {_num(mono.get('tokens_per_s'), ',.0f')} | "
                     f"{_num(mono.get('val_loss'), '.4f')} | {_num(mono.get('val_bpb'), '.4f')} |")
    grown_bpb = stages[-1].get("val_bpb")
    tps = _overall_tokens_per_s(stages)
    lines += ["", f"Grown model: final validation {_num(grown_bpb, '.4f')} bits/byte, "
                  f"peak optimizer state {_mib(max((s['optimizer_state_bytes'] or 0) for s in stages))}, "
                  f"{_num(tps, ',.0f')} tokens/s over all stages."]
    if mono and grown_bpb is not None and mono.get("val_bpb") is not None:
        diff = grown_bpb - mono["val_bpb"]
        lines.append(f"Monolithic control: {mono['val_bpb']:.4f} bits/byte, optimizer state {_mib(mono.get('optimizer_state_bytes'))}, "
                     f"{_num(mono.get('tokens_per_s'), ',.0f')} tokens/s. The grown model is "
                     f"{abs(diff):.4f} bits/byte {'worse' if diff > 0 else 'better'} at the same total steps.")
    lines += [
        "",
        "Trainable parameters and optimizer state are per stage (frozen blocks have neither); the frozen table "
        "is counted in neither. Bits per byte = validation nats / ln 2 / UTF-8 bytes of the validation text. "
        "Tokens/s is training throughput on this machine, evaluation excluded.",
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
    offset, bounds, gx, gy, vx, vy = 0, [], [], [], [], []
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
    if record.get("monolithic"):
        metrics = Run.load(out / record["monolithic"]["run"]).metrics()
        ax1.plot([m["step"] for m in metrics if m["type"] == "train"], [m["loss"] for m in metrics if m["type"] == "train"],
                 lw=1, color="C1", alpha=0.85, label="monolithic")
        val = [m for m in metrics if m["type"] == "val" and "val_bpb" in m]
        ax2.plot([m["step"] for m in val], [m["val_bpb"] for m in val], "o-", ms=4, color="C1", label="monolithic")
    for ax in (ax1, ax2):
        for b in bounds[:-1]:
            ax.axvline(b, color="grey", ls=":", lw=1)
        ax.grid(alpha=0.3)
        ax.legend()
    ax1.set(xlabel="step (all stages)", ylabel="loss (nats/token)", title="training loss (dotted: a stage begins)")
    ax2.set(xlabel="step (all stages)", ylabel="bits per byte", title="validation bits per byte")
    fig.tight_layout()
    save_png(fig, out / LOSS_CURVES_PNG)


# --- comparisons -----------------------------------------------------------------------------
def median_tokens_per_s(r: dict) -> float:
    """Training tokens/s of the median step (robust to a neighbour's burst of work); the mean when steps were not timed."""
    times = [m["step_s"] for m in r["metrics"] if m.get("type") == "train" and m.get("step_s")]
    return r["tokens_per_step"] / statistics.median(times) if times else r["tokens_per_s"]


def write_compare_report(out: Path, results: list[dict], cfg: "TrainConfig", data: str | Path) -> None:
    """``report.md``, ``loss_curves.png`` and ``compare.json`` from the variants' summaries and metrics."""
    r0 = results[0]
    lines = [
        "# Comparison",
        "",
        f"Every variant trained on `{data}` with seed {cfg.seed}, {cfg.steps} steps of {r0['tokens_per_step']:,} tokens "
        f"(context {r0['context']}), AdamW lr {cfg.lr:g} → {cfg.min_lr:g} (warmup {cfg.warmup}, cosine), "
        f"weight decay {cfg.weight_decay:g}, clipping {cfg.grad_clip:g}; only the preset differs.",
        "",
    ]
    if "val_tokens" in r0 and "val_bytes" in r0:
        lines += [f"Validation: {r0['val_tokens']:,} predicted tokens over {r0['val_bytes']:,} UTF-8 bytes of the data's "
                  "validation split, the same text for every variant.", ""]
    lines += [
        "| variant | preset | parameters | trainable | optimizer state | final val loss | final val bits/byte | tokens/s (median step) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        r["tokens_per_s_median"] = median_tokens_per_s(r)
        lines.append(
            f"| {r['variant']} | {r['preset']} | {r['parameters']:,} | {r['trainable_parameters']:,} | "
            f"{_mib(r['optimizer_state_bytes'])} | {r.get('val_loss', float('nan')):.4f} | "
            f"{r.get('val_bpb', float('nan')):.4f} | {r['tokens_per_s_median']:,.0f} |"
        )
    lines += [
        "",
        "Parameters count the frozen table (as the paper does); it has no gradient and no optimizer state.",
        "Bits per byte = validation nats / ln 2 / UTF-8 bytes of the validation text, so tokenizers compare.",
        "Tokens/s is training throughput (evaluation excluded) of the median step, measured on this machine while it may",
        "have run other work: noisy. Compare variants within one report, not across runs or machines.",
        "",
        f"![loss curves]({LOSS_CURVES_PNG})",
        "",
    ]
    if any(r.get("eval") for r in results):
        from unicode_substrate.eval.report import comparison_table

        lines += comparison_table(results)
    _plot_compare(out / LOSS_CURVES_PNG, results)
    atomic_write_bytes(out / REPORT_MD, "\n".join(lines).encode("utf-8"))
    slim = [{k: v for k, v in r.items() if k != "metrics"} for r in results]
    atomic_write_bytes(out / COMPARE_JSON, canonical_json({"config": cfg.to_dict(), "variants": slim}))


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
    last = max((m["step"] for r in results for m in r["metrics"]), default=1)
    for k, r in enumerate(results):
        c = colors[k % len(colors)]
        train = [m for m in r["metrics"] if m["type"] == "train"]
        val = [m for m in r["metrics"] if m["type"] == "val" and "val_loss" in m]
        steps, loss = [m["step"] for m in train], [m["loss"] for m in train]
        ax1.plot(steps, loss, lw=0.7, alpha=0.3, color=c)
        ax1.plot(steps, _running_mean(loss, max(1, len(loss) // 20)), lw=1.8, color=c, label=f"{r['variant']} train")
        vx, vl, vb = [m["step"] for m in val], [m["val_loss"] for m in val], [m["val_bpb"] for m in val]
        ax1.plot(vx, vl, "o--", color=c, mec="black", mew=0.8, ms=7, lw=1.2, zorder=3, label=f"{r['variant']} validation")
        ax2.plot(vx, vb, "o-", color=c, mec="black", mew=0.8, ms=7, lw=1.5, zorder=3, label=r["variant"])
        if vx:  # the final figure, readable even with a single validation point
            ax2.annotate(f"{vb[-1]:.3f}", (vx[-1], vb[-1]), textcoords="offset points", xytext=(8, -4 + 9 * (k % 2)),
                         color=c, fontsize=9, fontweight="bold")
    lo, hi, skip = _loss_range(results)
    ax1.set_ylim(lo, hi)
    first = f"; steps 1-{skip} (loss up to ln V) above the top" if skip else ""
    ax1.set(xlabel=x_label, ylabel="loss (nats/token)", title=f"training loss (faint: per step, line: running mean){first}")
    ax1.title.set_fontsize(9)
    ax2.set(xlabel=x_label, ylabel="bits per byte", title="validation bits per byte (lower is better)")
    vb_all = [m["val_bpb"] for r in results for m in r["metrics"] if m["type"] == "val" and "val_bpb" in m]
    if vb_all:
        span = max(max(vb_all) - min(vb_all), 0.02)
        ax2.set_ylim(min(vb_all) - 0.15 * span, max(vb_all) + 0.15 * span)
    for ax in (ax1, ax2):
        ax.set_xlim(0, last * 1.12 + 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if tokens_per_step:
            top = ax.secondary_xaxis("top", functions=(lambda s: s * tokens_per_step, lambda t: t / tokens_per_step))
            top.set_xlabel("tokens", fontsize=8)
            top.tick_params(labelsize=7)
    fig.tight_layout()
    save_png(fig, path)


plot_loss_curves = _plot_compare  # the public name (substrate plot); compare and grow reports call it too
