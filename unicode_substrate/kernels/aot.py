"""Ahead-of-time compilation of every kernel launch the dispatcher makes at the paper's shapes.

Triton compiles for a GPU target on a machine without one: the bundled ``ptxas`` turns the PTX
into a cubin, so a kernel that the interpreter accepts but the compiler rejects fails here, on
any CI machine. The launches come from the launchers' own pure functions
(``embed_lift_triton.forward_launch``/``backward_launch``, ``rope_triton.kernel_launch``) called on
meta tensors, and are specialised by Triton's own binder (argument types, 16-byte alignment,
integers divisible by 16 or equal to 1), so what compiles here is what a launch on a GPU would
compile.

The kernel modules must have been imported without ``TRITON_INTERPRET``: under the interpreter
``@triton.jit`` makes no compilable function. Run this module in such a process::

    python -m unicode_substrate.kernels.aot --arch 90     # compile and print registers/spills
"""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from unicode_substrate.errors import SubstrateError

# The papers' shapes: a 16 x 1024 training batch and a single-token decode step. (A prompt of
# 2 or 3 tokens would pick further block sizes; they are not enumerated.)
D_MODELS = (1024, 4096)
N_EMBEDS = (16, 64, 256, 1024, 4096)
HEAD_DIMS = (32, 64, 128)
DTYPES = ("fp32", "bf16", "fp16")
TOKEN_SHAPES = ((16, 1024), (1, 1))
ARCHS = (80, 90)  # A100, H100/H200
KERNELS = ("embed_lift_fwd", "embed_lift_bwd", "rope_fwd", "rope_bwd")
VOCAB = 65_536


@dataclass(frozen=True)
class Variant:
    """One distinct compilation: the kernel, Triton's signature/constexprs/attrs and the launch options."""

    name: str
    shape: str  # the first paper shape that chose it, for the report
    kernel: object
    signature: dict
    constexprs: dict
    attrs: dict
    options: dict

    @property
    def key(self) -> tuple:
        return (self.name, *(tuple(sorted(map(repr, d.items()))) for d in (self.signature, self.constexprs, self.attrs,
                                                                           self.options)))


def _modules():
    from unicode_substrate.kernels import embed_lift_triton as el
    from unicode_substrate.kernels import rope_triton as rp

    if el.INTERPRETED or rp.INTERPRETED:
        raise SubstrateError("ahead-of-time compilation needs triton imported without TRITON_INTERPRET=1")
    return el, rp


def paper_launches(kernel: str):
    """(shape label, Launch) for every launch ``kernel`` makes at the paper's shapes, on meta tensors."""
    import torch

    el, rp = _modules()
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    meta = dict(device="meta")
    for (B, T), d_model, name in product(TOKEN_SHAPES, D_MODELS, DTYPES):
        dtype, n = dt[name], B * T
        if kernel.startswith("embed_lift"):
            ids = torch.empty(n, dtype=torch.int64, **meta)  # the model's ids
            for n_embed in (e for e in N_EMBEDS if d_model % e == 0):
                label = f"{name} B={B} T={T} d_model={d_model} n_embed={n_embed}"
                weight = torch.empty(VOCAB, n_embed, dtype=dtype, **meta)
                if kernel == "embed_lift_fwd":
                    out = torch.empty(n, d_model, dtype=dtype, **meta)
                    yield label, el.forward_launch(ids, weight, out, 1.0)
                elif T > 1:  # the backward runs in training only
                    grad_out = torch.empty(n, d_model, dtype=dtype, **meta)
                    grad_w = torch.empty(VOCAB, n_embed, dtype=torch.float32, **meta)
                    yield label, el.backward_launch(ids, grad_out, grad_w, 1.0)
        else:
            backward = kernel == "rope_bwd"
            if backward and T == 1:
                continue
            for head_dim in HEAD_DIMS:
                H = d_model // head_dim
                label = f"{name} B={B} T={T} heads={H} head_dim={head_dim}"
                # Forward: q and k are strided views of the fused qkv projection; backward: their
                # gradients, contiguous. The rope cache stays fp32 under autocast (a buffer).
                qkv = torch.empty(B, T, 3, H, head_dim, dtype=dtype, **meta)
                q, k, _ = qkv.unbind(2)
                if backward:
                    q, k = (torch.empty(B, T, H, head_dim, dtype=dtype, **meta) for _ in range(2))
                cos = torch.empty(max(T, 1024), head_dim, dtype=torch.float32, **meta)
                out = [torch.empty(B, T, H, head_dim, dtype=dtype, **meta) for _ in range(2)]
                yield label, rp.kernel_launch(q, k, *out, cos, cos, backward)


def specialize(launch, arch: int) -> tuple[dict, dict, dict, dict]:
    """Triton's own (signature, constexprs, attrs, options) for this launch on sm_``arch``, as its runtime binds it."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import make_backend
    from triton.runtime.jit import create_function_from_signature

    fn = launch.kernel
    backend = make_backend(GPUTarget("cuda", arch, 32))
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    kwargs = dict(launch.kwargs, debug=False)
    bound, specialization, options = binder(*launch.args, **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound, specialization, options)
    keep = {"num_warps": options.num_warps, "num_stages": options.num_stages, "num_ctas": options.num_ctas}
    return signature, constexprs, attrs, keep


def variants(kernel: str, arch: int) -> list[Variant]:
    """The distinct compilations of ``kernel`` at the paper's shapes (identical specialisations once)."""
    seen: dict[tuple, Variant] = {}
    for label, launch in paper_launches(kernel):
        v = Variant(kernel, label, launch.kernel, *specialize(launch, arch))
        seen.setdefault(v.key, v)
    return list(seen.values())


def compile_variant(v: Variant, arch: int):
    """Compile to PTX and cubin for sm_``arch``; raises on a compile error."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, compile

    src = ASTSource(fn=v.kernel, signature=v.signature, constexprs=v.constexprs, attrs=v.attrs)
    return compile(src, target=GPUTarget("cuda", arch, 32), options=v.options)


def resource_usage(cubin: bytes, workdir: Path) -> dict:
    """Registers per thread and the stack and local memory (where spilled registers go) in bytes, from
    the ``cuobjdump --dump-resource-usage`` bundled with Triton."""
    import triton

    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    path = workdir / "kernel.cubin"
    path.write_bytes(cubin)
    out = subprocess.run([str(tool), "--dump-resource-usage", str(path)], capture_output=True, text=True, check=True).stdout
    found = {key: re.search(rf"\b{key}:(\d+)", out) for key in ("REG", "STACK", "LOCAL")}
    if not all(found.values()):
        raise SubstrateError(f"cuobjdump printed no resource usage: {out.strip()[:200]}")
    return {key.lower(): int(m.group(1)) for key, m in found.items()}


def compile_report(kernel: str, arch: int, workdir: Path) -> list[dict]:
    """Compile every variant of ``kernel`` for sm_``arch``: one record each with its constexprs and resources."""
    records = []
    for v in variants(kernel, arch):
        compiled = compile_variant(v, arch)
        if not compiled.asm.get("cubin"):
            raise SubstrateError(f"{v.name} ({v.shape}) compiled to no cubin for sm_{arch}")
        names = v.kernel.arg_names
        records.append({
            "kernel": v.name, "arch": arch, "shape": v.shape, "dtype": v.shape.split()[0],
            "constexprs": {names[path[0]]: value for path, value in v.constexprs.items()},
            "num_warps": v.options["num_warps"], **resource_usage(compiled.asm["cubin"], workdir),
        })
    return records


def main() -> None:
    import json
    import os
    import sys
    import tempfile

    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9's default, without its warning
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=int, action="append", help="sm_ version (repeatable); default 80 and 90")
    ap.add_argument("--kernel", action="append", choices=KERNELS, help="default: all")
    args = ap.parse_args()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for arch in args.arch or ARCHS:
                for kernel in args.kernel or KERNELS:
                    for record in compile_report(kernel, arch, Path(tmp)):
                        print(json.dumps(record), flush=True)
    except SubstrateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
