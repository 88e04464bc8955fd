"""Triton rotary embeddings for q and k in one launch, forward and backward.

GPT-NeoX "rotate half": with x = [x1, x2] (each head_dim/2 wide) and the cache rows
c = [c1, c2], s = [s1, s2] of position t,
    forward:  o1 = x1*c1 - x2*s1          o2 = x2*c2 + x1*s2
    backward: dx1 = g1*c1 + g2*s2         dx2 = g2*c2 - g1*s1
The backward is the transpose of the forward; for the model's cache (c1 = c2, s1 = s2) it is
the rotation by -theta. Both halves of the cache are read, so any cache the reference accepts
gives the same result.

One program handles a block of positions of one batch row, all heads of q and of k, so each
cache row is loaded once and shared by 2*H heads. q and k are read through their strides, which
lets the model hand over strided views of its fused qkv projection without a copy; outputs are
new contiguous [B, T, H, head_dim] tensors, as in the reference.

cos/sin come from the cache rather than being computed in-kernel. A cache row is reused by
every head and batch row and stays in L2 (cos and sin together: 256 KiB at T=1024 and the
paper's head_dim 32, 1 MiB at head_dim 128), so reading it costs little beside q and k. And
in-kernel angles cannot match the reference: Triton has no pow, so inv_freq = 2^(-2i/d*log2 base)
rounds differently from the fp32 cache and t*inv_freq amplifies that by t; on CPU that way of
computing differs from the cache by up to 1.5e-5 (head_dim 32) and 6.1e-5 (head_dim 128) in cos
over T=1024, beyond the fp32 tolerance (1e-5). Whether in-kernel angles would be faster on a GPU
is unmeasured.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from unicode_substrate.kernels.launch import Launch

INTERPRETED = bool(triton.knobs.runtime.interpret)

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_MAX_ROW = 16384  # heads x half-width of one position; beyond this one program's registers spill
# Elements per program and tensor half. On GPU 2K keeps registers free (4 positions at the paper's
# 32 heads x head_dim 32, one at head_dim 128); the interpreter runs programs one by one, so big tiles.
_TILE = 16384 if INTERPRETED else 2048


@triton.jit
def _rope_rotate(
    x_ptr, x_st, x_sh, x_sd,  # q or k of one batch row: (T, H, head_dim) through strides
    o_ptr,  # the output of that batch row, contiguous (T, H, head_dim)
    c1, c2, s1, s2,  # cache halves, (BLOCK_T, 1, BLOCK_HALF)
    t, h, d, mask,  # (BLOCK_T, 1, 1), (1, BLOCK_H, 1), (1, 1, BLOCK_HALF)
    H,
    HALF: tl.constexpr,
    BACKWARD: tl.constexpr,
):
    p1 = x_ptr + t * x_st + h * x_sh + d * x_sd
    x1 = tl.load(p1, mask=mask, other=0.0).to(tl.float32)
    x2 = tl.load(p1 + HALF * x_sd, mask=mask, other=0.0).to(tl.float32)
    if BACKWARD:
        o1 = x1 * c1 + x2 * s2
        o2 = x2 * c2 - x1 * s1
    else:
        o1 = x1 * c1 - x2 * s1
        o2 = x2 * c2 + x1 * s2
    p_out = o_ptr + (t * H + h) * (2 * HALF) + d
    tl.store(p_out, o1.to(o_ptr.dtype.element_ty), mask=mask)
    tl.store(p_out + HALF, o2.to(o_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rope_kernel(
    q_ptr, q_sb, q_st, q_sh, q_sd,  # q size: (B, T, H, head_dim), any strides
    k_ptr, k_sb, k_st, k_sh, k_sd,  # k size: (B, T, H, head_dim), any strides
    qo_ptr, ko_ptr,  # outputs size: (B, T, H, head_dim), contiguous
    cos_ptr, sin_ptr, cs_t, cs_d,  # cache size: (>= T, head_dim), cos and sin share strides
    T, H,
    HALF: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_HALF: tl.constexpr,
    BACKWARD: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    t = (tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T))[:, None, None]
    h = tl.arange(0, BLOCK_H)[None, :, None]
    d = tl.arange(0, BLOCK_HALF)[None, None, :]
    cs_mask = (t < T) & (d < HALF)
    mask = cs_mask & (h < H)
    # One cache row per position, shared by all heads of q and k.
    cs = t * cs_t + d * cs_d
    c1 = tl.load(cos_ptr + cs, mask=cs_mask, other=0.0).to(tl.float32)
    c2 = tl.load(cos_ptr + cs + HALF * cs_d, mask=cs_mask, other=0.0).to(tl.float32)
    s1 = tl.load(sin_ptr + cs, mask=cs_mask, other=0.0).to(tl.float32)
    s2 = tl.load(sin_ptr + cs + HALF * cs_d, mask=cs_mask, other=0.0).to(tl.float32)
    out_off = b * T * H * (2 * HALF)
    _rope_rotate(q_ptr + b * q_sb, q_st, q_sh, q_sd, qo_ptr + out_off,
                 c1, c2, s1, s2, t, h, d, mask, H, HALF, BACKWARD)
    _rope_rotate(k_ptr + b * k_sb, k_st, k_sh, k_sd, ko_ptr + out_off,
                 c1, c2, s1, s2, t, h, d, mask, H, HALF, BACKWARD)


def unsupported_reason(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> str | None:
    """Why the kernel cannot take these inputs, or None when it can."""
    if q.ndim != 4 or q.shape != k.shape:
        return f"q and k must share a [B, T, H, head_dim] shape, got {tuple(q.shape)} and {tuple(k.shape)}"
    B, T, H, D = q.shape
    if D % 2:
        return f"head_dim must be even, got {D}"
    if q.dtype != k.dtype or q.dtype not in DTYPES:
        return f"q/k dtypes {q.dtype}/{k.dtype} must match and be fp32/fp16/bf16"
    if cos.ndim != 2 or cos.shape != sin.shape or cos.shape[0] < T or cos.shape[1] != D:
        return f"cos/sin must be [>= {T}, {D}], got {tuple(cos.shape)} and {tuple(sin.shape)}"
    if cos.stride() != sin.stride():
        return "cos and sin must share strides"
    if len({q.device, k.device, cos.device, sin.device}) != 1:
        return "q, k, cos and sin must be on one device"
    if triton.next_power_of_2(H) * triton.next_power_of_2(D // 2) > _MAX_ROW:
        return f"{H} heads x head_dim {D} exceed one program's tile"
    return None


def kernel_launch(q: torch.Tensor, k: torch.Tensor, q_out: torch.Tensor, k_out: torch.Tensor, cos: torch.Tensor,
                  sin: torch.Tensor, backward: bool) -> Launch:
    """The launch rotating q and k [B, T, H, head_dim] (any strides) into contiguous ``q_out``, ``k_out``."""
    B, T, H, D = q.shape
    block_half = triton.next_power_of_2(D // 2)
    block_h = triton.next_power_of_2(H)
    row = block_h * block_half
    block_t = min(triton.next_power_of_2(T), max(1, _TILE // row))
    return Launch(
        _rope_kernel, (B, triton.cdiv(T, block_t)),
        (q, *q.stride(), k, *k.stride(), q_out, k_out, cos, sin, *cos.stride(), T, H),
        dict(HALF=D // 2, BLOCK_T=block_t, BLOCK_H=block_h, BLOCK_HALF=block_half, BACKWARD=backward,
             # 8 warps for a full tile keeps ptxas at about 60 registers a thread on sm_90 (4 warps
             # needs 128), so more programs share an SM and more loads are in flight.
             num_warps=8 if block_t * row >= 2048 else 4),
    )


def rope_launch(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, backward: bool = False):
    """One launch rotating q and k (or, with ``backward``, their gradients) into new contiguous tensors."""
    q_out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    k_out = torch.empty(k.shape, dtype=k.dtype, device=k.device)
    if q.numel():
        kernel_launch(q, k, q_out, k_out, cos, sin, backward)()
    return q_out, k_out


# A custom op (see embed_lift_triton.py): one opaque node for torch.compile, compiled or interpreted.
@torch.library.custom_op("unicode_substrate::rope", mutates_args=())
def _rope_op(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, backward: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return rope_launch(q, k, cos, sin, backward)


@_rope_op.register_fake
def _(q, k, cos, sin, backward):
    return q.new_empty(q.shape), k.new_empty(k.shape)


def _setup_context(ctx, inputs, output):
    _, _, cos, sin, _ = inputs
    ctx.save_for_backward(cos, sin)


def _backward(ctx, grad_q, grad_k):
    # Gradients to q and k only; the cache is a constant.
    cos, sin = ctx.saved_tensors
    dq, dk = _rope_op(grad_q, grad_k, cos, sin, True)
    return dq, dk, None, None, None


_rope_op.register_autograd(_backward, setup_context=_setup_context)


def apply_rope_triton(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """Rotate q and k [B, T, H, head_dim] on the Triton kernel, differentiable in q and k."""
    return _rope_op(q, k, cos, sin, False)
