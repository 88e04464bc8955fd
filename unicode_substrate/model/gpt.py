"""Decoder-only Transformer on a frozen embedding substrate.

Reads top-down: FrozenEmbedding -> CausalSelfAttention -> MLP -> Block -> GPT. Pre-norm
LayerNorm, rotary position embeddings (GPT-NeoX rotate-half) through scaled_dot_product_attention,
GELU MLP, final LayerNorm, untied output head.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from unicode_substrate.kernels import apply_rope, embed_lift, rope_cache
from unicode_substrate.model.config import ModelConfig
from unicode_substrate.model.loss import chunked_cross_entropy


class FrozenEmbedding(nn.Module):
    """A fixed [V, n_embed] table lifted to d_model by repeat_interleave: no parameters, no gradient."""

    def __init__(self, table: torch.Tensor, d_model: int, scale: float = 1.0, backend: str = "auto"):
        super().__init__()
        if table.ndim != 2:
            raise ValueError(f"the embedding table must be 2-D, got shape {tuple(table.shape)}")
        # A buffer, not a parameter: it is never in the optimizer, and not in checkpoints either
        # (persistent=False) since the table directory, verified by hash, is its source of truth.
        self.register_buffer("weight", table.detach().float().contiguous(), persistent=False)
        self.d_model = d_model
        self.scale = scale
        self.backend = backend

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return embed_lift(ids, self.weight, self.d_model, self.scale, backend=self.backend)


class TrainableEmbedding(nn.Embedding):
    """The baseline: an ordinary learned embedding, routed through the same dispatcher."""

    backend = "auto"

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return embed_lift(ids, self.weight, self.embedding_dim, 1.0, backend=self.backend)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.dropout = cfg.dropout
        self.backend = "auto"

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        """``cache`` (generation only): this layer's keys and values so far, extended in place;
        ``cos``/``sin`` then start at the position of ``x``'s first token."""
        B, T, C = x.shape
        # qkv: (B, T, 3, H, head_dim); q, k, v are strided views of it.
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).unbind(dim=2)
        q, k = apply_rope(q, k, cos, sin, backend=self.backend)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, head_dim) for SDPA
        mask, causal = None, True
        if cache is not None:
            past = cache["k"].size(2) if "k" in cache else 0
            if past:
                k, v = torch.cat((cache["k"], k), dim=2), torch.cat((cache["v"], v), dim=2)
                causal = False
                if T > 1:  # one new token sees every key: no mask to build at each generated token
                    # query i sits at position past + i and sees keys 0 .. past + i
                    mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            cache["k"], cache["v"] = k, v
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model, bias=cfg.bias)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), cos, sin, cache))
        return x + self.drop(self.mlp(self.ln2(x)))


class GPT(nn.Module):
    """The language model. ``table`` [V, n_embed] is required for a frozen embedding, ignored otherwise."""

    # forward(ids, targets) computes the loss in chunks and returns no logits; True restores the
    # full-logit path (logits and loss, with the fp32 [tokens, vocab] logits held in memory).
    full_logit_loss = False

    def __init__(self, cfg: ModelConfig, table: torch.Tensor | None = None, backend: str = "auto"):
        super().__init__()
        self.cfg = cfg
        if cfg.embedding == "frozen":
            if table is None:
                raise ValueError("a frozen-embedding model needs its table")
            if tuple(table.shape) != (cfg.vocab_size, cfg.n_embed):
                raise ValueError(
                    f"table shape {tuple(table.shape)} does not fit the model (vocab {cfg.vocab_size}, n_embed {cfg.n_embed})"
                )
            self.embed: nn.Module = FrozenEmbedding(table, cfg.d_model, cfg.embed_scale)
        else:
            self.embed = TrainableEmbedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)  # untied: the input table is frozen
        cos, sin = rope_cache(cfg.context, cfg.head_dim, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()
        self.set_backend(backend)

    def reset_parameters(self) -> None:
        """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer)."""
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 1:  # LayerNorm weights
                nn.init.ones_(p)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.cfg.n_layer))
            else:
                nn.init.normal_(p, 0.0, std)

    def set_backend(self, backend: str) -> None:
        """Choose the input-stage implementation: "auto", "triton" or "torch"."""
        self.embed.backend = backend
        for block in self.blocks:
            block.attn.backend = backend

    def forward(self, ids: torch.Tensor, targets: torch.Tensor | None = None):
        """(logits [B, T, V], None); with ``targets``, (None, the mean cross-entropy, ignore_index -100),
        or (logits, loss) when ``full_logit_loss`` is set."""
        x = self.hidden(ids)
        if targets is None:
            return self.head(x), None
        if self.full_logit_loss or type(self.head) is not nn.Linear or self.head.bias is not None:
            logits = self.head(x)
            return logits, F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        # Training: the head and the loss together in chunks of tokens, so the fp32 [tokens, vocab]
        # logits and their gradient never exist (model/loss.py); no logits are returned.
        return None, chunked_cross_entropy(x, self.head.weight, targets)

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """The final-LayerNorm states [B, T, d_model] the head reads: scoring applies the head only
        where a log-probability is wanted (the head is the largest matmul at a 65,536-id vocabulary)."""
        T = ids.shape[1]
        if T > self.cfg.context:
            raise ValueError(f"sequence length {T} exceeds the model context {self.cfg.context}")
        x = self.drop(self.embed(ids))
        for block in self.blocks:
            x = block(x, self.rope_cos, self.rope_sin)
        return self.ln_f(x)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameter count; the frozen table is counted in the total (as the paper does) but is not trainable."""
        n = sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
        return n if trainable_only else n + self.frozen_parameters()

    def frozen_parameters(self) -> int:
        """The frozen table's size (0 for a trainable embedding): counted in the total, never trained."""
        return self.embed.weight.numel() if isinstance(self.embed, FrozenEmbedding) else 0

    def forward_cached(self, ids: torch.Tensor, cache: list[dict], last_only: bool = False) -> torch.Tensor:
        """Logits [B, T, V] of ``ids`` continuing the sequence held in ``cache`` (one dict per block,
        empty for a fresh prompt), which is extended in place. The sequence must fit the context.
        ``last_only`` applies the head to the last position alone ([B, 1, V]): all sampling needs."""
        past = cache[0]["k"].size(2) if cache[0] else 0
        T = ids.size(1)
        if past + T > self.cfg.context:
            raise ValueError(f"sequence length {past + T} exceeds the model context {self.cfg.context}")
        cos, sin = self.rope_cos[past:past + T], self.rope_sin[past:past + T]
        x = self.drop(self.embed(ids))
        for block, layer_cache in zip(self.blocks, cache):
            x = block(x, cos, sin, layer_cache)
        return self.head(self.ln_f(x[:, -1:] if last_only else x))

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
        """Sample ``max_new_tokens`` continuations of ``ids`` [B, T]; temperature 0 is greedy.

        With ``use_cache`` each step feeds only the newest token and reuses the keys and values
        of the earlier ones; once the sequence outgrows the context, the remaining steps recompute
        the last ``context`` tokens as the uncached path does, so both give the same tokens.
        """
        cache: list[dict] | None = [{} for _ in self.blocks] if use_cache else None
        fed = 0  # tokens of ids already in the cache
        for _ in range(max_new_tokens):
            if cache is not None and ids.size(1) <= self.cfg.context:
                logits = self.forward_cached(ids[:, fed:], cache, last_only=True)
                fed = ids.size(1)
            else:
                logits, _ = self(ids[:, -self.cfg.context:])
            nxt = sample_next_token(logits[:, -1, :], temperature, top_k, generator)
            ids = torch.cat((ids, nxt), dim=1)
        return ids


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id [B, 1] from last-position logits [B, V]: argmax at temperature 0, else
    a draw from softmax(logits / temperature) restricted to the ``top_k`` likeliest."""
    logits = logits.float()
    if temperature <= 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
        logits[logits < v[:, [-1]]] = -float("inf")
    return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
