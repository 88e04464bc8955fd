"""Pure-PyTorch input stage: frozen-table gather + lift, and rotary embeddings.

This is at once the CPU fallback, the test oracle and the benchmark baseline for the
Triton kernels in this package.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def embed_lift_reference(ids: torch.Tensor, weight: torch.Tensor, d_model: int, scale: float = 1.0) -> torch.Tensor:
    """Gather rows of ``weight`` [V, n_embed] for ``ids`` [B, T] and lift them to ``d_model``.

    The lift is ``repeat_interleave(d_model // n_embed)`` on the last dimension ([e0 e0 .. e1 e1 ..]),
    so it adds no parameters; ``scale`` multiplies the result. Gradients flow to ``weight``
    only when it requires them (the trainable baseline).
    """
    n_embed = weight.shape[1]
    if d_model % n_embed:
        raise ValueError(f"d_model {d_model} is not a multiple of the table width {n_embed}")
    x = F.embedding(ids, weight)
    k = d_model // n_embed
    if k > 1:
        x = x.repeat_interleave(k, dim=-1)
    if scale != 1.0:
        x = x * scale
    return x


def rope_cache(seq_len: int, head_dim: int, base: float = 10000.0, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables [seq_len, head_dim] in fp32 for the GPT-NeoX "rotate half" convention."""
    if head_dim % 2:
        raise ValueError(f"rotary embeddings need an even head_dim, got {head_dim}")
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    t = torch.arange(seq_len, device=device, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)  # [T, head_dim/2]
    emb = torch.cat((freqs, freqs), dim=-1)  # [T, head_dim]: the same angle for i and i + head_dim/2
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope_reference(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate ``q`` and ``k`` [B, T, H, head_dim] by position; cos/sin are [>=T, head_dim] fp32.

    The math runs in fp32 and the result comes back in the inputs' dtype.
    """
    T = q.shape[1]
    c = cos[:T, None, :]  # [T, 1, head_dim], broadcast over heads
    s = sin[:T, None, :]
    qf, kf = q.float(), k.float()
    q_out = qf * c + _rotate_half(qf) * s
    k_out = kf * c + _rotate_half(kf) * s
    return q_out.to(q.dtype), k_out.to(k.dtype)
