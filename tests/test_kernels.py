"""The input-stage dispatcher: which path runs, its errors, and training with and without the kernels."""

from __future__ import annotations

import pytest
import torch
from conftest import tolerance

from unicode_substrate.errors import SubstrateError
from unicode_substrate.kernels import apply_rope, embed_lift, rope_cache, triton_status
from unicode_substrate.model.config import ModelConfig
from unicode_substrate.model.gpt import GPT


def _cpu_inputs():
    ids = torch.randint(0, 10, (2, 5))
    weight = torch.randn(10, 16)
    q, k, _ = torch.randn(2, 5, 3, 2, 8).unbind(dim=2)
    cos, sin = rope_cache(5, 8)
    return ids, weight, q, k, cos, sin


def test_unknown_backend_is_refused():
    ids, weight, q, k, cos, sin = _cpu_inputs()
    with pytest.raises(SubstrateError, match="unknown kernel backend 'cuda'"):
        embed_lift(ids, weight, 32, backend="cuda")
    with pytest.raises(SubstrateError, match="unknown kernel backend"):
        apply_rope(q, k, cos, sin, backend="fast")


def test_auto_on_cpu_runs_the_reference(kernel_device, monkeypatch):
    from unicode_substrate.kernels import embed_lift_triton, rope_triton

    def refuse(*args):
        raise AssertionError("auto must not pick the kernels for CPU tensors")

    monkeypatch.setattr(embed_lift_triton, "embed_lift_triton", refuse)
    monkeypatch.setattr(rope_triton, "apply_rope_triton", refuse)
    ids, weight, q, k, cos, sin = _cpu_inputs()
    assert embed_lift(ids, weight, 32, backend="auto").shape == (2, 5, 32)
    assert apply_rope(q, k, cos, sin, backend="auto")[0].shape == q.shape
    if kernel_device == "cpu":  # the patch is live: forcing the kernels does reach it
        with pytest.raises(AssertionError, match="must not pick"):
            embed_lift(ids, weight, 32, backend="triton")


def test_triton_on_cpu_without_interpreter_is_a_clear_error(kernel_device, monkeypatch):
    from unicode_substrate.kernels import embed_lift_triton

    monkeypatch.setattr(embed_lift_triton, "INTERPRETED", False)  # as on a CPU machine without the variable
    ids, weight, q, k, cos, sin = _cpu_inputs()
    for call in (lambda: embed_lift(ids, weight, 32, backend="triton"), lambda: apply_rope(q, k, cos, sin, backend="triton")):
        with pytest.raises(SubstrateError, match="needs CUDA tensors"):
            call()
    assert torch.equal(embed_lift(ids, weight, 32, backend="torch"), embed_lift(ids, weight, 32, backend="auto"))


def test_unsupported_shape_forced_to_triton_says_why(kernel_device):
    q = torch.randn(1, 4, 2, 6, device=kernel_device)
    cos, sin = rope_cache(3, 6, device=kernel_device)  # shorter than T
    with pytest.raises(SubstrateError, match="cos/sin must be"):
        apply_rope(q, q, cos, sin, backend="triton")


def test_status_line_names_the_mode(kernel_device):
    assert ("interpreter" in triton_status()) == (kernel_device == "cpu")


def _losses(embedding: str, backend: str, device: str, steps: int = 5) -> list[float]:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=96, d_model=64, n_layer=2, n_head=4, context=32, n_embed=16, embedding=embedding)
    table = torch.nn.functional.normalize(torch.randn(96, 16), dim=-1)  # unit rows, like a rendered table
    model = GPT(cfg, table if embedding == "frozen" else None, backend=backend).to(device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    # One batch seen every step: the loss must fall, so a curve that stalls is caught too.
    batch = torch.randint(0, 96, (2, 33), generator=torch.Generator().manual_seed(1)).to(device)
    losses = []
    for _ in range(steps):
        _, loss = model(batch[:, :-1], batch[:, 1:].contiguous())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.slow
@pytest.mark.parametrize("embedding", ["frozen", "trainable"])
def test_training_curves_match(kernel_device, embedding):
    # On CPU the kernels run under the interpreter, on CUDA compiled; kernel_device skips where neither can.
    torch_curve = _losses(embedding, "torch", kernel_device)
    triton_curve = _losses(embedding, "triton", kernel_device)
    assert torch_curve[-1] < torch_curve[0] - 0.1  # it trains at all
    torch.testing.assert_close(torch.tensor(triton_curve), torch.tensor(torch_curve), **tolerance(torch.float32))



@pytest.mark.slow
def test_torch_compile_keeps_the_kernels(kernel_device):
    # The kernels are custom ops, so torch.compile keeps them as opaque nodes instead of tracing
    # their launchers; aot_eager runs dynamo and AOT autograd without inductor's slow codegen.
    # It runs wherever the kernels do: interpreted on CPU, compiled on CUDA.
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=96, d_model=64, n_layer=2, n_head=4, context=32, n_embed=16)
    table = torch.randn(96, 16)
    models = [GPT(cfg, table, backend=b).to(kernel_device) for b in ("triton", "torch")]
    models[1].load_state_dict(models[0].state_dict())
    batch = torch.randint(0, 96, (2, 33), generator=torch.Generator().manual_seed(1)).to(kernel_device)
    losses = []
    for fn in (torch.compile(models[0], backend="aot_eager", fullgraph=True), models[1]):
        _, loss = fn(batch[:, :-1], batch[:, 1:].contiguous())
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1], **tolerance(torch.float32))
    for p, q in zip(*(m.parameters() for m in models)):
        torch.testing.assert_close(p.grad, q.grad, **tolerance(torch.float32))

def test_launchers_run_the_launch_the_compile_test_compiles(kernel_device, monkeypatch):
    # The AOT test compiles what forward_launch/backward_launch/kernel_launch return; this checks
    # that the real launches go through those functions, so the two cannot drift apart.
    if kernel_device != "cpu":
        pytest.skip("checked under the interpreter")
    from unicode_substrate.kernels import embed_lift_triton as el, rope_triton as rp

    seen = []
    for module, name in ((el, "forward_launch"), (el, "backward_launch"), (rp, "kernel_launch")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _f=original, _n=name: seen.append(_n) or _f(*a))
    ids, weight, q, k, cos, sin = _cpu_inputs()
    embed_lift(ids, weight.requires_grad_(), 32, backend="triton").sum().backward()
    q, k = q.requires_grad_(), k.requires_grad_()
    sum(t.sum() for t in apply_rope(q, k, cos, sin, backend="triton")).backward()
    assert seen == ["forward_launch", "backward_launch", "kernel_launch", "kernel_launch"]


# Compiles every kernel variant the launchers choose at the paper's shapes (kernels/aot.py) to PTX
# and cubin for real GPUs with Triton's bundled ptxas, no device needed: it catches code that the
# interpreter accepts but the compiler rejects, and a kernel that starts to spill registers. It
# must run in a process where triton was imported without TRITON_INTERPRET, hence the subprocess;
# one per (arch, kernel) so that pytest-xdist spreads them over the workers.
_LIFTS = {1, 4, 16, 64, 256}  # d_model // n_embed over d_model 1024/4096 and n_embed 16..4096


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["embed_lift_fwd", "embed_lift_bwd", "rope_fwd", "rope_bwd"])
@pytest.mark.parametrize("arch", [80, 90])
def test_kernels_compile_for_gpus(tmp_path, arch, kernel):
    import json
    import os
    import subprocess
    import sys

    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "triton-cache")  # tests write only under tmp_path
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    cmd = [sys.executable, "-m", "unicode_substrate.kernels.aot", "--arch", str(arch), "--kernel", kernel]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    if proc.returncode and ("ptxas" in proc.stderr or "cuobjdump" in proc.stderr) and "No such file" in proc.stderr:
        pytest.skip("this triton build ships no ptxas/cuobjdump")
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {r["dtype"] for r in records} == {"fp32", "bf16", "fp16"}
    consts = [r["constexprs"] for r in records]
    if kernel.startswith("embed_lift"):
        assert {c["K"] for c in consts} == _LIFTS
    else:
        assert {c["HALF"] for c in consts} == {16, 32, 64}  # head_dim 32/64/128
        assert {c["BACKWARD"] for c in consts} == {kernel == "rope_bwd"}
    if kernel != "embed_lift_bwd" and kernel != "rope_bwd":  # the decode step (one token) is forward only
        assert any(c["BLOCK_T"] == 1 for c in consts)
    # Spilled registers go to local memory: none of the kernels may spill.
    spilled = [f"{r['shape']} {r['constexprs']}: {r['local']} B local, {r['stack']} B stack" for r in records
               if r["local"] or r["stack"]]
    assert not spilled, spilled
