"""``substrate prepare --recipe`` at corpus scale: MB/s and peak memory at three sizes, beside the plain pipeline.

The corpus is generated text: the built-in corpus's documents, each copy prefixed with its copy
number, written as JSONL until the size is reached. Both sides tokenize it with the same
``tokenizer.json`` (the lossless layout built from the built-in corpus):

* ours: ``substrate prepare --recipe`` over a one-source recipe (the whole pipeline: streaming
  read, encoding on every core, spooling, interleaving, validation split, manifest);
* plain: what a user would write with the Hugging Face ``tokenizers`` library: read the JSONL
  line by line, ``encode_batch`` 1,000 documents at a time, append the ids as a uint16 array.

Each side runs in its own process; the figures are its wall time and peak resident memory
(``os.wait4``). The plain side is slow (a few MB/s), so ``--plain-max-mb`` limits it to the
smaller sizes.

    python benchmarks/bench_prepare.py                       # 64, 256 and 1024 MB
    python benchmarks/bench_prepare.py --sizes 16,64 --plain-max-mb 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = r'''
import json, sys
import numpy as np
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as f, open(sys.argv[3], "wb") as out:
    batch = []
    for line in f:
        batch.append(json.loads(line)["text"])
        if len(batch) == 1000:
            out.write(np.asarray([i for e in tok.encode_batch(batch) for i in e.ids], dtype=np.uint16).tobytes())
            batch = []
    if batch:
        out.write(np.asarray([i for e in tok.encode_batch(batch) for i in e.ids], dtype=np.uint16).tobytes())
'''


def make_corpus(path: Path, mb: int) -> int:
    """Write about ``mb`` MB of JSONL text; returns its size in bytes."""
    from unicode_substrate.corpus import builtin_documents

    docs = builtin_documents()
    target, size, copy = mb * 1_000_000, 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while size < target:
            for d in docs:
                line = json.dumps({"text": f"copy {copy}. {d}"}, ensure_ascii=False) + "\n"
                f.write(line)
                size += len(line.encode("utf-8"))
                if size >= target:
                    break
            copy += 1
    return path.stat().st_size


def measure(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64,256,1024", help="Corpus sizes in MB (comma-separated).")
    ap.add_argument("--plain-max-mb", type=int, default=256, help="Run the plain pipeline only up to this size.")
    ap.add_argument("--scratch", default=None, help="Folder for the corpora and outputs (default: a temporary one).")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    py = sys.executable
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        root = Path(scratch)
        subprocess.run([py, "-m", "unicode_substrate.cli", "build-tokenizer", "--out", str(root / "tok")], check=True,
                       stdout=subprocess.DEVNULL)
        (root / "plain.py").write_text(PLAIN, encoding="utf-8")
        rows = []
        for mb in sizes:
            corpus = root / f"corpus-{mb}.jsonl"
            n_bytes = make_corpus(corpus, mb)
            recipe = root / f"recipe-{mb}.toml"
            recipe.write_text(f'[[source]]\nname = "generated"\npath = "{corpus.name}"\n', encoding="utf-8")
            wall, rss = measure([py, "-m", "unicode_substrate.cli", "prepare", "--recipe", str(recipe), "--tokenizer",
                                 str(root / "tok"), "--out", str(root / f"data-{mb}"), "--no-progress"])
            tokens = json.loads((root / f"data-{mb}" / "manifest.json").read_text())["splits"]
            row = {"mb": n_bytes / 1e6, "ours_s": wall, "ours_mbs": n_bytes / 1e6 / wall, "ours_rss": rss,
                   "tokens": tokens["train"]["tokens"] + tokens["val"]["tokens"]}
            if mb <= args.plain_max_mb:
                pw, prss = measure([py, str(root / "plain.py"), str(root / "tok" / "tokenizer.json"), str(corpus),
                                    str(root / f"plain-{mb}.bin")])
                row.update(plain_s=pw, plain_mbs=n_bytes / 1e6 / pw, plain_rss=prss)
                (root / f"plain-{mb}.bin").unlink()
            rows.append(row)
            corpus.unlink()
            for p in (root / f"data-{mb}").iterdir():
                p.unlink()
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| corpus MB | ours s | ours MB/s | ours peak RSS MiB | plain s | plain MB/s | plain peak RSS MiB | speed ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        plain = (f"{r['plain_s']:.1f} | {r['plain_mbs']:.2f} | {r['plain_rss']:.0f} | {r['ours_mbs'] / r['plain_mbs']:.1f}x"
                 if "plain_s" in r else "not run | | |")
        print(f"| {r['mb']:.0f} | {r['ours_s']:.1f} | {r['ours_mbs']:.2f} | {r['ours_rss']:.0f} | {plain} |")


if __name__ == "__main__":
    main()
