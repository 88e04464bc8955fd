"""Triton gather + lift against the PyTorch reference and nn.Embedding, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from conftest import tolerance

from unicode_substrate.kernels import embed_lift
from unicode_substrate.kernels.reference import embed_lift_reference

# (B, T, V, n_embed, d_model, scale): batch 1, single tokens, odd T, lift factors 1/3/4/16,
# table widths that are not powers of two, a 1024-wide row and a long sequence over a small
# vocabulary (so ids repeat hundreds of times).
SHAPES = [
    (1, 1, 10, 16, 64, 1.0),
    (2, 7, 50, 16, 64, 1.0),
    (3, 33, 100, 64, 256, 0.5),
    (2, 13, 30, 48, 144, 2.0),
    (2, 9, 17, 24, 24, 1.0),
    (2, 5, 20, 1024, 1024, 1.0),
    (1, 1000, 40, 16, 64, 0.03125),
]


def _case(B, T, V, n_embed, device, dtype=torch.float32, ids_dtype=torch.int64, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (B, T), generator=g).to(device=device, dtype=ids_dtype)
    weight = torch.randn(V, n_embed, generator=g).to(device=device, dtype=dtype)
    return ids, weight


@pytest.mark.parametrize("B,T,V,n_embed,d_model,scale", SHAPES)
def test_forward_matches_reference_frozen(kernel_device, B, T, V, n_embed, d_model, scale):
    ids, weight = _case(B, T, V, n_embed, kernel_device)
    out = embed_lift(ids, weight, d_model, scale, backend="triton")
    ref = embed_lift_reference(ids, weight, d_model, scale)
    assert out.shape == (B, T, d_model) and out.dtype == weight.dtype
    torch.testing.assert_close(out, ref, **tolerance(torch.float32))
    assert not out.requires_grad  # a frozen table builds no graph


@pytest.mark.parametrize("B,T,V,n_embed,d_model,scale", SHAPES)
def test_backward_matches_reference_trainable(kernel_device, B, T, V, n_embed, d_model, scale):
    ids, weight = _case(B, T, V, n_embed, kernel_device, seed=1)
    w_kernel = weight.clone().requires_grad_(True)
    w_ref = weight.clone().requires_grad_(True)
    grad_out = torch.randn(B, T, d_model, generator=torch.Generator().manual_seed(2)).to(kernel_device)
    out = embed_lift(ids, w_kernel, d_model, scale, backend="triton")
    out.backward(grad_out)
    embed_lift_reference(ids, w_ref, d_model, scale).backward(grad_out)
    torch.testing.assert_close(out.detach(), embed_lift_reference(ids, weight, d_model, scale), **tolerance(torch.float32))
    torch.testing.assert_close(w_kernel.grad, w_ref.grad, **tolerance(torch.float32))


@pytest.mark.parametrize("T", [1, 64, 1000])
def test_gradient_equals_nn_embedding_with_repeated_ids(kernel_device, T):
    # The trainable baseline (k = 1): every row's gradient is the sum over its repeats.
    V, D = 7, 32
    emb = nn.Embedding(V, D).to(kernel_device)
    ids = torch.randint(0, V, (2, T), generator=torch.Generator().manual_seed(3)).to(kernel_device)
    ids[0, 0] = ids[1, 0] = 3  # a row hit in both batch rows
    weight = emb.weight.detach().clone().requires_grad_(True)
    grad_out = torch.randn(2, T, D, generator=torch.Generator().manual_seed(4)).to(kernel_device)
    emb(ids).backward(grad_out)
    embed_lift(ids, weight, D, 1.0, backend="triton").backward(grad_out)
    assert torch.count_nonzero(weight.grad[3]) == D
    torch.testing.assert_close(weight.grad, emb.weight.grad, **tolerance(torch.float32))


def test_deterministic_mode_gradient(kernel_device):
    ids, weight = _case(2, 300, 5, 16, kernel_device)  # five rows, each hit about 120 times
    w_kernel, w_ref = weight.clone().requires_grad_(True), weight.clone().requires_grad_(True)
    grad_out = torch.randn(2, 300, 64, generator=torch.Generator().manual_seed(6)).to(kernel_device)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        embed_lift(ids, w_kernel, 64, 0.5, backend="triton").backward(grad_out)
    finally:
        torch.use_deterministic_algorithms(previous)
    embed_lift_reference(ids, w_ref, 64, 0.5).backward(grad_out)
    torch.testing.assert_close(w_kernel.grad, w_ref.grad, **tolerance(torch.float32))


def test_frozen_table_gets_no_gradient(kernel_device, monkeypatch):
    """A frozen table (no requires_grad) takes no gradient, and the backward kernel never runs for it.

    The same call with a table that does require a gradient runs the backward kernel, so the
    test tells a kernel that skips the frozen table's gradient from one that computes and drops it.
    """
    from unicode_substrate.kernels import embed_lift_triton

    calls = []
    real = embed_lift_triton._embed_lift_backward_op
    monkeypatch.setattr(embed_lift_triton, "_embed_lift_backward_op", lambda *a: calls.append(1) or real(*a))
    ids, weight = _case(2, 5, 20, 16, kernel_device)
    assert not weight.requires_grad
    layer = nn.Linear(64, 3).to(kernel_device)
    layer(embed_lift(ids, weight, 64, 1.0, backend="triton")).sum().backward()
    assert weight.grad is None and layer.weight.grad is not None and calls == []
    trainable = weight.clone().requires_grad_(True)
    layer(embed_lift(ids, trainable, 64, 1.0, backend="triton")).sum().backward()
    assert trainable.grad is not None and calls == [1]


def test_int32_and_strided_ids(kernel_device):
    ids, weight = _case(2, 20, 30, 16, kernel_device, ids_dtype=torch.int32)
    strided = ids[:, ::3]
    torch.testing.assert_close(
        embed_lift(strided, weight, 64, 1.5, backend="triton"),
        embed_lift_reference(strided.long(), weight, 64, 1.5),
        **tolerance(torch.float32),
    )


def test_empty_batch(kernel_device):
    ids, weight = _case(0, 4, 10, 16, kernel_device)
    assert embed_lift(ids, weight, 32, 1.0, backend="triton").shape == (0, 4, 32)


def test_bad_inputs_are_refused(kernel_device):
    ids, weight = _case(1, 4, 10, 16, kernel_device)
    with pytest.raises(ValueError, match="multiple"):
        embed_lift(ids, weight, 40, 1.0, backend="triton")
    if kernel_device == "cpu":  # the interpreter would read past the table; CUDA checks cost a sync
        with pytest.raises(IndexError):
            embed_lift(ids + 10, weight, 32, 1.0, backend="triton")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("B,T,V,n_embed,d_model,scale", SHAPES)
def test_half_precision_on_gpu(B, T, V, n_embed, d_model, scale, dtype):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    ids, weight = _case(B, T, V, n_embed, "cuda", dtype=dtype)
    weight.requires_grad_(True)
    grad_out = torch.randn(B, T, d_model, device="cuda", dtype=dtype)
    out = embed_lift(ids, weight, d_model, scale, backend="triton")
    out.backward(grad_out)
    # The oracle runs in fp32; the kernel accumulates in fp32 and rounds once.
    w32 = weight.detach().float().requires_grad_(True)
    ref = embed_lift_reference(ids, w32, d_model, scale)
    ref.backward(grad_out.float())
    torch.testing.assert_close(out.float(), ref.detach(), **tolerance(dtype))
    torch.testing.assert_close(weight.grad.float(), w32.grad.to(dtype).float(), **tolerance(dtype))
