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


def _losses(embedding: str, backend: str, steps: int = 5) -> list[float]:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=96, d_model=64, n_layer=2, n_head=4, context=32, n_embed=16, embedding=embedding)
    table = torch.nn.functional.normalize(torch.randn(96, 16), dim=-1)  # unit rows, like a rendered table
    model = GPT(cfg, table if embedding == "frozen" else None, backend=backend)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    # One batch seen every step: the loss must fall, so a curve that stalls is caught too.
    batch = torch.randint(0, 96, (2, 33), generator=torch.Generator().manual_seed(1))
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
    if kernel_device != "cpu":
        pytest.skip("the CPU comparison runs under the interpreter")
    torch_curve = _losses(embedding, "torch")
    triton_curve = _losses(embedding, "triton")
    assert torch_curve[-1] < torch_curve[0] - 0.1  # it trains at all
    torch.testing.assert_close(torch.tensor(triton_curve), torch.tensor(torch_curve), **tolerance(torch.float32))



@pytest.mark.slow
def test_torch_compile_keeps_the_kernels(kernel_device):
    # The kernels are custom ops, so torch.compile keeps them as opaque nodes instead of tracing
    # their launchers; aot_eager runs dynamo and AOT autograd without inductor's slow codegen.
    if kernel_device != "cpu":
        pytest.skip("the CPU comparison runs under the interpreter")
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=96, d_model=64, n_layer=2, n_head=4, context=32, n_embed=16)
    table = torch.randn(96, 16)
    models = [GPT(cfg, table, backend=b) for b in ("triton", "torch")]
    models[1].load_state_dict(models[0].state_dict())
    batch = torch.randint(0, 96, (2, 33), generator=torch.Generator().manual_seed(1))
    losses = []
    for fn in (torch.compile(models[0], backend="aot_eager", fullgraph=True), models[1]):
        _, loss = fn(batch[:, :-1], batch[:, 1:].contiguous())
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1], **tolerance(torch.float32))
    for p, q in zip(*(m.parameters() for m in models)):
        torch.testing.assert_close(p.grad, q.grad, **tolerance(torch.float32))

# Compiles the kernels to PTX and cubin for real GPUs with Triton's bundled ptxas, no device
# needed: it catches code that the interpreter accepts but the compiler rejects. It must run in
# a process where triton was imported without TRITON_INTERPRET, hence the subprocess.
_AOT_SCRIPT = r"""
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, compile
from unicode_substrate.kernels import embed_lift_triton as el, rope_triton as rp
assert not el.INTERPRETED

def build(fn, sig, consts, arch):
    sig = {**sig, **{k: "constexpr" for k in consts}}
    kernel = compile(ASTSource(fn=fn, signature=sig, constexprs=consts), target=GPUTarget("cuda", arch, 32),
                     options={"num_warps": 8})  # what the launchers pick at the paper's shapes
    assert "cubin" in kernel.asm, fn.__name__

for arch, dtypes in ((90, ("fp32", "bf16", "fp16")), (80, ("bf16",))):  # H100/H200 fully, A100 for bf16
    for dt in dtypes:
        sig = {"ids_ptr": "*i64", "w_ptr": f"*{dt}", "out_ptr": f"*{dt}", "n_tokens": "i32", "d_model": "i32",
               "w_stride": "i32", "scale": "fp32"}
        for K, BT in ((16, 4), (1, 4), (3, 4)):  # n_embed 64 and 1024 at d_model 1024, and an odd lift
            build(el._embed_lift_fwd_kernel, sig, {"K": K, "BLOCK_T": BT, "BLOCK_D": 1024}, arch)
        rope = {"qo_ptr": f"*{dt}", "ko_ptr": f"*{dt}", "cos_ptr": "*fp32", "sin_ptr": "*fp32", "cs_t": "i32",
                "cs_d": "i32", "T": "i32", "H": "i32"}
        for n in ("q", "k"):
            rope.update({f"{n}_ptr": f"*{dt}", **{f"{n}_s{s}": "i32" for s in "bthd"}})
        for half, bt, bh, back in ((16, 4, 32, False), (16, 4, 32, True), (64, 1, 32, True), (48, 2, 8, False)):
            build(rp._rope_kernel, rope, {"HALF": half, "BLOCK_T": bt, "BLOCK_H": bh,
                                          "BLOCK_HALF": 1 << (half - 1).bit_length(), "BACKWARD": back}, arch)
    sig = {"ids_ptr": "*i64", "g_ptr": "*fp32", "gw_ptr": "*fp32", "n_tokens": "i32", "n_embed": "i32",
           "d_model": "i32", "scale": "fp32"}
    for K, BT, BE in ((1, 4, 1024), (16, 64, 64)):
        build(el._embed_lift_bwd_kernel, sig, {"K": K, "BLOCK_T": BT, "BLOCK_E": BE}, arch)
print("compiled")
"""


@pytest.mark.slow
def test_kernels_compile_for_gpus(tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "triton-cache")  # tests write only under tmp_path
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    proc = subprocess.run([sys.executable, "-c", _AOT_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode and "ptxas" in proc.stderr and "No such file" in proc.stderr:
        pytest.skip("this triton build ships no ptxas")
    assert proc.returncode == 0 and "compiled" in proc.stdout, proc.stderr[-3000:]
