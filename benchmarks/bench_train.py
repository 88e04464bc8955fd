"""Training throughput and optimizer-state memory, frozen table vs trainable embedding.

CPU: tokens/s of the tiny presets (fp32), the optimizer state AdamW actually holds after a
step for the paper-size presets (uni-glyph-335m vs unfrozen-335m), and the peak memory of one
training step with the chunked loss against the full-logit loss (each in a fresh process, peak
RSS). CUDA, when present: tokens/s and model-FLOPs utilisation of uni-glyph-335m in bf16
autocast, and the peak memory of both losses.

    python benchmarks/bench_train.py                 # everything this machine can run
    python benchmarks/bench_train.py --skip-paper    # tiny presets only (no 5 GiB allocations)
    python benchmarks/bench_train.py --only-loss --loss-layers 4   # the loss memory comparison only
    python benchmarks/bench_train.py --peer          # against transformers' GPTNeoXForCausalLM, 1 thread
    python benchmarks/bench_train.py --gpu-check     # CUDA: benchmarks/gpu.sh's rows (ours, the NeoX twin, MFU)
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

from unicode_substrate.model import GPT, get_preset
from unicode_substrate.train.trainer import optimizer_state_bytes, param_groups

# Dense bf16 tensor-core peaks (FLOP/s) by device-name fragment, from the vendors' data sheets.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12}


def build(preset: str, device: str, **overrides) -> GPT:
    cfg = get_preset(preset, **overrides)
    table = None
    if cfg.embedding == "frozen":  # a random unit-norm table costs the same as a rendered one
        table = torch.nn.functional.normalize(torch.randn(cfg.vocab_size, cfg.n_embed), dim=-1)
    return GPT(cfg, table).to(device)


def time_steps(model: GPT, B: int, T: int, steps: int, warmup: int, device: str, bf16: bool, compile_: bool = False):
    """Seconds per optimizer step (list) and the optimizer, for random batches."""
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, fused=True)  # as the trainer does
    fwd = torch.compile(model) if compile_ else model
    x = torch.randint(0, model.cfg.vocab_size, (B, T + 1), device=device)
    inp, tgt = x[:, :-1].contiguous(), x[:, 1:].contiguous()
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            _, loss = fwd(inp, tgt)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times, opt


def flops_per_token(model: GPT, T: int) -> float:
    """Training FLOPs per token: 6 x matmul parameters (blocks + head) + 12 L T d for attention scores."""
    c = model.cfg
    matmul = 12 * c.n_layer * c.d_model**2 + c.vocab_size * c.d_model
    return 6 * matmul + 12 * c.n_layer * T * c.d_model


def cpu_tiny(steps: int, B: int) -> None:
    print(f"## CPU tokens/s, tiny presets (fp32, B={B}, T=128, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()})\n")
    print("| preset | parameters | trainable | optimizer state | s/step p20 / p50 / p80 | tokens/s (p50) |")
    print("|---|---:|---:|---:|---|---:|")
    for preset in ("tiny-glyph", "tiny-unfrozen"):
        torch.manual_seed(0)
        model = build(preset, "cpu")
        T = model.cfg.context
        times, opt = time_steps(model, B, T, steps, 2, "cpu", bf16=False)
        q = statistics.quantiles(times, n=10)
        p50 = statistics.median(times)
        print(f"| {preset} | {model.num_parameters():,} | {model.num_parameters(True):,} | "
              f"{optimizer_state_bytes(opt) / 2**20:,.1f} MiB | {q[1]:.3f} / {p50:.3f} / {q[7]:.3f} | {B * T / p50:,.0f} |")
    print()


def paper_memory() -> None:
    print("## Optimizer state after one AdamW step, paper-size presets (measured on CPU, B=1, T=16)\n")
    print("| preset | parameters | trainable | optimizer state | gradients |")
    print("|---|---:|---:|---:|---:|")
    for preset in ("uni-glyph-335m", "unfrozen-335m"):
        torch.manual_seed(0)
        model = build(preset, "cpu")
        _, opt = time_steps(model, 1, 16, 1, 0, "cpu", bf16=False)
        # Gradients are freed by zero_grad(set_to_none); what they take during a step is one per trainable value.
        grads = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
        print(f"| {preset} | {model.num_parameters():,} | {model.num_parameters(True):,} | "
              f"{optimizer_state_bytes(opt) / 2**20:,.1f} MiB | {grads / 2**20:,.1f} MiB |")
        del model, opt
    print()


def gpu_paper(steps: int, B: int, compile_: bool, backend: str = "auto",
              presets: tuple[str, ...] = ("uni-glyph-335m", "unfrozen-335m")) -> None:
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    print(f"## {name}: bf16 autocast, B={B}, T=1024, kernels={backend}, compile={compile_}\n")
    print("| preset | s/step p20 / p50 / p80 | tokens/s (p50) | TFLOP/s | MFU |")
    print("|---|---|---:|---:|---:|")
    for preset in presets:
        torch.manual_seed(0)
        model = build(preset, "cuda")
        model.set_backend(backend)
        T = model.cfg.context
        times, _ = time_steps(model, B, T, steps, 3, "cuda", bf16=True, compile_=compile_)
        q = statistics.quantiles(times, n=10)
        p50 = statistics.median(times)
        tps = B * T / p50
        flops = tps * flops_per_token(model, T)
        mfu = f"{flops / peak:.1%}" if peak else "unknown peak"
        print(f"| {preset} | {q[1]:.3f} / {p50:.3f} / {q[7]:.3f} | {tps:,.0f} | {flops / 1e12:,.1f} | {mfu} |")
        del model
        torch.cuda.empty_cache()
    print()


def matmul_peak(n: int = 8192, repeats: int = 10, device: str = "cuda") -> float:
    """This device's bf16 rate (FLOP/s): mean of ``repeats`` n x n x n products on random data, after 3 warm-ups."""
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def gpu_check(steps: int, B: int, compile_: bool = True, preset: str = "uni-glyph-335m", device: str = "cuda",
              matmul_n: int = 8192) -> None:
    """benchmarks/gpu.sh's training figures: uni-glyph-335m (all 16 layers) in bf16 autocast, ours with the
    kernels and with the reference input stage, transformers' GPT-NeoX on the same weights, then ours
    compiled; tokens/s, MFU against the bf16 rate measured here and against the data sheet, peak memory."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the twin's "Loading weights" bar would land in the RESULTS section
    cuda = device == "cuda"
    name = torch.cuda.get_device_name() if cuda else f"CPU ({platform.machine()})"
    sheet = next((v for k, v in PEAK_BF16.items() if k in name), None)
    measured = matmul_peak(matmul_n, device=device)
    torch.manual_seed(0)
    base = build(preset, "cpu")
    T = base.cfg.context
    print(f"## {name}: training step of {preset} ({base.cfg.n_layer} layers), bf16 autocast, B={B}, T={T}, "
          f"AdamW fused; {steps} timed steps after 3 warm-up\n")
    print(f"bf16 peak: {measured / 1e12:,.1f} TFLOP/s measured here ({matmul_n}^3 matmul, random data); "
          f"data sheet {f'{sheet / 1e12:,.0f} TFLOP/s (dense)' if sheet else 'unknown for this GPU'}\n")
    print("| model | s/step p20 / p50 / p80 | tokens/s (p50) | TFLOP/s | MFU (measured peak) | MFU (data sheet) | "
          "peak memory | first loss |")
    print("|---|---|---:|---:|---:|---:|---:|---:|", flush=True)
    x = torch.randint(0, base.cfg.vocab_size, (B, T + 1), generator=torch.Generator().manual_seed(1))
    inp, tgt = x[:, :-1].contiguous().to(device), x[:, 1:].contiguous().to(device)
    fpt = flops_per_token(base, T)
    rows = [("ours, Triton kernels", "triton", False), ("ours, PyTorch input stage", "torch", False),
            ("transformers GPT-NeoX, same weights", None, False)]
    if compile_:
        rows.append(("ours, Triton kernels, torch.compile", "triton", True))
    for label, backend, compiled in rows:
        try:  # one chance on a lent GPU: a row that breaks is reported and the next one still runs
            print(_check_row(label, base, backend, compiled, inp, tgt, steps, device, fpt, measured, sheet), flush=True)
        except Exception as exc:  # noqa: BLE001
            print(f"| {label} | error: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]} | | | | | | |", flush=True)
        if cuda:
            torch.cuda.empty_cache()
    print("\nMFU = 6 x (12 L d^2 + V d) + 12 L T d FLOPs per token (the frozen table's lift and the attention "
          "masking not counted) x tokens/s / peak. The same first loss on every row: the same weights and batch.\n")


def _check_row(label, base, backend, compiled, inp, tgt, steps, device, fpt, measured, sheet) -> str:
    """One table row of gpu_check: ``backend`` None is the transformers twin of ``base``."""
    import tempfile

    cuda = device == "cuda"
    if backend is None:
        with tempfile.TemporaryDirectory() as tmp:
            model = neox_twin(base, tmp).to(device)
    else:
        model = copy.deepcopy(base).to(device)
        model.set_backend(backend)
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, fused=True)  # as the trainer does
    step = _step_fn(torch.compile(model) if compiled else model, opt, inp, tgt, peer=backend is None)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, first = [], None
    for i in range(3 + steps):
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = step()  # .item() inside: the step has finished on the GPU
        first = loss if first is None else first
        if i >= 3:
            times.append(time.perf_counter() - t0)
    q = statistics.quantiles(times, n=10)
    p50 = statistics.median(times)
    B, T = inp.shape
    flops = B * T / p50 * fpt
    mfu_sheet = f"{flops / sheet:.1%}" if sheet else "-"
    memory = f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if cuda else "-"
    return (f"| {label} | {q[1]:.4f} / {p50:.4f} / {q[7]:.4f} | {B * T / p50:,.0f} | {flops / 1e12:,.1f} | "
            f"{flops / measured:.1%} | {mfu_sheet} | {memory} | {first:.4f} |")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux keeps that across execve, so a
    child started by a large parent would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def loss_step_child(path: str, layers: int, B: int, T: int) -> None:
    """One training step of uni-glyph-335m (``layers`` blocks) with the ``path`` loss; prints JSON."""
    torch.manual_seed(0)
    model = build("uni-glyph-335m", "cpu", n_layer=layers)
    model.full_logit_loss = path == "full"
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, fused=True)
    x = torch.randint(0, model.cfg.vocab_size, (B, T + 1), generator=torch.Generator().manual_seed(1))
    inp, tgt = x[:, :-1].contiguous(), x[:, 1:].contiguous()
    before = _rss_bytes()
    t0 = time.process_time()
    _, loss = model(inp, tgt)
    loss.backward()
    opt.step()
    seconds = time.process_time() - t0
    peak = _peak_rss_bytes()
    print(json.dumps({"path": path, "loss": loss.item(), "before": before, "peak": peak, "cpu_s": seconds}))


def cpu_loss_memory(layers: int, B: int, T: int) -> None:
    print(f"## Peak memory of one training step, chunked vs full-logit loss (CPU, fp32, uni-glyph-335m with "
          f"{layers} of 16 layers, B={B}, T={T}, V=65,536, d_model=1024)\n")
    print("| loss | peak RSS | RSS before the step | step's growth | CPU s | loss value |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = {}
    for path in ("full", "chunked"):
        out = subprocess.run([sys.executable, __file__, "--loss-child", path, "--loss-layers", str(layers),
                              "--loss-batch", str(B), "--loss-context", str(T)],
                             capture_output=True, text=True, check=True).stdout
        r = rows[path] = json.loads(out.strip().splitlines()[-1])
        print(f"| {path} | {r['peak'] / 2**20:,.0f} MiB | {r['before'] / 2**20:,.0f} MiB | "
              f"{(r['peak'] - r['before']) / 2**20:,.0f} MiB | {r['cpu_s']:.1f} | {r['loss']:.6f} |")
    full, chunked = rows["full"], rows["chunked"]
    print(f"\nchunked / full: peak RSS {chunked['peak'] / full['peak']:.2f}x, step's growth "
          f"{(chunked['peak'] - chunked['before']) / (full['peak'] - full['before']):.2f}x; "
          f"saved {(full['peak'] - chunked['peak']) / 2**20:,.0f} MiB; "
          f"|loss difference| {abs(full['loss'] - chunked['loss']):.2e}\n")


def gpu_loss_memory(B: int) -> None:
    print(f"## {torch.cuda.get_device_name()}: peak memory of one training step, uni-glyph-335m, bf16 autocast, "
          f"B={B}, T=1024\n")
    print("| loss | peak allocated | loss value |")
    print("|---|---:|---:|")
    peaks = {}
    for path in ("full", "chunked"):
        torch.manual_seed(0)
        model = build("uni-glyph-335m", "cuda")
        model.full_logit_loss = path == "full"
        opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, fused=True)
        x = torch.randint(0, model.cfg.vocab_size, (B, 1025), device="cuda")
        torch.cuda.reset_peak_memory_stats()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, loss = model(x[:, :-1], x[:, 1:].contiguous())
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        peaks[path] = torch.cuda.max_memory_allocated()
        print(f"| {path} | {peaks[path] / 2**20:,.0f} MiB | {loss.item():.6f} |")
        del model, opt, loss
        torch.cuda.empty_cache()
    print(f"\nchunked / full peak: {peaks['chunked'] / peaks['full']:.2f}x\n")


def neox_twin(model: GPT, workdir: str):
    """The ``GPTNeoXForCausalLM`` of the model's ``substrate export``: the same tensors (the export's
    own mapping), written as an export directory writes them and loaded with ``from_pretrained``;
    the lifted table stays frozen there too."""
    from safetensors.torch import save_file
    from transformers import GPTNeoXForCausalLM

    from unicode_substrate.model.neox import neox_config, to_neox

    c = model.cfg
    table = model.embed.weight if c.embedding == "frozen" else None
    save_file(to_neox(model.state_dict(), c, table), f"{workdir}/model.safetensors", metadata={"format": "pt"})
    with open(f"{workdir}/config.json", "w") as f:
        json.dump(neox_config(c, {}, "float32", {}), f)
    twin = GPTNeoXForCausalLM.from_pretrained(workdir).train()
    twin.gpt_neox.embed_in.weight.requires_grad_(c.embedding != "frozen")
    return twin


def gemm_flops(n: int = 1024, repeats: int = 7) -> float:
    """This machine's own fp32 GEMM rate (FLOP/s, median of ``repeats`` n x n x n products, CPU time)."""
    a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.mm(a, b, out=out)
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        torch.mm(a, b, out=out)
        times.append(time.process_time() - t0)
    return 2 * n**3 / statistics.median(times)


def _step_fn(model, opt, inp, tgt, peer: bool):
    """One forward + backward + AdamW step; the peer's loss is the full-logit cross-entropy of its logits."""
    def step():
        if peer:
            logits = model(input_ids=inp).logits
            loss = torch.nn.functional.cross_entropy(logits.float().view(-1, logits.size(-1)), tgt.view(-1))
        else:
            _, loss = model(inp, tgt)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()
    return step


def peer_row(label: str, preset: str, B: int, T: int, pairs: int, warmup: int, gemm: float, **overrides) -> dict:
    """Our step (chunked loss), our full-logit step and the NeoX twin's step, interleaved round by round."""
    import tempfile

    torch.manual_seed(0)
    ours = build(preset, "cpu", **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        twin = neox_twin(ours, tmp)
    x = torch.randint(0, ours.cfg.vocab_size, (B, T + 1), generator=torch.Generator().manual_seed(1))
    inp, tgt = x[:, :-1].contiguous(), x[:, 1:].contiguous()
    full = copy.deepcopy(ours)  # the same weights and table, with the full-logit loss
    full.full_logit_loss = True
    steps = {}
    for name, model, peer in (("ours", ours, False), ("full", full, False), ("peer", twin, True)):
        opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, fused=True)  # as the trainer does
        steps[name] = _step_fn(model, opt, inp, tgt, peer)
    wall = {k: [] for k in steps}
    cpu = {k: [] for k in steps}
    losses = {}
    for i in range(warmup + pairs):
        for name, step in steps.items():
            w0, c0 = time.perf_counter(), time.process_time()
            loss = step()
            w1, c1 = time.perf_counter(), time.process_time()
            if i == 0:
                losses[name] = loss
            if i >= warmup:
                wall[name].append(w1 - w0)
                cpu[name].append(c1 - c0)
    flops = flops_per_token(ours, T) * B * T
    med = statistics.median
    ratio = [p / o for p, o in zip(wall["peer"], wall["ours"])]
    ratio_cpu = [p / o for p, o in zip(cpu["peer"], cpu["ours"])]
    loss_cost = [o / f for o, f in zip(wall["ours"], wall["full"])]
    q = statistics.quantiles(ratio, n=10) if len(ratio) > 1 else [ratio[0]] * 9
    return {"label": label, "tokens": B * T, "ours_s": med(wall["ours"]), "peer_s": med(wall["peer"]),
            "full_s": med(wall["full"]), "ratio": med(ratio), "ratio_p20": q[1], "ratio_p80": q[7],
            "ratio_cpu": med(ratio_cpu), "chunked_over_full": med(loss_cost),
            "ours_flops": flops / med(cpu["ours"]), "peer_flops": flops / med(cpu["peer"]), "gemm": gemm,
            "loss_diff": max(abs(losses["ours"] - losses["peer"]), abs(losses["ours"] - losses["full"]))}


PEER_MODELS = (  # (label, preset, B, T, overrides): the tiny presets at the 4 x 128, the paper width shallow
    ("tiny-bit-64", "tiny-bit-64", 4, 128, {}),
    ("tiny-glyph", "tiny-glyph", 4, 128, {}),
    ("tiny-unfrozen", "tiny-unfrozen", 4, 128, {}),
    ("uni-glyph-335m, 2 layers", "uni-glyph-335m", 2, 128, {"n_layer": 2}),
    ("uni-glyph-335m, 4 layers", "uni-glyph-335m", 2, 128, {"n_layer": 4}),
)


def cpu_peer(pairs: int, only: str | None) -> None:
    """The peer rows: our step against transformers' GPTNeoXForCausalLM of its export, one thread."""
    import transformers

    threads = torch.get_num_threads()
    gemm = gemm_flops()
    print(f"## Training step against transformers {transformers.__version__} GPTNeoXForCausalLM of the export "
          f"(CPU fp32, {threads} thread{'s' * (threads > 1)}, {pairs} interleaved rounds after 2 warm-up, AdamW fused)\n")
    print(f"fp32 GEMM rate of this machine, measured in this run (1024^3, CPU time): {gemm / 1e9:,.1f} GFLOP/s\n")
    print("| model | tokens/step | ours s/step | peer s/step | ours tokens/s | peer tokens/s | ratio p50 (p20-p80) | "
          "ratio, CPU time | chunked / full-logit | ours GFLOP/s (of GEMM) | peer GFLOP/s (of GEMM) | max loss diff |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for label, preset, B, T, over in PEER_MODELS:
        if only and only not in label:
            continue
        r = peer_row(label, preset, B, T, pairs, 2, gemm, **over)
        print(f"| {label} | {r['tokens']} | {r['ours_s']:.3f} | {r['peer_s']:.3f} | {r['tokens'] / r['ours_s']:,.0f} | "
              f"{r['tokens'] / r['peer_s']:,.0f} | {r['ratio']:.2f}x ({r['ratio_p20']:.2f}-{r['ratio_p80']:.2f}) | "
              f"{r['ratio_cpu']:.2f}x | {r['chunked_over_full']:.2f} | {r['ours_flops'] / 1e9:,.1f} "
              f"({r['ours_flops'] / gemm:.0%}) | {r['peer_flops'] / 1e9:,.1f} ({r['peer_flops'] / gemm:.0%}) | "
              f"{r['loss_diff']:.1e} |", flush=True)
    print("\nratio = the peer's step time / ours, per round (above 1: ours is faster); FLOP/s from CPU time.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4, help="CPU batch (sequences of 128 tokens)")
    ap.add_argument("--gpu-batch", type=int, default=16)
    ap.add_argument("--compile", action="store_true", help="torch.compile the GPU model")
    ap.add_argument("--skip-paper", action="store_true", help="skip the 335M measurements on CPU")
    ap.add_argument("--only-loss", action="store_true", help="only the chunked vs full-logit loss memory")
    ap.add_argument("--loss-layers", type=int, default=4, help="blocks of the CPU loss-memory model (paper: 16)")
    ap.add_argument("--loss-batch", type=int, default=2)
    ap.add_argument("--loss-context", type=int, default=1024)
    ap.add_argument("--gpu", action="store_true", help="only the CUDA figures: uni-glyph-335m with and without "
                    "the kernels and torch.compile, and the peak memory of either loss (benchmarks/gpu.sh)")
    ap.add_argument("--gpu-check", action="store_true", help="benchmarks/gpu.sh's rows: uni-glyph-335m with and "
                    "without the kernels, against transformers' GPT-NeoX and compiled, MFU against a measured peak")
    ap.add_argument("--check-batch", type=int, default=8, help="batch of --gpu-check (sequences of 1024 tokens)")
    ap.add_argument("--peer", action="store_true", help="only the rows against transformers' GPT-NeoX")
    ap.add_argument("--peer-pairs", type=int, default=12, help="interleaved rounds per peer row")
    ap.add_argument("--peer-only", help="only the peer rows whose label contains this")
    ap.add_argument("--threads", type=int, help="intra-op threads (the peer rows default to 1)")
    ap.add_argument("--loss-child", choices=("full", "chunked"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.loss_child:
        loss_step_child(args.loss_child, args.loss_layers, args.loss_batch, args.loss_context)
        return
    print(f"torch {torch.__version__}\n")
    if args.gpu_check:
        if not torch.cuda.is_available():
            sys.exit("error: --gpu-check needs a CUDA device and torch built with CUDA")
        gpu_check(args.steps, args.check_batch)
        return
    if args.gpu:
        if not torch.cuda.is_available():
            sys.exit("error: --gpu needs a CUDA device and torch built with CUDA")
        gpu_loss_memory(args.gpu_batch)
        for backend in ("torch", "triton"):
            for compile_ in (False, True):
                gpu_paper(args.steps, args.gpu_batch, compile_, backend, presets=("uni-glyph-335m",))
        return
    if args.peer:
        torch.set_num_threads(args.threads or 1)
        cpu_peer(args.peer_pairs, args.peer_only)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.only_loss:
        cpu_tiny(args.steps, args.batch)
    if not args.skip_paper:
        if not args.only_loss:
            paper_memory()
        cpu_loss_memory(args.loss_layers, args.loss_batch, args.loss_context)
    if torch.cuda.is_available():
        gpu_loss_memory(args.gpu_batch)
        if not args.only_loss:
            gpu_paper(args.steps, args.gpu_batch, args.compile)
    else:
        print("No CUDA device: GPU tokens/s, MFU and GPU loss memory were not measured.")


if __name__ == "__main__":
    main()
