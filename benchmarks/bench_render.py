"""glyph-paper table: the recipe as in the paper's notebook vs ours, side by side; load_table timing.

    python benchmarks/bench_render.py                      # full 65,536-token bvv241-2-3 vocabulary
    python benchmarks/bench_render.py --naive-subset 8192  # naive render timed on a subset, extrapolated (labelled)
    python benchmarks/bench_render.py --cpu-profile        # CPU seconds of each stage of ours on one core

Naive = ``paper.render_bits_naive`` (Pillow per token, per-pixel Python loops for threshold and
bit read-out) + ``sklearn PCA(1024)`` with its default solver + ``normalize`` + ``torch.save``.
Ours = ``paper.render_bits_fast`` (2 processes) + PCA (covariance_eigh) + in-place L2 + the
collision check and the verified table writer (safetensors + parquet + manifest with sha256 of
every file), which run side by side as in ``render_table``; then ``render_table`` itself, end
to end (tokenizer, fonts, coverage included). Ours runs ``--repeats`` times (the machine may be
shared): the median and the best are printed. Both render the same tokens with the same font;
the bits are checked equal.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("SUBSTRATE_REFERENCE_DIR", REPO.parent / "shared" / "reference" / "bvv241"))


def clock(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def cpu_profile(tokens: list[str], font: str, tmp: Path, repeats: int = 2) -> None:
    """CPU seconds of each stage of ours on one core (one render process, one BLAS thread), best of ``repeats``.

    CPU time on one core moves far less than wall time when others share the machine; the sum is
    what two cores must share, so half of it bounds the end-to-end time from below.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    from unicode_substrate.artifacts import sha256_file
    from unicode_substrate.render import paper
    from unicode_substrate.render.collisions import exact_groups, find_collisions
    from unicode_substrate.render.pca import pca_l2
    from unicode_substrate.table import write_table

    p = paper.PAPER_PRESETS["2-3"]

    def cpu(name, fn, top=True):
        best = min(_cpu_seconds(fn) for _ in range(repeats))
        print(f"{'' if top else '  '}{name:<36}{best:>7.2f}")
        return best

    with threadpool_limits(1):
        bits = paper.render_bits_fast(tokens, font, p, workers=1)
        x = np.asarray(bits, dtype=np.float32)
        gram = x.T @ x
        comps = np.ascontiguousarray(np.linalg.eigh(gram)[1][:, ::-1].T)
        w = pca_l2(bits, p.dim)
        print(f"{'stage (one core)':<36}{'CPU s':>7}")
        total = cpu("render (one process)", lambda: paper.render_bits_fast(tokens, font, p, workers=1))
        cpu("uint8 -> float32", lambda: np.asarray(bits, dtype=np.float32), top=False)
        cpu("Gram X^T X", lambda: x.T @ x, top=False)
        cpu("eigh 1024 x 1024", lambda: np.linalg.eigh(gram), top=False)
        cpu("X @ components^T", lambda: x @ comps.T, top=False)
        total += cpu("PCA + L2", lambda: pca_l2(bits, p.dim))
        total += cpu("identical pictures (exact_groups)", lambda: exact_groups(bits))
        total += cpu("collision check", lambda: find_collisions(w))
        total += cpu("write (no check)", lambda: write_table(tmp / "cpu", w, tokens, {"method": "glyph-paper"}, force=True))
        vec = pa.table({"vector": pa.FixedSizeListArray.from_arrays(pa.array(w.reshape(-1)), p.dim)})
        cpu("Parquet vector column", lambda: pq.write_table(vec, tmp / "v.parquet", compression="none", use_dictionary=False,
                                                              write_statistics=False), top=False)
        cpu("sha256 of both data files", lambda: [sha256_file(tmp / "cpu" / n) for n in ("embeddings.safetensors", "embeddings.parquet")],
            top=False)
    print(f"{'sum (half of it: the floor on 2 cores)':<36}{total:>7.2f}")


def _cpu_seconds(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--naive-subset", type=int, default=0, help="time the naive render on this many tokens and extrapolate (0 = all)")
    ap.add_argument("--font", default="/usr/share/fonts/opentype/unifont/unifont.otf")
    ap.add_argument("--repeats", type=int, default=3, help="runs of ours (median and best are printed)")
    ap.add_argument("--load-repeats", type=int, default=7)
    ap.add_argument("--cpu-profile", action="store_true", help="only print the CPU seconds of each stage of ours on one core")
    args = ap.parse_args()

    import torch
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import normalize

    from unicode_substrate.render import paper, render_table, tokenizer_tokens
    from unicode_substrate.render.pca import pca_l2
    from unicode_substrate.render.collisions import find_collisions
    from unicode_substrate.render.fonts import library_versions
    from unicode_substrate.table import load_table, write_table
    from unicode_substrate.tokenizer import build_tokenizer

    tmp = Path(tempfile.mkdtemp(prefix="bench_render_"))
    if (REFERENCE / "n-gramms-2-3.txt").is_file():
        tok = build_tokenizer(tmp / "tok", layout="bvv241-2-3", ngrams=REFERENCE / "n-gramms-2-3.txt")
        vocab_name = "bvv241-2-3"
    else:
        tok = build_tokenizer(tmp / "tok")
        vocab_name = "lossless (reference n-gram files absent)"
    tokens, _, _ = tokenizer_tokens(tok)
    p = paper.PAPER_PRESETS["2-3"]
    v = len(tokens)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}")
    print(f"versions: {library_versions()}, torch {torch.__version__}")
    print(f"vocabulary: {vocab_name}, {v} tokens; font {args.font}; preset {p.name}")
    if args.cpu_profile:
        cpu_profile(tokens, args.font, tmp)
        return

    # ---------------------------------------------------------------- ours
    fields = {"method": "glyph-paper", "tokenizer_manifest_sha256": "bench"}
    runs = []
    for i in range(args.repeats):
        bits, t_render = clock(paper.render_bits_fast, tokens, args.font, p)
        w, t_pca = clock(pca_l2, bits, p.dim)
        _, t_write = clock(write_table, tmp / f"ours{i}", w, tokens, fields, later=lambda: {"collisions": find_collisions(w).summary(tokens)})
        _, t_table = clock(render_table, tok, tmp / f"table{i}", method="glyph-paper", fonts=[args.font])
        runs.append({"render": t_render, "PCA + L2": t_pca, "write": t_write, "total": t_render + t_pca + t_write, "render_table": t_table})
    ours = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    best = {k: min(r[k] for r in runs) for k in runs[0]}

    # ---------------------------------------------------------------- naive (as in the notebook)
    n = args.naive_subset or v
    pick = np.linspace(0, v - 1, n).astype(int) if n < v else np.arange(v)
    nbits, t = clock(paper.render_bits_naive, [tokens[i] for i in pick], args.font, p)
    same = bool(np.array_equal(nbits, bits[pick]))
    t_naive_render = t * v / n
    label = "" if n == v else f" (timed on {n} evenly spaced tokens, extrapolated x{v / n:.1f})"

    def naive_pca(x):
        return normalize(PCA(n_components=p.dim).fit_transform(x.astype(np.float32)), norm="l2", axis=1).astype(np.float32)

    nw, t_naive_pca = clock(naive_pca, bits)
    _, t_naive_write = clock(torch.save, torch.from_numpy(nw), tmp / "normalized_embeddings_weights.pt")
    naive = {"render": t_naive_render, "PCA + L2": t_naive_pca, "write": t_naive_write}
    cos = float((nw * w).sum(axis=1).min())

    print()
    print(f"ours: median of {args.repeats} runs (best in brackets); write = collision check + files, side by side")
    print(f"{'stage':<12}{'naive s':>10}{'ours s':>10}{'(best)':>8}{'ratio':>9}")
    for k in naive:
        print(f"{k:<12}{naive[k]:>10.2f}{ours[k]:>10.2f}{best[k]:>8.2f}{naive[k] / ours[k]:>8.1f}x")
    tn = sum(naive.values())
    print(f"{'end to end':<12}{tn:>10.2f}{ours['total']:>10.2f}{best['total']:>8.2f}{tn / ours['total']:>8.1f}x  (ours with the check)")
    print(f"render_table glyph-paper end to end: median {ours['render_table']:.2f} s (best {best['render_table']:.2f}) -> {tn / ours['render_table']:.1f}x")
    print(f"naive render{label}")
    print(f"bits identical naive vs fast on {n} tokens: {same}; min row cosine naive-PCA vs ours: {cos:.6f}")

    # ---------------------------------------------------------------- load_table
    fast_t, full_t = [], []
    for _ in range(args.load_repeats):
        fast_t.append(clock(load_table, tmp / "ours0")[1])
    for _ in range(max(2, args.load_repeats // 3)):
        full_t.append(clock(load_table, tmp / "ours0", verify="sha256")[1])
    print(f"load_table {v} x {p.dim}: verify=fast median {statistics.median(fast_t) * 1e3:.1f} ms "
          f"(min {min(fast_t) * 1e3:.1f}); verify=sha256 median {statistics.median(full_t) * 1e3:.0f} ms")
    if not same:
        sys.exit("naive and fast bits differ")


if __name__ == "__main__":
    main()
