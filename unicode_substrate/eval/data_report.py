"""How a data score (eval/data_score.py) reads in an eval directory: results.md lines and results.png.

Apart from the scoring so that the eval report can show it without importing the scorer.
"""

from __future__ import annotations

from pathlib import Path

DATA_SCORE = "data_score"  # the key of results.json


def _rows(score: dict) -> list[tuple[str, int, int, float, float]]:
    """(what, tokens, UTF-8 bytes, loss, bits per byte): the whole split, then each source (recipe-built data)."""
    rows = [("all", score["val_tokens"], score["val_bytes"], score["val_loss"], score["val_bpb"])]
    rows += [(f"source {s['name']}", s["val_tokens"], s["val_bytes"], s["val_loss"], s["val_bpb"])
             for s in score.get("sources") or ()]
    return rows


def markdown_lines(score: dict) -> list[str]:
    """The data score as results.md lines: overall, and per source where the data directory has sources."""
    lines = ["", "## Validation split of a data directory", "", f"Data: `{score['data']}`.", "",
             "| part | tokens | UTF-8 bytes | loss (nats/token) | bits per byte |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {what} | {t:,} | {b:,} | {loss:.4f} | {bpb:.4f} |" for what, t, b, loss, bpb in _rows(score)]
    return lines + ["", f"Context {score['context']}: {score['method']}."
                    + (" A source's bits per byte count its tokens' losses over its own bytes." if score.get("sources") else ""), ""]


def terminal_lines(score: dict) -> list[str]:
    """The data score for the terminal, as the benchmark table is printed: one line per part, aligned."""
    header = ("data", "tokens", "UTF-8 bytes", "loss", "bits/byte")
    rows = [(what, f"{t:,}", f"{b:,}", f"{loss:.4f}", f"{bpb:.4f}") for what, t, b, loss, bpb in _rows(score)]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in (header, *rows)]


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
    rows = _rows(score)  # the whole split, then each source of a recipe-built data directory
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(rows) + 2), 3.6))
    for i, (_, _, _, _, bpb) in enumerate(rows):
        ax.bar([i], [bpb], 0.5, color="C0" if i == 0 else "C1")
        ax.annotate(f"{bpb:.4f}", (i, bpb), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
    names = [Path(score["data"]).name or score["data"]] + [what.removeprefix("source ") for what, *_ in rows[1:]]
    ax.set_xticks(range(len(rows)), names, fontsize=8)
    ax.set_xlim(-0.8, len(rows) - 0.2)
    ax.set(ylabel="bits per byte (lower is better)", title="validation bits per byte")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # same input, same bytes
    plt.close(fig)
    return buf.getvalue()
