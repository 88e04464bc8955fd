"""Triton gather + lift: rows of a [V, n_embed] table, repeat-interleaved to d_model and scaled.

One kernel reads the narrow table row and writes the lifted, scaled row straight to the
output, so neither the [B, T, n_embed] gather nor an unscaled repeat_interleave copy (the
"expanded table") ever exists in memory. Eager PyTorch runs up to three kernels (embedding,
repeat_interleave, mul), each writing a full tensor.

Math, for output column c of token n with k = d_model // n_embed:
    out[n, c] = scale * W[ids[n], c // k]
so the gradient of a trainable table is
    dW[v, e] = scale * sum_{n: ids[n] = v} sum_{r < k} dout[n, e*k + r]
which the backward kernel accumulates with fp32 atomic adds (repeated ids in a batch add up).
Atomics make the summation order, and so the last bits, vary between runs on a GPU; under
torch.use_deterministic_algorithms(True) the backward uses a sorted accumulation instead.
A frozen table gets no gradient and the backward never runs.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from unicode_substrate.kernels.launch import Launch

# Captured at import: triton decides between compiled and interpreted kernels when the
# @triton.jit decorator runs, so this is what the kernels below actually are.
INTERPRETED = bool(triton.knobs.runtime.interpret)

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_MAX_BLOCK_D = 1024
_TILE = 4096  # elements per program: 16 KiB of fp32, enough to keep loads in flight


@triton.jit
def _embed_lift_fwd_kernel(
    ids_ptr,  # ids size: (n_tokens,)
    w_ptr,  # weight size: (V, n_embed), row stride w_stride, unit column stride
    out_ptr,  # out size: (n_tokens, d_model), contiguous
    n_tokens,
    d_model,
    w_stride,
    scale,
    K: tl.constexpr,  # the lift factor d_model // n_embed
    BLOCK_T: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    row_mask = rows < n_tokens
    mask = row_mask[:, None] & (cols < d_model)[None, :]
    ids = tl.load(ids_ptr + rows, mask=row_mask, other=0).to(tl.int64)
    # Column c of the lifted row is column c // K of the table row: the lift is an index map.
    src = w_ptr + ids[:, None] * w_stride + (cols // K)[None, :]
    x = tl.load(src, mask=mask, other=0.0).to(tl.float32) * scale
    dst = out_ptr + rows.to(tl.int64)[:, None] * d_model + cols[None, :]
    tl.store(dst, x.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _embed_lift_bwd_kernel(
    ids_ptr,  # ids size: (n_tokens,)
    g_ptr,  # grad_out size: (n_tokens, d_model), contiguous
    gw_ptr,  # grad_weight size: (V, n_embed), fp32, contiguous, zero-initialised
    n_tokens,
    n_embed,
    d_model,
    scale,
    K: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.program_id(1) * BLOCK_E + tl.arange(0, BLOCK_E)
    row_mask = rows < n_tokens
    mask = row_mask[:, None] & (cols < n_embed)[None, :]
    ids = tl.load(ids_ptr + rows, mask=row_mask, other=0).to(tl.int64)
    g_row = g_ptr + rows.to(tl.int64)[:, None] * d_model
    # Sum the K lifted copies of each table column first, so each token does one atomic per column.
    acc = tl.zeros((BLOCK_T, BLOCK_E), dtype=tl.float32)
    for r in range(K):
        acc += tl.load(g_row + (cols * K + r)[None, :], mask=mask, other=0.0).to(tl.float32)
    tl.atomic_add(gw_ptr + ids[:, None] * n_embed + cols[None, :], acc * scale, mask=mask, sem="relaxed")


def _blocks(n_tokens: int, width: int) -> tuple[int, int]:
    block_w = min(_MAX_BLOCK_D, triton.next_power_of_2(width))
    block_t = min(triton.next_power_of_2(max(n_tokens, 1)), max(1, _TILE // block_w))
    return block_t, block_w


def _warps(elements: int) -> int:
    # About 16 elements a thread: 40 registers on sm_90 for a 4096-element tile at 8 warps.
    return 8 if elements >= 4096 else 4


def unsupported_reason(ids: torch.Tensor, weight: torch.Tensor, d_model: int) -> str | None:
    """Why the kernel cannot take these inputs, or None when it can."""
    if weight.ndim != 2:
        return f"the table must be 2-D, got shape {tuple(weight.shape)}"
    if weight.dtype not in DTYPES:
        return f"table dtype {weight.dtype} is not one of fp32/fp16/bf16"
    if ids.dtype not in (torch.int32, torch.int64):
        return f"ids must be int32 or int64, got {ids.dtype}"
    if ids.device != weight.device:
        return f"ids on {ids.device} and table on {weight.device}"
    if weight.stride(1) != 1:
        return "the table's rows must be contiguous"
    return None


def forward_launch(flat_ids: torch.Tensor, weight: torch.Tensor, out: torch.Tensor, scale: float) -> Launch:
    """The forward launch writing ``out`` [n_tokens, d_model] from ``weight`` rows ``flat_ids``."""
    n, d_model = out.shape
    block_t, block_d = _blocks(n, d_model)
    return Launch(
        _embed_lift_fwd_kernel, (triton.cdiv(n, block_t), triton.cdiv(d_model, block_d)),
        (flat_ids, weight, out, n, d_model, weight.stride(0), float(scale)),
        dict(K=d_model // weight.shape[1], BLOCK_T=block_t, BLOCK_D=block_d, num_warps=_warps(block_t * block_d)),
    )


def backward_launch(flat_ids: torch.Tensor, grad_out: torch.Tensor, grad_weight: torch.Tensor, scale: float) -> Launch:
    """The backward launch adding ``grad_out`` [n_tokens, d_model] into fp32 ``grad_weight`` [V, n_embed]."""
    n, d_model = grad_out.shape
    n_embed = grad_weight.shape[1]
    block_t, block_e = _blocks(n, n_embed)
    return Launch(
        _embed_lift_bwd_kernel, (triton.cdiv(n, block_t), triton.cdiv(n_embed, block_e)),
        (flat_ids, grad_out, grad_weight, n, n_embed, d_model, float(scale)),
        dict(K=d_model // n_embed, BLOCK_T=block_t, BLOCK_E=block_e, num_warps=_warps(block_t * block_e)),
    )


def embed_lift_forward(ids: torch.Tensor, weight: torch.Tensor, d_model: int, scale: float) -> torch.Tensor:
    """Launch the forward kernel: [*ids.shape, d_model] in the table's dtype."""
    flat = ids.reshape(-1).contiguous()
    n = flat.numel()
    if n and not flat.is_cuda and not (0 <= int(flat.min()) and int(flat.max()) < weight.shape[0]):
        # The interpreter reads host memory unchecked; on CUDA the check would cost a sync.
        raise IndexError(f"ids out of range for a table of {weight.shape[0]} rows")
    out = torch.empty((n, d_model), dtype=weight.dtype, device=weight.device)
    if n:
        forward_launch(flat, weight, out, scale)()
    return out.view(*ids.shape, d_model)


def embed_lift_backward(ids: torch.Tensor, grad_out: torch.Tensor, weight: torch.Tensor, scale: float) -> torch.Tensor:
    """Launch the backward kernel: the table gradient [V, n_embed] in the table's dtype."""
    V, n_embed = weight.shape
    d_model = grad_out.shape[-1]
    flat = ids.reshape(-1).contiguous()
    g = grad_out.reshape(-1, d_model).contiguous()
    n = flat.numel()
    # fp32 accumulator: many tokens can share a row, and bf16 atomics would lose their sum.
    gw = torch.zeros((V, n_embed), dtype=torch.float32, device=weight.device)
    if n and torch.are_deterministic_algorithms_enabled():
        # Atomics add in a run-dependent order; accumulate-index_put_ sorts by row first, so a
        # run that asks for determinism gets it, at the cost of the [n, n_embed] partial sums.
        rows = g.view(n, n_embed, d_model // n_embed).float().sum(-1) * scale
        gw.index_put_((flat.long(),), rows, accumulate=True)
    elif n:
        backward_launch(flat, g, gw, scale)()
    return gw.to(weight.dtype)


# Custom ops rather than a bare autograd.Function: torch.compile then treats each kernel as one
# opaque node with a known output shape (register_fake) instead of tracing into the launcher,
# which works the same for compiled and interpreted Triton.
@torch.library.custom_op("unicode_substrate::embed_lift", mutates_args=())
def _embed_lift_op(ids: torch.Tensor, weight: torch.Tensor, d_model: int, scale: float) -> torch.Tensor:
    return embed_lift_forward(ids, weight, d_model, scale)


@_embed_lift_op.register_fake
def _(ids, weight, d_model, scale):
    return weight.new_empty((*ids.shape, d_model))


@torch.library.custom_op("unicode_substrate::embed_lift_backward", mutates_args=())
def _embed_lift_backward_op(ids: torch.Tensor, grad_out: torch.Tensor, weight: torch.Tensor, scale: float) -> torch.Tensor:
    return embed_lift_backward(ids, grad_out, weight, scale)


@_embed_lift_backward_op.register_fake
def _(ids, grad_out, weight, scale):
    return torch.empty_like(weight)


def _setup_context(ctx, inputs, output):
    ids, weight, _, scale = inputs
    ctx.save_for_backward(ids, weight)
    ctx.scale = scale


def _backward(ctx, grad_out):
    # No gradient to ids; a table gradient only when the table requires one (never for a frozen table).
    ids, weight = ctx.saved_tensors
    grad_weight = _embed_lift_backward_op(ids, grad_out, weight, ctx.scale) if ctx.needs_input_grad[1] else None
    return None, grad_weight, None, None


_embed_lift_op.register_autograd(_backward, setup_context=_setup_context)


def embed_lift_triton(ids: torch.Tensor, weight: torch.Tensor, d_model: int, scale: float = 1.0) -> torch.Tensor:
    """Gather + lift + scale on the Triton kernels, differentiable in ``weight``."""
    return _embed_lift_op(ids, weight, d_model, float(scale))
