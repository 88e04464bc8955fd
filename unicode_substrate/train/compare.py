"""Train variants on identical data, seed, schedule and steps; write ``report.md`` and ``loss_curves.png``."""

from __future__ import annotations

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


def compare(variants: list[Variant], data: str | Path, out: str | Path, cfg: TrainConfig,
            force: bool = False, progress: bool = True) -> Path:
    """Train every variant with ``cfg`` (only the preset differs) under ``out/runs/``; write the report."""
    out = Path(out)
    if len(variants) < 2:
        raise SubstrateError("compare needs at least two variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise SubstrateError(f"variant names must be distinct, got {', '.join(names)}")
    if out.exists() and any(out.iterdir()) and not force:
        raise SubstrateError(f"{out} already exists (use --force to replace its runs and report)")
    results = []
    for v in variants:
        run = Run.load(train(cfg.replace(preset=v.preset), data, out / "runs" / v.name, table=v.table, force=True,
                             progress=progress))
        results.append({"variant": v.name, "preset": v.preset, "table": str(v.table) if v.table else None,
                        **(run.summary() or {}), "metrics": run.metrics()})
    write_report(out, results, cfg, data)
    return out / "report.md"


def _mib(n: int) -> str:
    return f"{n / 2**20:,.2f} MiB"


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
        "| variant | preset | parameters | trainable | optimizer state | final val loss | final val bits/byte | tokens/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['variant']} | {r['preset']} | {r['parameters']:,} | {r['trainable_parameters']:,} | "
            f"{_mib(r['optimizer_state_bytes'])} | {r.get('val_loss', float('nan')):.4f} | "
            f"{r.get('val_bpb', float('nan')):.4f} | {r['tokens_per_s']:,.0f} |"
        )
    lines += [
        "",
        "Parameters count the frozen table (as the paper does); it has no gradient and no optimizer state.",
        "Bits per byte = validation nats / ln 2 / UTF-8 bytes of the validation text, so tokenizers compare.",
        "Tokens/s is training throughput on this machine, evaluation excluded.",
        "",
        "![loss curves](loss_curves.png)",
        "",
    ]
    _plot(out / "loss_curves.png", results)
    atomic_write_bytes(out / "report.md", "\n".join(lines).encode("utf-8"))
    slim = [{k: v for k, v in r.items() if k != "metrics"} for r in results]
    atomic_write_bytes(out / "compare.json", canonical_json({"config": cfg.to_dict(), "variants": slim}))


def _plot(path: Path, results: list[dict]) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in results:
        train = [m for m in r["metrics"] if m["type"] == "train"]
        val = [m for m in r["metrics"] if m["type"] == "val"]
        line, = ax1.plot([m["step"] for m in train], [m["loss"] for m in train], lw=1, alpha=0.85, label=r["variant"])
        ax1.plot([m["step"] for m in val], [m["val_loss"] for m in val], "o--", color=line.get_color(), ms=4)
        ax2.plot([m["step"] for m in val], [m["val_bpb"] for m in val], "o-", color=line.get_color(), label=r["variant"])
    ax1.set(xlabel="step", ylabel="loss (nats/token)", title="training loss (dots: validation)")
    ax2.set(xlabel="step", ylabel="bits per byte", title="validation bits per byte")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})  # no version stamp: same input, same bytes
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
