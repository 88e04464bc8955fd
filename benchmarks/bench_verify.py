"""Cost of verifying every file of a table by default: load_table on a 65,536 x 1,024 table.

Prints the median CPU time (time.process_time, the machine is shared) of the default load,
of the parquet file's fast checksum alone (what verifying it by default adds), and of the
sha256 of the same file (the full check, ``verify="sha256"``), with ratios.

    .venv/bin/python benchmarks/bench_verify.py [--rows 65536] [--dim 1024] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from unicode_substrate.artifacts import fast_checksum_file, sha256_file
from unicode_substrate.table import PARQUET, load_table, write_table


def cpu(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=65536)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        w = np.random.default_rng(0).standard_normal((a.rows, a.dim)).astype(np.float32)
        out = write_table(Path(d) / "t", w, [f"t{i}" for i in range(a.rows)], {"method": "random", "tokenizer_manifest_sha256": "ab" * 32})
        parquet = out / PARQUET
        size = parquet.stat().st_size
        load = cpu(lambda: load_table(out), a.repeat)
        fast = cpu(lambda: fast_checksum_file(parquet), a.repeat)
        sha = cpu(lambda: sha256_file(parquet), a.repeat)
        print(f"table {a.rows} x {a.dim}, parquet {size / 2**20:.0f} MiB, median CPU of {a.repeat}")
        print(f"load_table (default, every file verified): {load * 1e3:8.1f} ms")
        print(f"  of which the parquet fast checksum:       {fast * 1e3:8.1f} ms ({fast / load:.0%} of the load)")
        print(f"sha256 of the parquet (verify='sha256'):    {sha * 1e3:8.1f} ms ({sha / fast:.1f}x the fast checksum)")


if __name__ == "__main__":
    main()
