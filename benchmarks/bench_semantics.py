"""Time of ``substrate semantics``' work on a 16-layer ``uni-glyph-335m``-shaped model with 100 words, on CPU.

The model is the preset's shape (d 1024, 16 layers, 32 heads, V 65,536, a frozen 1,024-wide
table) with random weights; the 100 words are synthetic (10 groups of 10, 4 to 9 letters), encoded
one character per token, so their lengths are those of real words. Three stages are timed, each
the median of ``--repeats`` in wall time:

* ``represent``: every level's vector of every word (forward passes with the block hooks), bare
  and inside two sentence templates;
* ``measure``: every measure with ``--permutations`` relabellings at each of the 17 levels;
* ``pictures``: the separability figure and three t-SNE maps (first, middle, last level).

    python benchmarks/bench_semantics.py
    python benchmarks/bench_semantics.py --permutations 200 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from unicode_substrate.model import GPT, get_preset
from unicode_substrate.semantics.groups import WordGroups
from unicode_substrate.semantics.measures import TITLES, measure_level, relabellings
from unicode_substrate.semantics.represent import model_source, represent


def words(n_groups: int = 10, per: int = 10, seed: int = 0) -> WordGroups:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    ws, labels = [], []
    for g in range(n_groups):
        for _ in range(per):
            w = "".join(rng.choice(letters, size=int(rng.integers(4, 10))))
            while w in ws:
                w += "s"
            ws.append(w)
            labels.append(f"g{g}")
    return WordGroups("en", tuple(ws), tuple(labels))


def char_encoder(vocab: int):
    def encode(text: str):
        return [ord(c) % vocab for c in text], [(i, i + 1) for i in range(len(text))]
    return encode


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg = get_preset("uni-glyph-335m")
    t0 = time.perf_counter()
    model = GPT(cfg, table=torch.randn(cfg.vocab_size, cfg.n_embed)).eval()
    build = time.perf_counter() - t0
    g = words()
    source = model_source(model, char_encoder(cfg.vocab_size), None, {"kind": "bench"})
    templated = WordGroups(g.lang, g.words, g.labels, ("The {word} is", "I saw a {word} there"))
    load = os.getloadavg()
    t_bare, reps = timed(lambda: represent(source, g), args.repeats)
    t_tpl, _ = timed(lambda: represent(source, templated), args.repeats)
    null = relabellings(len(g.words), args.permutations, 0)
    t_measure, _ = timed(lambda: [measure_level(x, g.labels, null) for x in reps.levels], args.repeats)

    def pictures():
        from unicode_substrate.semantics.pictures import separability_figure, tsne_figure
        import matplotlib.pyplot as plt

        n = len(reps.levels)
        flat = {"mean": [0.5] * n, "low": [None] * n, "high": [None] * n, "chance": [0.1] * n,
                "chance_low": [0.0] * n, "chance_high": [0.2] * n}
        plt.close(separability_figure([{"label": "m", "levels": list(range(n)), "knn": flat, "silhouette": flat,
                                        "gap": flat}], TITLES))
        for level in (0, n // 2, n - 1):
            plt.close(tsne_figure(reps.levels[level], g.words, g.labels, "bench"))

    t_pic, _ = timed(pictures, args.repeats)
    print(f"# semantics on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}; load average at start {' / '.join(f'{x:.2f}' for x in load)}, "
          f"at end {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"model: uni-glyph-335m shape, {cfg.n_layer} layers, d {cfg.d_model}, V {cfg.vocab_size:,}, random weights "
          f"(built in {build:.1f} s, not counted); {len(g.words)} words in {len(g.groups)} groups; median of {args.repeats}")
    print("| stage | seconds |\n|---|---:|")
    print(f"| represent, bare (17 levels) | {t_bare:.2f} |")
    print(f"| represent, 2 templates | {t_tpl:.2f} |")
    print(f"| measure, {args.permutations} relabellings x 17 levels | {t_measure:.2f} |")
    print(f"| pictures (separability + 3 t-SNE maps) | {t_pic:.2f} |")
    print(f"| total (bare) | {t_bare + t_measure + t_pic:.2f} |")


if __name__ == "__main__":
    main()
