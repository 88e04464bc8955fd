"""The model's input stage behind one dispatcher: Triton kernels on CUDA, PyTorch elsewhere.

``backend`` is ``"auto"`` (Triton when the tensors are on CUDA, Triton imports and the kernel
supports the shapes; the reference otherwise), ``"triton"`` (the kernels or a SubstrateError
saying why not) or ``"torch"`` (the reference). On CPU the kernels run only under Triton's
interpreter (``TRITON_INTERPRET=1`` set before triton is imported), which ``"triton"`` allows so
that tests exercise the kernels; ``"auto"`` never picks the interpreter, which is far slower
than the reference.

The kernel modules import triton, so they are imported on first use, not here.
"""

from __future__ import annotations

import torch

from unicode_substrate.errors import SubstrateError
from unicode_substrate.kernels.reference import apply_rope_reference, embed_lift_reference, rope_cache

from unicode_substrate.choices import KERNEL_BACKENDS as BACKENDS

__all__ = ["BACKENDS", "embed_lift", "apply_rope", "rope_cache", "triton_status", "check_backend"]


_MODULES: tuple | None = None  # a plain global, not functools.cache, which torch.compile warns about


def _kernel_modules():
    """(embed_lift module, rope module, why-not) — the modules are None when Triton does not import."""
    global _MODULES
    if _MODULES is None:
        try:
            from unicode_substrate.kernels import embed_lift_triton as el
            from unicode_substrate.kernels import rope_triton as rope
        except ImportError as exc:  # triton missing or broken for this platform
            _MODULES = (None, None, f"triton does not import ({exc})")
        else:
            _MODULES = (el, rope, None)
    return _MODULES


def triton_status() -> str:
    """One line on whether the Triton kernels can run here: compiled, interpreted or unavailable."""
    el, _, why = _kernel_modules()
    if why:
        return why
    if el.INTERPRETED:
        return "triton kernels run under the interpreter (TRITON_INTERPRET=1)"
    return "triton kernels compile for CUDA" if torch.cuda.is_available() else "triton imports but no CUDA device is present"


def check_backend(backend: str, device_type: str) -> None:
    """Refuse, before any work starts, a backend that cannot run on this device type."""
    if backend not in BACKENDS:
        raise SubstrateError(f"unknown kernel backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend != "triton":
        return
    el, _, why = _kernel_modules()
    if why:
        raise SubstrateError(f"kernels 'triton' are unavailable: {why}")
    if el.INTERPRETED and device_type != "cpu":
        raise SubstrateError("kernels 'triton' under TRITON_INTERPRET=1 run on CPU only; unset it to compile for CUDA")
    if not el.INTERPRETED and device_type != "cuda":
        raise SubstrateError("kernels 'triton' need a CUDA device (or TRITON_INTERPRET=1 to run them on CPU under the interpreter)")


def _use_triton(backend: str, tensors: tuple[torch.Tensor, ...], reason_fn) -> bool:
    """Decide the path; ``reason_fn(el, rope)`` (the kernel modules) says what they cannot take, or None."""
    if backend == "torch":
        return False
    if backend not in BACKENDS:
        raise SubstrateError(f"unknown kernel backend {backend!r}; choose from {', '.join(BACKENDS)}")
    on_cuda = all(t.is_cuda for t in tensors)
    if backend == "auto" and not on_cuda:
        return False
    el, rope, why = _kernel_modules()
    if why:
        if backend == "auto":
            return False
        raise SubstrateError(f"backend 'triton' is unavailable: {why}")
    if el.INTERPRETED:
        # The interpreter is for exercising the kernels on CPU tensors; "auto" leaves it to tests.
        if backend == "auto":
            return False
        if on_cuda:
            raise SubstrateError("backend 'triton' under TRITON_INTERPRET=1 takes CPU tensors; unset it to compile for CUDA")
    elif not on_cuda:
        raise SubstrateError(
            "backend 'triton' needs CUDA tensors (or TRITON_INTERPRET=1 set before triton is imported, to run "
            "the kernels on CPU under the interpreter); use backend 'torch' or 'auto' on this machine"
        )
    reason = reason_fn(el, rope)
    if reason is not None:
        if backend == "auto":
            return False
        raise SubstrateError(f"backend 'triton' cannot run this input: {reason}")
    return True


def embed_lift(ids: torch.Tensor, weight: torch.Tensor, d_model: int, scale: float = 1.0, backend: str = "auto") -> torch.Tensor:
    """Gather + lift (see :func:`embed_lift_reference`) on the chosen backend."""
    if d_model % weight.shape[-1]:
        raise ValueError(f"d_model {d_model} is not a multiple of the table width {weight.shape[-1]}")
    if _use_triton(backend, (ids, weight), lambda el, rope: el.unsupported_reason(ids, weight, d_model)):
        el, _, _ = _kernel_modules()
        return el.embed_lift_triton(ids, weight, d_model, scale)
    return embed_lift_reference(ids, weight, d_model, scale)


def apply_rope(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, backend: str = "auto"):
    """Rotary embeddings on q and k [B, T, H, head_dim] (see :func:`apply_rope_reference`)."""
    if _use_triton(backend, (q, k, cos, sin), lambda el, rope: rope.unsupported_reason(q, k, cos, sin)):
        _, rope, _ = _kernel_modules()
        return rope.apply_rope_triton(q, k, cos, sin)
    return apply_rope_reference(q, k, cos, sin)
