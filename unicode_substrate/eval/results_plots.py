"""The pictures of ``results-table``: bars with intervals, and the author's two heatmaps.

The author's plotting notebooks (``_models_benchmarking.plot*.ipynb`` in AVBochkov/Embeddings)
draw a heatmap of MMLU subjects × models and an overview heatmap of tasks × models; these draw
the same from any mix of our eval directories and the author's released result files. What one
picture draws is capped (``MAX_BAR_ROWS``, ``MAX_HEATMAP_ROWS``): a table of 100,000 MMLU subjects
is written in full to table.md and table.csv, but a picture of it would take minutes and gigabytes
and show nothing; the note returned with each picture says what was left out, and table.md prints it.
Same input, same bytes (no version stamp in the PNG).
"""

from __future__ import annotations

import io
import math
import warnings

MAX_BAR_ROWS = 60  # task rows in the bar chart
MAX_HEATMAP_ROWS = 120  # rows of a heatmap (the author's MMLU has 57 subjects)
MAX_COLUMNS = 40  # models in any one picture
MAX_ANNOTATED = 2500  # cells that get their value written in


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(width, height))


def _png(plt, fig) -> bytes:
    with warnings.catch_warnings():  # long labels leave tight_layout no room: the saved canvas grows to fit them instead
        warnings.filterwarnings("ignore", "Tight layout not applied", UserWarning)
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight",
                metadata={"Software": None})  # no version stamp: same input, same bytes
    plt.close(fig)
    return buf.getvalue()


def _capped(columns: list, keys: list, max_rows: int, what: str) -> tuple[list, list, str | None]:
    cols, ks = columns[:MAX_COLUMNS], keys[:max_rows]
    if len(cols) == len(columns) and len(ks) == len(keys):
        return cols, ks, None
    return cols, ks, (f"The {what} draws the first {len(ks)} of {len(keys)} rows and {len(cols)} of {len(columns)} "
                      f"models (a picture is capped); the table holds them all.")


def bars(columns: list, keys: list, chance: dict, row_name) -> tuple[bytes, str | None]:
    """table.png: bars per task and model with their intervals, a dashed chance line, zeros marked."""
    if len(keys) > MAX_BAR_ROWS:  # first the tasks themselves, then as many subjects as fit
        keys = [k for k in keys if k[1] is None or k[0] == "BLEU"] + [k for k in keys if not (k[1] is None or k[0] == "BLEU")]
    columns, drawn, note = _capped(columns, keys, MAX_BAR_ROWS, "bar chart (table.png)")
    width = 0.8 / max(1, len(columns))
    plt, fig, ax = _figure(min(24.0, max(6.0, 0.45 * len(drawn) * max(1, len(columns)) ** 0.5 + 4)), 4.8)
    colors = plt.get_cmap("tab10" if len(columns) <= 10 else "tab20").colors
    for j, c in enumerate(columns):
        xs, ys, lo, hi = [], [], [], []
        for i, k in enumerate(drawn):
            s = c.scores.get(k)
            if s is not None:
                xs.append(i + (j - (len(columns) - 1) / 2) * width)
                ys.append(s.value)
                lo.append(max(0.0, s.value - s.low))
                hi.append(max(0.0, s.high - s.value))
        color = colors[j % len(colors)]
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=c.name, color=color)
        for x, y in zip(xs, ys):
            if y == 0:  # a zero has no bar: mark it, so it does not read as "not run"
                ax.annotate("0", (x, 0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                            fontsize=7, color=color, fontweight="bold")
    first = True
    for i, k in enumerate(drawn):
        if chance.get(k) is not None:
            ax.hlines(chance[k], i - 0.45, i + 0.45, colors="black", linestyles="dashed", lw=1,
                      label="chance" if first else None)
            first = False
    ax.set_xticks(range(len(drawn)), [row_name(k).replace(" [", "\n[") for k in drawn], fontsize=8)
    top = max([s.high for c in columns for s in c.scores.values()] + [v for v in chance.values() if v is not None] + [1.0])
    title = "results with 95 % intervals (paper: ± 1.96σ/√runs; loglik: Wilson)"
    ax.set(ylabel="score (%; BLEU for translation)", ylim=(0, min(100.0, top * 1.15 + 1)),
           title=title if note is None else f"{title}\n{len(drawn)} of {len(keys)} rows drawn")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(plt, fig), note


def heatmap(columns: list, keys: list, row_name, title: str) -> tuple[bytes, str | None]:
    """Rows ``keys`` × models, each cell the score (blank where not run), as the author's notebook draws it."""
    import numpy as np

    columns = [c for c in columns if any(k in c.scores for k in keys)]
    columns, drawn, note = _capped(columns, keys, MAX_HEATMAP_ROWS, f"heatmap of {title}")
    grid = np.full((len(drawn), len(columns)), np.nan)
    for j, c in enumerate(columns):
        for i, k in enumerate(drawn):
            if k in c.scores:
                grid[i, j] = c.scores[k].value
    plt, fig, ax = _figure(min(30.0, 3.5 + 1.1 * len(columns)), min(40.0, 1.8 + 0.28 * len(drawn)))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#dddddd")  # grey: not run
    finite = grid[np.isfinite(grid)]
    vmax = max(1.0, float(finite.max())) if finite.size else 1.0
    im = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    if grid.size <= MAX_ANNOTATED:
        for i in range(len(drawn)):
            for j in range(len(columns)):
                v = grid[i, j]
                if math.isfinite(v):
                    ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                            color="white" if v < 0.6 * vmax else "black")
    ax.set_xticks(range(len(columns)), [c.name for c in columns], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(drawn)), [str(row_name(k)) for k in drawn], fontsize=7)
    fig.colorbar(im, ax=ax, label="score (%; BLEU for translation)")
    ax.set_title(title if note is None else f"{title} ({len(drawn)} of {len(keys)} rows drawn)", fontsize=9)
    return _png(plt, fig), note
