"""Input-stage benchmark: eager reference, torch.compile of the reference, and the Triton kernels.

On a CUDA GPU: the paper's shapes (T 1024, d_model 1024, 32 heads, n_embed 64 and 1024, B 8-32,
V 65,536 and with --vocab also 131,072),
forward / backward / both, p50 with p20-p80 from triton.testing.do_bench, achieved GB/s and the
fraction of the GPU's memory bandwidth, peak memory per path, and the end-to-end training
tokens/s of uni-glyph-335m and bit-64 with and without the kernels.

Without a GPU it says so, times eager vs compiled reference on small CPU shapes (the same code
path with a wall-clock timer) and checks the kernels against the reference under Triton's
interpreter; interpreter run times are not performance figures and are not printed as such.

    python benchmarks/bench_kernels.py [--batch 8 16 32] [--vocab 65536 131072] [--no-e2e] [--no-compile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

HAS_CUDA = torch.cuda.is_available()
if not HAS_CUDA:
    # Must precede the first triton import; the kernels then run (slowly) on CPU for the check.
    os.environ.setdefault("TRITON_INTERPRET", "1")
    # Compile in-process: background compile workers would compete with the timed code on a small machine.
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

from unicode_substrate.kernels import apply_rope, embed_lift, rope_cache, triton_status  # noqa: E402
from unicode_substrate.kernels.reference import apply_rope_reference, embed_lift_reference  # noqa: E402

# Peak DRAM bandwidth in bytes/s by device-name fragment, most specific first (vendor data sheets).
BANDWIDTH = [
    ("H200", 4.8e12), ("H100 NVL", 3.9e12), ("H100 PCIe", 2.0e12), ("H100", 3.35e12),
    ("A100-SXM4-80GB", 2.039e12), ("A100 80GB PCIe", 1.935e12), ("A100", 1.555e12),
    ("L40S", 0.864e12), ("L4", 0.3e12), ("A10G", 0.6e12), ("RTX 4090", 1.008e12),
]
QUANTILES = (0.5, 0.2, 0.8)


def gpu_bandwidth(name: str) -> float | None:
    """The data-sheet memory bandwidth for a GPU name, or None when unknown."""
    return next((bw for frag, bw in BANDWIDTH if frag in name), None)


def time_cpu(fn, min_time: float = 0.5) -> tuple[float, float, float]:
    """(p50, p20, p80) milliseconds of ``fn`` by wall clock, after warm-up."""
    for _ in range(3):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(samples) < 10:
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(samples, n=10)
    return statistics.median(samples), q[1], q[7]


def time_gpu(fn) -> tuple[float, float, float]:
    """(p50, p20, p80) milliseconds of ``fn`` from triton.testing.do_bench (CUDA events, L2 flushed)."""
    import triton.testing

    return tuple(triton.testing.do_bench(fn, quantiles=list(QUANTILES)))


def peak_mib(fn) -> float | None:
    """Peak CUDA memory allocated above the current level while ``fn`` runs; None on CPU."""
    if not HAS_CUDA:
        return None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def impls(compile_ref: bool, with_triton: bool):
    """name -> (embed_lift fn, apply_rope fn) for each path under test."""
    out = {"eager": (embed_lift_reference, apply_rope_reference)}
    if compile_ref:
        out["compile"] = (torch.compile(embed_lift_reference), torch.compile(apply_rope_reference))
    if with_triton:
        out["triton"] = (
            lambda ids, w, d, s: embed_lift(ids, w, d, s, backend="triton"),
            lambda q, k, c, s: apply_rope(q, k, c, s, backend="triton"),
        )
    return out


def make_inputs(B, T, d_model, n_head, n_embed, trainable, device, dtype, V=65536):
    """ids, table, the qkv projection output (q/k are its views), cos, sin and gradients."""
    g = torch.Generator(device="cpu").manual_seed(0)
    ids = torch.randint(0, V, (B, T), generator=g).to(device)
    table = torch.randn(V, n_embed, generator=g).to(device).requires_grad_(trainable)
    D = d_model // n_head
    qkv = torch.randn(B, T, 3, n_head, D, generator=g).to(device, dtype).requires_grad_(True)
    cos, sin = rope_cache(T, D, device=device)
    g_embed = torch.randn(B, T, d_model, device=device)
    g_rope = [torch.randn(B, T, n_head, D, device=device, dtype=dtype) for _ in range(2)]
    return ids, table, qkv, cos, sin, g_embed, g_rope


def stage_bytes(B, T, d_model, n_head, n_embed, elt_qk):
    """Minimum DRAM traffic: embed forward (ids, table rows, output) and RoPE per direction."""
    embed = B * T * 8 + B * T * n_embed * 4 + B * T * d_model * 4
    rope = 4 * B * T * d_model * elt_qk  # read q and k, write two outputs
    return embed, rope


def bench_shape(B, T, d_model, n_head, n_embed, paths, timer, device, dtype, bandwidth, V=65536, rope=True):
    """Rows of (stage, direction, path, p50, p20, p80, GB/s, fraction, peak MiB) for one shape.

    ``rope=False`` leaves out the RoPE rows, which do not depend on the vocabulary."""
    cases = []  # (stage, direction, path, fn, bytes)
    embed_bytes, rope_bytes = stage_bytes(B, T, d_model, n_head, n_embed, torch.finfo(dtype).bits // 8)
    frozen = make_inputs(B, T, d_model, n_head, n_embed, False, device, dtype, V)
    for name, (emb, rope_fn) in paths.items():
        cases += _embed_cases(name, emb, frozen, d_model, embed_bytes, trainable=False)
        if rope:
            cases += _rope_cases(name, emb, rope_fn, frozen, d_model, embed_bytes, rope_bytes)
    if n_embed == d_model:  # the trainable baseline: a d_model-wide learned table
        trainable = make_inputs(B, T, d_model, n_head, n_embed, True, device, dtype, V)
        for name, (emb, _) in paths.items():
            cases += _embed_cases(name, emb, trainable, d_model, embed_bytes, trainable=True)
    # Run everything once before timing: torch.compile's first calls compile in background
    # workers that would otherwise steal the CPU (and the GIL) from whatever is being timed.
    for case in cases:
        case[3]()
    rows = []
    for stage, direction, name, fn, nbytes in cases:
        p50, p20, p80 = timer(fn)
        frac = (nbytes / (p50 * 1e-3)) / bandwidth if bandwidth else None
        rows.append((stage, direction, name, p50, p20, p80, nbytes / p50 / 1e6, frac, peak_mib(fn)))
    return rows


def _embed_cases(name, emb, inputs, d_model, nbytes, trainable):
    ids, table, _, _, _, g_embed, _ = inputs
    label = "embed (trainable)" if trainable else "embed (frozen)"

    def fwd():
        return emb(ids, table, d_model, 1.0)

    def both():
        fwd().backward(g_embed)
        table.grad = None

    out = [(label, "fwd", name, fwd, nbytes)]
    if trainable:  # a frozen table has no backward at all
        out.append((label, "fwd+bwd", name, both, 2 * nbytes))
    return out


def _rope_cases(name, emb, rope, inputs, d_model, embed_bytes, rope_bytes):
    ids, table, qkv, cos, sin, _, g_rope = inputs
    held = {}

    def fwd():
        q, k, _ = qkv.unbind(dim=2)
        return rope(q, k, cos, sin)

    def bwd():
        if name not in held:  # one forward graph, replayed with retain_graph
            held[name] = fwd()
        torch.autograd.backward(held[name], g_rope, retain_graph=True)
        qkv.grad = None

    def both():
        torch.autograd.backward(fwd(), g_rope)
        qkv.grad = None

    def stage():  # the frozen input stage of one step: gather + lift, then RoPE of one layer
        emb(ids, table, d_model, 1.0)
        both()

    return [("rope q,k", "fwd", name, fwd, rope_bytes), ("rope q,k", "bwd", name, bwd, rope_bytes),
            ("rope q,k", "fwd+bwd", name, both, 2 * rope_bytes),
            ("embed+rope", "fwd+bwd", name, stage, embed_bytes + 2 * rope_bytes)]


def print_rows(rows, header):
    print(f"\n{header}")
    print("| stage | dir | path | p50 ms | p20 ms | p80 ms | GB/s | % peak BW | peak MiB | vs compile |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    compile_ms = {(r[0], r[1]): r[3] for r in rows if r[2] == "compile"}
    order = {key: i for i, key in enumerate(dict.fromkeys((r[0], r[1]) for r in rows))}
    for stage, direction, path, p50, p20, p80, gbs, frac, mib in sorted(rows, key=lambda r: order[(r[0], r[1])]):
        ref = compile_ms.get((stage, direction))
        speed = f"{ref / p50:.2f}x" if ref else "-"
        frac_s = f"{100 * frac:.0f}%" if frac is not None else "-"
        mib_s = f"{mib:.0f}" if mib is not None else "-"
        print(f"| {stage} | {direction} | {path} | {p50:.3f} | {p20:.3f} | {p80:.3f} | {gbs:.0f} | {frac_s} | {mib_s} | {speed} |")


def print_saved(B, T, d_model, n_embed):
    """What eager PyTorch allocates for the frozen gather + lift besides its output, which the kernel does not."""
    gather = B * T * n_embed * 4 / 2**20
    lifted = B * T * d_model * 4 / 2**20
    extra = f"a [B, T, {n_embed}] gather ({gather:.1f} MiB) before the lift, and " if d_model != n_embed else ""
    print(f"Memory: at B={B} T={T} eager allocates {extra}with scale != 1 an unscaled [B, T, {d_model}] copy "
          f"({lifted:.1f} MiB); the kernel allocates only its output.")


def e2e_tokens_per_s(preset: str, backend: str, B: int = 8, steps: int = 10) -> float:
    """Training tokens/s of a preset (random table, bf16 autocast, AdamW) on one backend."""
    from unicode_substrate.model.config import get_preset
    from unicode_substrate.model.gpt import GPT

    cfg = get_preset(preset)
    table = torch.nn.functional.normalize(torch.randn(cfg.vocab_size, cfg.n_embed), dim=-1) if cfg.embedding == "frozen" else None
    model = GPT(cfg, table, backend=backend).cuda()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)
    x = torch.randint(0, cfg.vocab_size, (B, cfg.context + 1), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, loss = model(x[:, :-1], x[:, 1:].contiguous())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    del model, opt
    torch.cuda.empty_cache()
    return steps * B * cfg.context / (time.perf_counter() - t0)


def interpreter_check() -> None:
    """Kernel vs reference on CPU under the interpreter, forward and backward, at the test tolerance."""
    from unicode_substrate.kernels import embed_lift_triton

    if not embed_lift_triton.INTERPRETED:
        print("\nInterpreter check skipped: triton was imported without TRITON_INTERPRET=1.")
        return
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from conftest import tolerance  # the project's one tolerance table

    B, T, d_model, n_head, n_embed = 2, 256, 256, 8, 64
    print(f"\nInterpreter check (B={B} T={T} d_model={d_model} heads={n_head} n_embed={n_embed}, fp32; "
          "max |kernel - reference|):")
    for trainable, k_embed in ((False, n_embed), (True, d_model)):
        ids, table, qkv, cos, sin, g_embed, g_rope = make_inputs(B, T, d_model, n_head, k_embed, trainable, "cpu", torch.float32)
        results = []
        for backend in ("triton", "torch"):
            out = embed_lift(ids, table, d_model, 0.5, backend=backend)
            if trainable:
                out.backward(g_embed)
            results.append((out.detach(), table.grad))
            table.grad = None
        err = (results[0][0] - results[1][0]).abs().max().item()
        line = f"  embed {'trainable' if trainable else 'frozen'}: forward {err:.2e}"
        torch.testing.assert_close(results[0][0], results[1][0], **tolerance(torch.float32))
        if trainable:
            torch.testing.assert_close(results[0][1], results[1][1], **tolerance(torch.float32))
            line += f", table gradient {(results[0][1] - results[1][1]).abs().max().item():.2e}"
        print(line)
    results = []
    for backend in ("triton", "torch"):
        q, k, _ = qkv.unbind(dim=2)
        outs = apply_rope(q, k, cos, sin, backend=backend)
        torch.autograd.backward(outs, g_rope)
        results.append((*[o.detach() for o in outs], qkv.grad))
        qkv.grad = None
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **tolerance(torch.float32))
    errs = [(a - b).abs().max().item() for a, b in zip(*results)]
    print(f"  rope: q {errs[0]:.2e}, k {errs[1]:.2e}, gradient {errs[2]:.2e}  -> all within the fp32 tolerance")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=None)
    ap.add_argument("--vocab", type=int, nargs="+", default=[65536], help="table rows V (GPU; the paper: 65536 131072)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile of the reference")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end training tokens/s")
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}; {triton_status()}")
    if HAS_CUDA:
        name = torch.cuda.get_device_name()
        bw = gpu_bandwidth(name)
        print(f"GPU: {name}; peak memory bandwidth {bw / 1e12:.2f} TB/s" if bw else f"GPU: {name}; bandwidth unknown")
        paths = impls(not args.no_compile, with_triton=True)
        for B in args.batch or (8, 32):
            for i, V in enumerate(args.vocab):
                for n_embed in (64, 1024):
                    rows = bench_shape(B, 1024, 1024, 32, n_embed, paths, time_gpu, "cuda", torch.bfloat16, bw, V,
                                       rope=i == 0)
                    print_rows(rows, f"B={B} T=1024 d_model=1024 heads=32 head_dim=32 V={V:,} n_embed={n_embed}, "
                               "q/k bf16" + ("" if i == 0 else " (RoPE rows as above: they do not depend on V)"))
                    print_saved(B, 1024, 1024, n_embed)
                    sys.stdout.flush()
        if not args.no_e2e:
            print("\n| model | backend | train tokens/s (B=8, T=1024, bf16 autocast) |\n|---|---|---:|")
            for preset in ("uni-glyph-335m", "bit-64"):
                for backend in ("torch", "triton"):
                    print(f"| {preset} | {backend} | {e2e_tokens_per_s(preset, backend):,.0f} |")
        return 0
    print("No CUDA device: GPU figures are not available from this run. CPU figures below; the Triton")
    print("kernels are only checked for correctness here (interpreter), never timed.")
    # One thread: at these sizes OpenMP barely helps, and on a shared machine its barriers stall
    # for whole scheduler slices, which would make the quantiles measure the neighbours.
    torch.set_num_threads(1)
    print(f"CPU: {os.cpu_count()} cores, timing with 1 thread; load average {os.getloadavg()[0]:.1f} at start")
    paths = impls(not args.no_compile, with_triton=False)
    for B in args.batch or (2,):
        rows = bench_shape(B, 256, 256, 8, 64, paths, time_cpu, "cpu", torch.float32, None)
        print_rows(rows, f"CPU, B={B} T=256 d_model=256 heads=8 head_dim=32 n_embed=64, fp32 (GB/s = minimum traffic / time)")
        print_saved(B, 256, 256, 64)
    interpreter_check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
