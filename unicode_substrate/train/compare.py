"""Train variants on identical data, seed, schedule and steps; write ``report.md`` and ``loss_curves.png``."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from unicode_substrate.artifacts import atomic_write_bytes, canonical_json
from unicode_substrate.errors import SubstrateError
from unicode_substrate.train.config import TrainConfig
from unicode_substrate.train.run import Run
from unicode_substrate.train.trainer import train


@dataclass(frozen=True)
class Variant:
    """One arm of a comparison: a name, a preset and (for frozen presets) a table directory."""

    name: str
    preset: str
    table: Path | None = None


def parse_variant(spec: str) -> Variant:
    """``name=preset`` or ``name=preset:table_dir`` (e.g. ``glyph=tiny-glyph:artifacts/table``)."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise SubstrateError(f"variant {spec!r} is not name=preset[:table]")
    if not name.replace("-", "").replace("_", "").isalnum():
        raise SubstrateError(f"variant name {name!r} may hold only letters, digits, - and _")
    preset, _, table = rest.partition(":")
    return Variant(name, preset, Path(table) if table else None)


# What a comparison folder holds; anything else in it means the folder is not ours to fill.
OUTPUTS = ("runs", "report.md", "loss_curves.png", "compare.json")


def check_variants(variants: list[Variant], data: str | Path, cfg: TrainConfig) -> None:
    """Refuse any variant that training would refuse (preset, table, width, tokenizer, context), before the first trains.

    The same checks as ``trainer.build_job`` makes of its inputs, so a bad third variant is
    found in a second, not after the first two have trained.
    """
    from unicode_substrate.train.data import TokenData
    from unicode_substrate.train.run import load_frozen_table

    d = TokenData.load(data)
    for v in variants:
        try:
            vcfg = cfg.replace(preset=v.preset)
            mcfg = vcfg.model_config()
            context = vcfg.context or mcfg.context
            if context > mcfg.context:
                raise SubstrateError(f"context {context} exceeds the model's {mcfg.context}")
            if d.vocab_size != mcfg.vocab_size:
                raise SubstrateError(f"the data's tokenizer has {d.vocab_size} ids but preset {v.preset} has a vocabulary of {mcfg.vocab_size}")
            d.check_context(context)
            if v.table is not None and not Path(v.table).is_dir():
                raise SubstrateError(f"table {v.table} is not a directory")
            load_frozen_table(v.table, mcfg, tokenizer_sha256=d.tokenizer_sha256)
        except SubstrateError as e:
            raise SubstrateError(f"variant {v.name} ({v.preset}): {e}; nothing was trained") from None


def _check_out(out: Path, force: bool) -> None:
    """A finished comparison is replaced only with ``force``; an unfinished one (runs, no report) is simply retrained."""
    if not out.exists() or force or not any(out.iterdir()):
        return
    if (out / "report.md").exists():
        raise SubstrateError(f"{out} already holds a finished comparison (use --force to replace its runs and report)")
    other = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
    if other:
        raise SubstrateError(f"{out} is not empty and holds no comparison ({', '.join(other[:3])}); use --force to write into it anyway")


def compare(variants: list[Variant], data: str | Path, out: str | Path, cfg: TrainConfig,
            force: bool = False, progress: bool = True, eval_tasks: str | list[str] | None = None,
            eval_data_dir: str | Path | None = None, eval_options: dict | None = None) -> Path:
    """Train every variant with ``cfg`` (only the preset differs) under ``out/runs/``; write the report.

    With ``eval_tasks`` and ``eval_data_dir`` each run is also evaluated on those benchmarks
    (``unicode_substrate.eval``, options ``eval_options``) into ``out/evals/NAME`` and the report
    gains a benchmark table."""
    out = Path(out)
    if len(variants) < 2:
        raise SubstrateError("compare needs at least two variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise SubstrateError(f"variant names must be distinct, got {', '.join(names)}")
    _check_out(out, force)
    check_variants(variants, data, cfg)
    if eval_tasks:
        from unicode_substrate.eval.runner import check_benchmarks

        check_benchmarks(eval_tasks, eval_data_dir, **{k: v for k, v in (eval_options or {}).items()
                                                       if k in ("seed", "limit")})  # bad files fail before training
    results = []
    for k, v in enumerate(variants):
        if progress:
            print(f"variant {k + 1}/{len(variants)}: {v.name} ({v.preset}{', table ' + str(v.table) if v.table else ''})",
                  file=sys.stderr, flush=True)
        run = Run.load(train(cfg.replace(preset=v.preset), data, out / "runs" / v.name, table=v.table, force=True,
                             progress=progress))
        results.append({"variant": v.name, "preset": v.preset, "table": str(v.table) if v.table else None,
                        **(run.summary() or {}), "metrics": run.metrics()})
        if eval_tasks:
            from unicode_substrate.eval.runner import evaluate, headline

            ev = evaluate(out / "evals" / v.name, eval_tasks, eval_data_dir, run=run.path, force=True,
                          progress=progress, **(eval_options or {}))
            results[-1]["eval"] = headline(ev)
    write_report(out, results, cfg, data)
    return out / "report.md"


def _mib(n: int) -> str:
    return f"{n / 2**20:,.2f} MiB"


def median_tokens_per_s(r: dict) -> float:
    """Training tokens/s of the median step (robust to a neighbour's burst of work); the mean when steps were not timed."""
    times = [m["step_s"] for m in r["metrics"] if m.get("type") == "train" and m.get("step_s")]
    return r["tokens_per_step"] / statistics.median(times) if times else r["tokens_per_s"]


def write_report(out: Path, results: list[dict], cfg: TrainConfig, data: str | Path) -> None:
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
        "![loss curves](loss_curves.png)",
        "",
    ]
    if any(r.get("eval") for r in results):
        from unicode_substrate.eval.report import comparison_table

        lines += comparison_table(results)
    _plot(out / "loss_curves.png", results)
    atomic_write_bytes(out / "report.md", "\n".join(lines).encode("utf-8"))
    slim = [{k: v for k, v in r.items() if k != "metrics"} for r in results]
    atomic_write_bytes(out / "compare.json", canonical_json({"config": cfg.to_dict(), "variants": slim}))


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


def _plot(path: Path, results: list[dict]) -> None:
    import io

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
    ax1.set(xlabel="step", ylabel="loss (nats/token)", title=f"training loss (faint: per step, line: running mean){first}")
    ax1.title.set_fontsize(9)
    ax2.set(xlabel="step", ylabel="bits per byte", title="validation bits per byte (lower is better)")
    vb_all = [m["val_bpb"] for r in results for m in r["metrics"] if m["type"] == "val" and "val_bpb" in m]
    if vb_all:
        span = max(max(vb_all) - min(vb_all), 0.02)
        ax2.set_ylim(min(vb_all) - 0.15 * span, max(vb_all) + 0.15 * span)
    for ax in (ax1, ax2):
        ax.set_xlim(0, last * 1.12 + 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})  # no version stamp: same input, same bytes
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
