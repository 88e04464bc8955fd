"""The model's input stage behind one dispatcher: Triton kernels on CUDA, PyTorch elsewhere.

``backend`` is ``"auto"`` (Triton when the tensors are on CUDA and Triton imports),
``"triton"`` (required; an error if unavailable) or ``"torch"`` (the reference).
"""

from __future__ import annotations

import torch

from unicode_substrate.kernels.reference import apply_rope_reference, embed_lift_reference, rope_cache

BACKENDS = ("auto", "triton", "torch")

__all__ = ["BACKENDS", "embed_lift", "apply_rope", "rope_cache"]


def embed_lift(ids: torch.Tensor, weight: torch.Tensor, d_model: int, scale: float = 1.0, backend: str = "auto") -> torch.Tensor:
    """Gather + lift (see :func:`embed_lift_reference`) on the chosen backend."""
    return embed_lift_reference(ids, weight, d_model, scale)


def apply_rope(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, backend: str = "auto"):
    """Rotary embeddings on q and k [B, T, H, head_dim] (see :func:`apply_rope_reference`)."""
    return apply_rope_reference(q, k, cos, sin)
