"""What a caller may change about a training job without touching the loop (growth, fusion, init sources)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from unicode_substrate.run import build_gpt

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unicode_substrate.model.config import ModelConfig


@dataclass(frozen=True)
class Hooks:
    """What a caller may change about a training job without touching the loop.

    ``build_model(mcfg, table, backend)`` makes the network (growth and fusion build their own;
    it runs right after ``torch.manual_seed(cfg.seed)``, so initial weights are reproducible).
    ``identity`` adds keys to the run identity (checked on resume like the built-in ones).
    ``evaluate(model, step)`` replaces the validation pass; it returns the record logged as ``val``.
    ``inputs`` are the paths the network is built from (a starting model): the run may not replace them.
    """

    build_model: Callable[["ModelConfig", "torch.Tensor | None", str], "torch.nn.Module"] = build_gpt
    identity: dict = field(default_factory=dict)
    evaluate: Callable[["torch.nn.Module", int], dict] | None = None
    inputs: tuple = ()
