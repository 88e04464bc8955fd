"""The growth report: ``report.md`` and ``loss_curves.png``, the grown model beside its monolithic control."""

from __future__ import annotations

from pathlib import Path

from unicode_substrate.artifacts import atomic_write_bytes
from unicode_substrate.train.run import Run


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


def write_report(out: Path, record: dict) -> Path:
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
    _plot(out, record)
    atomic_write_bytes(out / "report.md", "\n".join(lines).encode("utf-8"))
    return out / "report.md"


def _plot(out: Path, record: dict) -> None:
    import io

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
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})  # no version stamp: same input, same bytes
    plt.close(fig)
    atomic_write_bytes(out / "loss_curves.png", buf.getvalue())
