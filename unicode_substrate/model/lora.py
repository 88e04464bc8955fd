"""Low-rank adapters over frozen blocks (the ``peft`` library), and merging them back into weights.

Growth stages may put LoRA adapters on the linear layers of the frozen blocks. ``peft`` fits our
model as is: ``inject_adapter_in_model`` wraps named ``nn.Linear`` modules of any ``nn.Module``
(the fused ``qkv`` projection included) without a Hugging Face model class around it. Wrapped
modules keep their weight under ``<module>.base_layer.weight`` and add
``<module>.lora_A.default.weight`` [r, in] and ``<module>.lora_B.default.weight`` [out, r];
``lora_B`` starts at zero, so adding adapters does not change the model's output.

Merging is a pure state-dict operation (``W + alpha / r * B @ A``, peft's own delta for a
non-transposed Linear), so loading a finished stage needs neither peft nor the wrapped model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicode_substrate.errors import SubstrateError

if TYPE_CHECKING:  # pragma: no cover
    import torch

LINEARS = ("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj")  # every nn.Linear inside a Block
_ADAPTER = "default"


def lora_targets(blocks: range) -> list[str]:
    """Full module names of the linear layers of ``blocks``."""
    return [f"blocks.{i}.{lin}" for i in blocks for lin in LINEARS]


def add_lora(model: "torch.nn.Module", targets: list[str], rank: int, alpha: float) -> None:
    """Wrap ``targets`` (full module names) with rank-``rank`` adapters, in place; lora_B starts at zero."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise SubstrateError("low-rank adapters need the peft package (pip install peft)") from None
    if not targets:
        return
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0, bias="none")
    inject_adapter_in_model(config, model, adapter_name=_ADAPTER)
    # peft marks everything but the adapters as frozen; put back what the caller chose.
    for name, p in model.named_parameters():
        if "lora_" not in name:
            p.requires_grad_(flags[name.replace(".base_layer.", ".")])


def merge_lora_state(weights: dict, rank: int, alpha: float) -> dict:
    """A plain state dict from one with adapters: every ``X.base_layer.weight`` becomes ``X.weight + alpha/r B A``."""
    scaling = alpha / rank
    out = {}
    for key, value in weights.items():
        if ".lora_A." in key or ".lora_B." in key:
            continue
        if ".base_layer." not in key:
            out[key] = value
            continue
        module, _, leaf = key.partition(".base_layer.")
        if leaf == "weight":
            a = weights.get(f"{module}.lora_A.{_ADAPTER}.weight")
            b = weights.get(f"{module}.lora_B.{_ADAPTER}.weight")
            if a is None or b is None:
                raise SubstrateError(f"adapter weights of {module} are missing from the checkpoint")
            value = (value.float() + (b.float() @ a.float()) * scaling).to(value.dtype)
        out[f"{module}.{leaf}"] = value
    return out
