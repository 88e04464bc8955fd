"""How a data score (eval/data_score.py) reads in an eval directory: results.md lines and results.png.

Apart from the scoring so that the eval report can show it without importing the scorer.
"""

from __future__ import annotations

from pathlib import Path

DATA_SCORE = "data_score"  # the key of results.json


def markdown_lines(score: dict) -> list[str]:
    """The data score as results.md lines."""
    return ["", "## Validation split of a data directory", "",
            "| data | tokens | UTF-8 bytes | loss (nats/token) | bits per byte |", "|---|---:|---:|---:|---:|",
            f"| `{score['data']}` | {score['val_tokens']:,} | {score['val_bytes']:,} | {score['val_loss']:.4f} | "
            f"{score['val_bpb']:.4f} |", "",
            f"Context {score['context']}: {score['method']}.", ""]


def markdown(results: dict) -> str:
    """results.md of an eval directory that holds a data score and no benchmark."""
    model = results["model"]
    head = ["# Evaluation", "", f"Model: `{model.get('run') or model.get('hf_model')}`"
            + (f" at `{Path(model['checkpoint']).name}`" if model.get("checkpoint") else "") + "."]
    return "\n".join(head + markdown_lines(results[DATA_SCORE]))


def plot(results: dict) -> bytes:
    """results.png of an eval directory that holds a data score and no benchmark: its bits per byte."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    score = results[DATA_SCORE]
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    ax.bar([0], [score["val_bpb"]], 0.5, color="C0")
    ax.annotate(f"{score['val_bpb']:.4f}", (0, score["val_bpb"]), textcoords="offset points", xytext=(0, 4), ha="center")
    ax.set_xticks([0], [Path(score["data"]).name or score["data"]])
    ax.set(ylabel="bits per byte (lower is better)", title="validation bits per byte", xlim=(-0.8, 0.8))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # same input, same bytes
    plt.close(fig)
    return buf.getvalue()
