"""Our GPT as a Hugging Face GPT-NeoX: the configuration and the tensor mapping, both directions.

The plain "gpt" architecture is, by construction, a sequential-residual GPT-NeoX, so every
tensor maps one to one and the standard ``GPTNeoXForCausalLM`` computes what our model computes:

==============================  ================================================  ===================================
ours                            GPT-NeoX                                          why it is exact
==============================  ================================================  ===================================
frozen table [V, n_embed]       ``gpt_neox.embed_in.weight`` [V, d_model]         the lift (repeat_interleave by
(or ``embed.weight``)                                                             k = d_model / n_embed, times
                                                                                  embed_scale) is a fixed function of
                                                                                  the id, so its rows are stored
                                                                                  already lifted; a trainable
                                                                                  embedding is copied as it is
``blocks.i.ln1``                ``gpt_neox.layers.i.input_layernorm``             same LayerNorm (eps from config)
``blocks.i.attn.qkv`` rows      ``...attention.query_key_value`` rows             a permutation of rows: ours are
[3, H, head_dim]                [H, 3, head_dim]                                  [3, H, head_dim], NeoX reads
                                                                                  per head [H, 3, head_dim]
``blocks.i.attn.proj``          ``...attention.dense``                            same Linear
``blocks.i.ln2``                ``...post_attention_layernorm``                   use_parallel_residual=False is our
                                                                                  x + attn(ln1 x), then + mlp(ln2 .)
``blocks.i.mlp.fc`` / ``.proj`` ``...mlp.dense_h_to_4h`` / ``...dense_4h_to_h``   hidden_act "gelu" is exact erf GELU
                                                                                  (torch F.gelu), not "gelu_new"
``ln_f``                        ``gpt_neox.final_layer_norm``                     same LayerNorm
``head``                        ``embed_out`` (no bias)                           tie_word_embeddings=False
==============================  ================================================  ===================================

RoPE: NeoX's default rotary computes ``inv_freq = 1 / base**(arange(0, d, 2) / d)`` over the
whole head (rotary_pct = partial_rotary_factor = 1.0), duplicates the angles ``cat(f, f)`` and
rotates half, which is our ``rope_cache`` + ``apply_rope_reference``; attention scales by
head_dim**-0.5 like SDPA's default and is causal. A model built with ``bias=False`` exports
zero biases where NeoX always has one (LayerNorms, MLP) and no attention bias
(``attention_bias=False``): adding zero is exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch

# The key our export adds to config.json: the run's own model configuration and hashes, so an
# export (or a model fine-tuned from one and saved by transformers) can be imported back.
CONFIG_KEY = "unicode_substrate"

# (ours, NeoX) for the tensors of block i that map unchanged.
_BLOCK_PAIRS = (
    ("ln1.weight", "input_layernorm.weight"), ("ln1.bias", "input_layernorm.bias"),
    ("attn.proj.weight", "attention.dense.weight"), ("attn.proj.bias", "attention.dense.bias"),
    ("ln2.weight", "post_attention_layernorm.weight"), ("ln2.bias", "post_attention_layernorm.bias"),
    ("mlp.fc.weight", "mlp.dense_h_to_4h.weight"), ("mlp.fc.bias", "mlp.dense_h_to_4h.bias"),
    ("mlp.proj.weight", "mlp.dense_4h_to_h.weight"), ("mlp.proj.bias", "mlp.dense_4h_to_h.bias"),
)
_TOP_PAIRS = (("ln_f.weight", "gpt_neox.final_layer_norm.weight"), ("ln_f.bias", "gpt_neox.final_layer_norm.bias"),
              ("head.weight", "embed_out.weight"))


def unrepresentable(identity: dict) -> str | None:
    """None when a run identity is exactly a GPT-NeoX, else the one-line reason it is not."""
    arch = identity.get("architecture", "gpt")
    if arch != "gpt":
        return f"architecture {arch!r} has no exact GPT-NeoX equivalent (only the plain 'gpt' model exports)"
    return None


def neox_config(mcfg: ModelConfig, special_ids: dict[str, int | None], dtype: str, extra: dict) -> dict:
    """The ``config.json`` object of a GPTNeoXForCausalLM equivalent to ``mcfg``.

    Rotary settings are written both the way transformers 5 reads them (``rope_parameters``)
    and the older way (``rotary_pct``, ``rotary_emb_base``), so either generation loads it alike.
    """
    return {
        "architectures": ["GPTNeoXForCausalLM"],
        "model_type": "gpt_neox",
        "vocab_size": mcfg.vocab_size,
        "hidden_size": mcfg.d_model,
        "num_hidden_layers": mcfg.n_layer,
        "num_attention_heads": mcfg.n_head,
        "intermediate_size": mcfg.mlp_ratio * mcfg.d_model,
        "hidden_act": "gelu",  # exact erf GELU = torch F.gelu default ("gelu_new" is the tanh form)
        "max_position_embeddings": mcfg.context,
        "layer_norm_eps": mcfg.norm_eps,
        "initializer_range": mcfg.init_std,
        "use_parallel_residual": False,
        "rotary_pct": 1.0,
        "rotary_emb_base": mcfg.rope_base,
        "rope_parameters": {"rope_type": "default", "rope_theta": mcfg.rope_base, "partial_rotary_factor": 1.0},
        "attention_bias": mcfg.bias,
        "attention_dropout": mcfg.dropout,
        "hidden_dropout": mcfg.dropout,
        "tie_word_embeddings": False,
        "use_cache": True,
        "bos_token_id": special_ids.get("bos"),
        "eos_token_id": special_ids.get("eos"),
        "pad_token_id": special_ids.get("pad"),
        "torch_dtype": dtype,
        "dtype": dtype,
        CONFIG_KEY: extra,
    }


def lifted_table(table: "torch.Tensor", mcfg: ModelConfig) -> "torch.Tensor":
    """The [V, d_model] rows our frozen embedding produces for each id (the same reference op)."""
    import torch

    from unicode_substrate.kernels.reference import embed_lift_reference

    ids = torch.arange(mcfg.vocab_size)[None, :]
    return embed_lift_reference(ids, table.float(), mcfg.d_model, mcfg.embed_scale)[0].contiguous()


def _qkv_to_neox(w: "torch.Tensor", mcfg: ModelConfig) -> "torch.Tensor":
    # rows (3, H, head_dim) -> (H, 3, head_dim); works for the weight [3d, d] and the bias [3d]
    H, hd = mcfg.n_head, mcfg.head_dim
    return w.reshape(3, H, hd, *w.shape[1:]).transpose(0, 1).reshape(w.shape).contiguous()


def _qkv_from_neox(w: "torch.Tensor", mcfg: ModelConfig) -> "torch.Tensor":
    H, hd = mcfg.n_head, mcfg.head_dim
    return w.reshape(H, 3, hd, *w.shape[1:]).transpose(0, 1).reshape(w.shape).contiguous()


def to_neox(weights: dict, mcfg: ModelConfig, table: "torch.Tensor | None") -> dict:
    """Our state dict (plus the frozen table) as GPT-NeoX tensors in fp32; zero biases where we have none."""
    import torch

    d, out = mcfg.d_model, {}
    if mcfg.embedding == "frozen":
        if table is None:
            raise SubstrateError("a frozen-embedding model needs its table to export")
        out["gpt_neox.embed_in.weight"] = lifted_table(table, mcfg)
    else:
        out["gpt_neox.embed_in.weight"] = weights["embed.weight"]
    shapes = {"ln1.bias": d, "ln2.bias": d, "attn.proj.bias": d, "mlp.fc.bias": mcfg.mlp_ratio * d, "mlp.proj.bias": d}
    for i in range(mcfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"gpt_neox.layers.{i}."
        for a, b in _BLOCK_PAIRS:
            if ours + a in weights:
                out[theirs + b] = weights[ours + a]
            elif a in shapes and not (a.startswith("attn.") and not mcfg.bias):
                out[theirs + b] = torch.zeros(shapes[a])  # NeoX always has this bias: zero is exact
        out[theirs + "attention.query_key_value.weight"] = _qkv_to_neox(weights[ours + "attn.qkv.weight"], mcfg)
        if mcfg.bias:
            out[theirs + "attention.query_key_value.bias"] = _qkv_to_neox(weights[ours + "attn.qkv.bias"], mcfg)
    for a, b in _TOP_PAIRS:
        out[b] = weights[a] if a in weights else torch.zeros(d)
    return {k: v.detach().float().contiguous() for k, v in out.items()}


def from_neox(tensors: dict, mcfg: ModelConfig, table: "torch.Tensor | None") -> dict:
    """GPT-NeoX tensors back into our state dict; refuses what our model cannot hold exactly.

    For a frozen embedding, ``embed_in`` must equal the lifted ``table`` (the table is the
    run's own, not a weight); with ``bias=False`` the biases NeoX always carries must be zero.
    """
    import torch

    def take(name: str) -> "torch.Tensor":
        if name not in tensors:
            raise SubstrateError(f"the GPT-NeoX weights have no {name}")
        return tensors[name].float()

    expected = {"gpt_neox.embed_in.weight"} | {b for _, b in _TOP_PAIRS}
    out: dict = {}
    embed = take("gpt_neox.embed_in.weight")
    if mcfg.embedding == "frozen":
        if table is None:
            raise SubstrateError("a frozen-embedding model needs its table to import")
        stored = tensors["gpt_neox.embed_in.weight"]  # compared at the stored precision (a bf16 export rounds it)
        if not torch.equal(stored, lifted_table(table, mcfg).to(stored.dtype)):
            raise SubstrateError("embed_in is not the lifted frozen table (it was changed, or the table is another one)")
    else:
        out["embed.weight"] = embed
    for i in range(mcfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"gpt_neox.layers.{i}."
        qkv = [("attn.qkv.weight", "attention.query_key_value.weight"), ("attn.qkv.bias", "attention.query_key_value.bias")]
        for a, b in (*_BLOCK_PAIRS, *qkv):
            name = theirs + b
            if a.endswith("bias") and not mcfg.bias:
                if name in tensors:
                    expected.add(name)
                    if torch.count_nonzero(tensors[name]):
                        raise SubstrateError(f"{name} is not zero, but this model has no biases (bias=False)")
                continue
            expected.add(name)
            t = take(name)
            out[ours + a] = _qkv_from_neox(t, mcfg) if a.startswith("attn.qkv") else t
    for a, b in _TOP_PAIRS:
        if a.endswith("bias") and not mcfg.bias:
            if torch.count_nonzero(take(b)):
                raise SubstrateError(f"{b} is not zero, but this model has no biases (bias=False)")
            continue
        out[a] = take(b)
    extra = sorted(set(tensors) - expected)
    if extra:
        raise SubstrateError(f"the GPT-NeoX weights hold tensors our model has no place for: {', '.join(extra[:3])}")
    return {k: v.contiguous() for k, v in out.items()}
