"""Triton RoPE on q and k against the PyTorch reference, forward and backward."""

from __future__ import annotations

import pytest
import torch
from conftest import tolerance

from unicode_substrate.kernels import apply_rope, rope_cache
from unicode_substrate.kernels.reference import apply_rope_reference

# (B, T, H, head_dim): batch 1, a single position, T not a power of two, head_dim 64 and 128,
# a head_dim whose half (48) is not a power of two, a head count that is not either, and a
# long sequence with few heads.
SHAPES = [
    (1, 1, 1, 64),
    (2, 7, 3, 64),
    (1, 33, 2, 128),
    (3, 17, 5, 96),
    (2, 50, 4, 128),
    (1, 1000, 2, 64),
]


def _qkv(B, T, H, D, device, dtype=torch.float32, seed=0):
    """q and k as the model makes them: strided views of one (B, T, 3, H, D) projection output."""
    g = torch.Generator().manual_seed(seed)
    qkv = torch.randn(B, T, 3, H, D, generator=g).to(device=device, dtype=dtype).requires_grad_(True)
    return qkv


def _run(fn, qkv, cos, sin, grads):
    q, k, _ = qkv.unbind(dim=2)
    q_out, k_out = fn(q, k, cos, sin)
    (q_out * grads[0] + k_out * grads[1]).sum().backward()
    grad = qkv.grad
    qkv.grad = None
    return q_out.detach(), k_out.detach(), grad


def _compare(qkv, cos, sin, dtype=torch.float32):
    B, T, _, H, D = qkv.shape
    g = torch.Generator().manual_seed(7)
    grads = [torch.randn(B, T, H, D, generator=g).to(qkv.device, qkv.dtype) for _ in range(2)]
    got = _run(lambda *a: apply_rope(*a, backend="triton"), qkv, cos, sin, grads)
    want = _run(apply_rope_reference, qkv, cos, sin, grads)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, **tolerance(dtype))
    assert got[2][:, :, 2].abs().sum() == 0  # v's slice of the projection gets nothing from RoPE


@pytest.mark.parametrize("B,T,H,D", SHAPES)
def test_matches_reference_on_strided_views(kernel_device, B, T, H, D):
    cos, sin = rope_cache(T + 3, D, device=kernel_device)  # the model's cache is longer than T
    _compare(_qkv(B, T, H, D, kernel_device), cos, sin)


@pytest.mark.parametrize("B,T,H,D", [(2, 7, 3, 64), (1, 33, 2, 128)])
def test_matches_reference_with_small_tiles(kernel_device, monkeypatch, B, T, H, D):
    # The GPU tile (a few positions per program, a ragged last block) under the interpreter too.
    from unicode_substrate.kernels import rope_triton

    monkeypatch.setattr(rope_triton, "_TILE", 256)
    cos, sin = rope_cache(T, D, device=kernel_device)
    _compare(_qkv(B, T, H, D, kernel_device), cos, sin)


def test_contiguous_inputs_and_a_general_cache(kernel_device):
    # Halves of cos/sin that differ: the backward must be the exact transpose, not just -theta.
    B, T, H, D = 2, 9, 3, 64
    g = torch.Generator().manual_seed(5)
    cos = torch.randn(T, D, generator=g).to(kernel_device)
    sin = torch.randn(T, D, generator=g).to(kernel_device)
    q = torch.randn(B, T, H, D, generator=g).to(kernel_device).requires_grad_(True)
    k = torch.randn(B, T, H, D, generator=g).to(kernel_device).requires_grad_(True)
    gq, gk = torch.randn(B, T, H, D, generator=g).to(kernel_device), torch.randn(B, T, H, D, generator=g).to(kernel_device)
    results = []
    for fn in (lambda *a: apply_rope(*a, backend="triton"), apply_rope_reference):
        qo, ko = fn(q, k, cos, sin)
        dq, dk = torch.autograd.grad((qo * gq + ko * gk).sum(), (q, k))
        results.append((qo, ko, dq, dk))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **tolerance(torch.float32))


def test_only_q_reaches_the_loss(kernel_device):
    qkv = _qkv(1, 5, 2, 64, kernel_device)
    cos, sin = rope_cache(5, 64, device=kernel_device)
    grads = []
    for fn in (lambda *a: apply_rope(*a, backend="triton"), apply_rope_reference):
        q, k, _ = qkv.unbind(dim=2)
        q_out, _ = fn(q, k, cos, sin)
        grads.append(torch.autograd.grad(q_out.square().sum(), qkv)[0])
    torch.testing.assert_close(grads[0], grads[1], **tolerance(torch.float32))
    assert grads[0][:, :, 1].abs().sum() == 0


def test_rotation_preserves_norm_per_pair(kernel_device):
    # A known property independent of the reference: each (i, i + D/2) pair keeps its length.
    qkv = _qkv(1, 40, 2, 64, kernel_device).detach()
    q, k, _ = qkv.unbind(dim=2)
    cos, sin = rope_cache(40, 64, device=kernel_device)
    q_out, _ = apply_rope(q, k, cos, sin, backend="triton")
    pair = lambda x: x[..., :32].square() + x[..., 32:].square()  # noqa: E731
    torch.testing.assert_close(pair(q_out), pair(q), **tolerance(torch.float32))
    assert not torch.allclose(q_out[:, 1:], q[:, 1:])  # and it did rotate


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("B,T,H,D", SHAPES + [(8, 1024, 32, 32), (2, 1024, 16, 128)])
def test_half_precision_on_gpu(B, T, H, D, dtype):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cos, sin = rope_cache(T, D, device="cuda")
    _compare(_qkv(B, T, H, D, "cuda", dtype=dtype), cos, sin, dtype=dtype)
