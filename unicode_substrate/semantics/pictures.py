"""The two pictures of ``substrate semantics``: separability over the levels, and a t-SNE map of one level.

Both return a matplotlib figure; the caller saves it (``experiments.report.save_png``: atomic, no
version stamp, so the same input gives the same bytes).
"""

from __future__ import annotations

import numpy as np

PANELS = ("knn", "silhouette", "gap")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def separability_figure(curves: list[dict], titles: dict[str, str]):
    """One panel per measure of ``PANELS``; per curve its values over the levels (with error bars over seeds) and its chance band.

    A curve is ``{"label", "levels", "<measure>": {"mean", "low", "high", "chance", "chance_low", "chance_high"}}``
    with one list entry per level (``low``/``high`` None for one seed: no interval)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5.2 * len(PANELS), 4.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, m in zip(axes[0], PANELS):
        for i, c in enumerate(curves):
            color = colors[i % len(colors)]
            x, v = c["levels"], c[m]
            ax.fill_between(x, v["chance_low"], v["chance_high"], color=color, alpha=0.07, lw=0)
            ax.plot(x, v["chance"], ls=":", color=color, lw=1)
            if all(lo is not None for lo in v["low"]):  # several seeds: the 95 % interval as error bars
                err = [[m - lo for m, lo in zip(v["mean"], v["low"])], [hi - m for m, hi in zip(v["mean"], v["high"])]]
                ax.errorbar(x, v["mean"], yerr=err, marker="o", ms=3, color=color, capsize=3, lw=1.5, label=c["label"])
            else:
                ax.plot(x, v["mean"], marker="o", ms=3, color=color, lw=1.5, label=c["label"])
        ax.set(xlabel="level (0: input rows; l: after block l)", ylabel=titles[m], title=titles[m])
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    found = dict(zip(*reversed(axes[0][0].get_legend_handles_labels())))  # label -> handle; error bars come last
    labels = [c["label"] for c in curves if c["label"] in found]
    handles = [found[label] for label in labels]
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False)
    fig.suptitle("solid: measured (bars: 95 % interval over seeds); dotted and pale band: chance, 95 % of relabellings",
                 fontsize=9)
    rows = -(-len(labels) // 5)
    fig.tight_layout(rect=(0, 0.04 + 0.05 * rows, 1, 1))
    return fig


def tsne_figure(x: np.ndarray, words, labels, title: str, seed: int = 0):
    """t-SNE (cosine, exact, fixed seed, perplexity below n / 3) of ``x`` [n, d], each point its word, coloured by group."""
    from sklearn.manifold import TSNE

    plt = _plt()
    n = len(words)
    perplexity = max(1.0, min(30.0, n / 4))
    xy = TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca", method="exact",
              random_state=seed).fit_transform(np.asarray(x, dtype=np.float64))
    groups = list(dict.fromkeys(labels))
    cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(8, 6.5))
    for k, g in enumerate(groups):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        ax.scatter(xy[idx, 0], xy[idx, 1], color=cmap(k % cmap.N), s=40, label=g)
    for i, w in enumerate(words):
        ax.annotate(w, (xy[i, 0], xy[i, 1]), xytext=(3, 2), textcoords="offset points", fontsize=8)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{title}\nt-SNE, cosine, perplexity {perplexity:g}, seed {seed}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig
