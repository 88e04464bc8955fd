"""Registers and spills of every Triton kernel variant the launchers choose at the paper's shapes.

Compiles each variant for sm_80 and sm_90 on this machine (no GPU needed; kernels/aot.py) and
reads its resource usage from the cubin with the cuobjdump bundled with Triton. Spilled
registers live in local memory, so "local" and "stack" must be 0.

    python benchmarks/kernel_resources.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# The kernels compile only when triton is imported without the interpreter.
os.environ.pop("TRITON_INTERPRET", None)
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TRITON_CACHE_DIR"] = str(Path(tmp) / "cache")  # compile everything, reuse nothing
        import triton

        from unicode_substrate.kernels import aot

        t0 = time.process_time()
        rows: dict[tuple, dict] = defaultdict(dict)
        n = 0
        for kernel in aot.KERNELS:
            for arch in aot.ARCHS:
                for r in aot.compile_report(kernel, arch, Path(tmp)):
                    shape = r["shape"].split(" ", 1)[1]
                    consts = " ".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in r["constexprs"].items()
                                      if k.isupper())
                    row = rows[(kernel, shape, consts, r["num_warps"])]
                    row[(arch, r["dtype"])] = r["reg"]
                    row["spill"] = max(row.get("spill", 0), r["local"] + r["stack"])
                    n += 1
        seconds = time.process_time() - t0
    dtypes = aot.DTYPES
    print(f"triton {triton.__version__}; {n} compilations ({len(rows)} rows below), "
          f"{seconds:.1f} s CPU in this process (ptxas and cuobjdump run as child processes)\n")
    head = " | ".join(f"sm_{a} {d}" for a in aot.ARCHS for d in dtypes)
    print(f"| kernel | first shape choosing it | constexprs | warps | registers: {head} | local+stack bytes |")
    print("|---|---|---|---:|" + "---:|" * (len(aot.ARCHS) * len(dtypes)) + "---:|")
    for (kernel, shape, consts, warps), row in rows.items():
        regs = " | ".join(str(row.get((a, d), "-")) for a in aot.ARCHS for d in dtypes)
        print(f"| {kernel} | {shape} | {consts} | {warps} | {regs} | {row['spill']} |")
    spilled = [k for k, row in rows.items() if row["spill"]]
    print(f"\n{len(spilled)} of {len(rows)} rows spill." if spilled else "\nNo variant spills.")
    sys.exit(1 if spilled else 0)


if __name__ == "__main__":
    main()
