"""Mixture of experts by fusion (Growing Transformers, SPEC D): several GPTs over one frozen table.

The experts share the tokenizer and the frozen input table, so their logits live in the same
vocabulary and can be combined token by token. ``FusedModel`` runs every expert on the same ids
and returns the mean of their logits, ``(logits_a + logits_b) / 2`` for two experts (the paper's
parameter-free fusion), or, with ``adapter``, a trainable per-token mix of them:

    fused[..., v] = sum_e W[e, v] * logits_e[..., v] + b[v],   W = 1/E, b = 0 at the start,

a linear layer over the concatenated logits in which output token v sees the E logits of token v.
It starts as exactly the mean (for E = 2 or 4 bit for bit in fp32: scaling by a power of two is
exact). A dense layer over the concatenated logits would hold E * V * V weights (8.6e9 for two
experts at V = 65,536), more than the experts themselves; the per-token mix holds (E + 1) * V.
Expert sizes (d_model, layers, heads) may differ; vocabulary and table width may not.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from unicode_substrate.model.config import ModelConfig
from unicode_substrate.model.gpt import GPT, sample_next_token


class LogitMix(nn.Module):
    """Per-expert, per-token weights over stacked logits [E, B, T, V]; starts as the mean."""

    def __init__(self, n_experts: int, vocab_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.full((n_experts, vocab_size), 1.0 / n_experts))
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        return (stacked * self.weight[:, None, None, :]).sum(0) + self.bias


class FusedModel(nn.Module):
    """Experts over one table; ``forward(ids, targets=None) -> (fused logits, loss or None)`` like GPT."""

    def __init__(self, configs: list[ModelConfig], table: torch.Tensor | None = None, adapter: bool = False,
                 backend: str = "auto"):
        super().__init__()
        if len(configs) < 2:
            raise ValueError("a fusion needs at least two experts")
        for c in configs[1:]:
            for key in ("vocab_size", "embedding", "n_embed"):
                if getattr(c, key) != getattr(configs[0], key):
                    raise ValueError(f"experts differ in {key} ({getattr(c, key)} vs {getattr(configs[0], key)})")
        self.experts = nn.ModuleList(GPT(c, table=table, backend=backend) for c in configs)
        # The fused model reads as far back as its shortest-context expert can.
        self.cfg = configs[0].replace(context=min(c.context for c in configs))
        self.adapter = LogitMix(len(configs), configs[0].vocab_size) if adapter else None

    def set_backend(self, backend: str) -> None:
        for e in self.experts:
            e.set_backend(backend)

    def fuse(self, logits: list[torch.Tensor]) -> torch.Tensor:
        """Combine the experts' logits (fp32): their mean, or the adapter's mix."""
        stacked = torch.stack([x.float() for x in logits])
        return stacked.mean(0) if self.adapter is None else self.adapter(stacked)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor | None = None):
        if ids.size(1) > self.cfg.context:
            raise ValueError(f"sequence length {ids.size(1)} exceeds the fused model's context {self.cfg.context}")
        logits = self.fuse([e(ids)[0] for e in self.experts])
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameter count; the shared frozen table is counted once in the total and never as trainable."""
        n = sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
        return n if trainable_only else n + self.frozen_parameters()

    def frozen_parameters(self) -> int:
        """The shared frozen table's size, counted once (0 for trainable embeddings)."""
        return self.experts[0].frozen_parameters()

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
        """Sample from the fused logits; each expert keeps its own key/value cache."""
        caches = [[{} for _ in e.blocks] for e in self.experts] if use_cache else None
        fed = 0
        for _ in range(max_new_tokens):
            if caches is not None and ids.size(1) <= self.cfg.context:
                logits = self.fuse([e.forward_cached(ids[:, fed:], c) for e, c in zip(self.experts, caches)])
                fed = ids.size(1)
            else:
                logits, _ = self(ids[:, -self.cfg.context:])
            ids = torch.cat((ids, sample_next_token(logits[:, -1, :], temperature, top_k, generator)), dim=1)
        return ids


def build_fused(identity: dict, table: torch.Tensor | None, backend: str = "auto") -> FusedModel:
    """The fused network a run identity describes (``architecture = "fused"``)."""
    from unicode_substrate.errors import SubstrateError

    try:
        configs = [ModelConfig(**c) for c in identity["experts"]]
        return FusedModel(configs, table, adapter=bool(identity.get("adapter")), backend=backend)
    except (KeyError, TypeError, ValueError) as e:
        raise SubstrateError(f"cannot build the fused model: {e}") from None
