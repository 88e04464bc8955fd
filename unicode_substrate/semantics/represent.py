"""The representation of a word at every level of a model: its tokens' states, averaged.

* Level 0: the input rows of the word's tokens as the first block reads them, that is lifted to
  the model width as the model lifts them (our frozen tables: ``repeat_interleave`` and the
  embedding scale; a Hugging Face model: its embedding output, position embeddings included
  where the model adds them there). Lifting by repetition and scaling leaves every cosine
  unchanged, so level 0 of a frozen run measures exactly what its bare table does.
* Level l (1 .. L): the residual stream after block l at the word's tokens. The last level is
  taken before the final LayerNorm, like every other; transformers' ``hidden_states[L]`` is
  that LayerNorm applied to it.

Bare, a word is encoded alone; with sentence templates (``"The {word} is"``) it is encoded inside
each sentence, its tokens are those whose character offsets overlap the word, and the
representation is the mean over templates. The states come from forward hooks on the model's
blocks (the first block's input and every block's output), so the models themselves are
unchanged, and one code path serves our runs and Hugging Face models alike.

A word that encodes to ``<unk>`` anywhere has no representation of its own: it is left out,
named, and counted (``Representations.dropped``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from unicode_substrate.errors import SubstrateError
from unicode_substrate.semantics.groups import WORD, WordGroups

BATCH = 64  # sequences per forward pass


@dataclass(frozen=True)
class Representations:
    """Every level's vector of every kept word: ``levels`` [L + 1, n, d] (float64)."""

    lang: str
    groups: WordGroups  # the kept words and their groups
    levels: np.ndarray
    dropped: tuple[str, ...] = ()  # words the tokenizer maps to <unk>, left out
    small: tuple[str, ...] = ()  # groups left with fewer than two words once those went


# text -> (ids, character offsets of each id); special tokens carry an empty span.
Encoder = Callable[[str], tuple[list[int], list[tuple[int, int]]]]


@dataclass
class Source:
    """A model, or a bare table, that gives states per level for batches of token ids."""

    description: dict
    encode: Encoder
    unk_id: int | None
    n_levels: int
    states: Callable[[list[list[int]]], list[np.ndarray]]  # batch -> per level [B, T, d]
    static: bool = False  # a bare table: level 0 only, the same for any context


def _library_encoder(tokenizer_dir: Path) -> tuple[Encoder, int | None]:
    """Ids and offsets of our tokenizer through the Hugging Face ``tokenizers`` library, whose ids ours equal."""
    from tokenizers import Tokenizer as HFTokenizer

    from unicode_substrate.choices import TOKENIZER_JSON

    hf = HFTokenizer.from_file(str(Path(tokenizer_dir) / TOKENIZER_JSON))
    unk = getattr(hf.model, "unk_token", None)

    def encode(text: str):
        e = hf.encode(text, add_special_tokens=False)
        return list(e.ids), [tuple(o) for o in e.offsets]

    return encode, (hf.token_to_id(unk) if unk else None)


def _transformers_encoder(tok) -> tuple[Encoder, int | None]:
    """Ids (with the tokenizer's own special tokens, as the model was trained) and offsets of a fast HF tokenizer."""
    if not getattr(tok, "is_fast", False):
        raise SubstrateError("the model's tokenizer is not a fast (tokenizer.json) one: its word offsets are unknown")

    def encode(text: str):
        e = tok(text, return_offsets_mapping=True)
        return list(e["input_ids"]), [tuple(o) for o in e["offset_mapping"]]

    return encode, tok.unk_token_id


def block_list(model):
    """The model's list of Transformer blocks: ``blocks`` of our GPT, the decoder layers of a HF model."""
    import torch.nn as nn

    if isinstance(getattr(model, "blocks", None), nn.ModuleList):
        return model.blocks
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    base = getattr(model, "base_model", model)
    for _, child in base.named_children():
        if isinstance(child, nn.ModuleList) and len(child) == n:
            return child
    raise SubstrateError(f"cannot find the Transformer blocks of {type(model).__name__} (a fusion of experts has none of "
                         "its own: measure its experts)")


def _model_states(model, forward, device: str):
    """A ``states`` function: the first block's input and every block's output, by forward hooks."""
    import torch

    blocks = block_list(model)

    def states(batch: list[list[int]]) -> list[np.ndarray]:
        width = max(len(s) for s in batch)
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for b, s in enumerate(batch):  # right-padded: a causal model's states at real tokens ignore the padding
            ids[b, :len(s)] = torch.tensor(s)
            mask[b, :len(s)] = 1
        got: list = []

        def before(module, args, kwargs):
            got.append(args[0] if args else kwargs["hidden_states"])

        def after(module, args, output):
            got.append(output[0] if isinstance(output, tuple) else output)

        hooks = [blocks[0].register_forward_pre_hook(before, with_kwargs=True)]
        hooks += [b.register_forward_hook(after) for b in blocks]
        try:
            with torch.inference_mode():
                forward(ids.to(device), mask.to(device))
        finally:
            for h in hooks:
                h.remove()
        return [g.float().cpu().numpy() for g in got]

    return states, len(blocks) + 1


def model_source(model, encode: Encoder, unk_id: int | None, description: dict, device: str = "cpu") -> Source:
    """Any model with a list of blocks: our ``GPT`` (read through ``hidden``) or a Hugging Face causal LM."""
    if hasattr(model, "hidden"):
        def forward(ids, mask):
            return model.hidden(ids)
    else:
        def forward(ids, mask):
            return model.base_model(input_ids=ids, attention_mask=mask)
    states, n = _model_states(model, forward, device)
    return Source(description, encode, unk_id, n, states)


def run_source(run: str | Path, device: str = "cpu") -> Source:
    """A training run of this toolkit at its newest checkpoint, loaded as evaluation loads it."""
    from unicode_substrate.eval.models import RunModel

    m = RunModel(run, device=device)
    encode, unk = _library_encoder(m.tok.path)
    return model_source(m.model, encode, unk, m.description, device)


def hf_source(path: str | Path, device: str = "cpu") -> Source:
    """A Hugging Face causal LM directory, loaded offline as evaluation loads it."""
    from unicode_substrate.eval.hf import HFModel

    m = HFModel(path, device=device)
    encode, unk = _transformers_encoder(m.tok)
    return model_source(m.model, encode, unk, m.description, device)


def table_source(table: str | Path, tokenizer: str | Path) -> Source:
    """A bare table (ours or imported) with the tokenizer it was made for: level 0 only."""
    from unicode_substrate.artifacts import manifest_sha256
    from unicode_substrate.table import load_table
    from unicode_substrate.tokenizer import Tokenizer

    tok = Tokenizer.load(tokenizer)
    t = load_table(table, tokenizer=tok)
    if t.vocab_size != tok.vocab_size:
        raise SubstrateError(f"table {table} has {t.vocab_size} rows but tokenizer {tokenizer} has {tok.vocab_size} tokens: "
                             "the vocabularies differ", param="table")
    weight = np.asarray(t.weight)
    encode, unk = _library_encoder(tok.path)

    def states(batch):
        width = max(len(s) for s in batch)
        out = np.zeros((len(batch), width, weight.shape[1]), dtype=np.float32)
        for b, s in enumerate(batch):
            out[b, :len(s)] = weight[s]
        return [out]

    return Source({"kind": "table", "table": str(table), "table_manifest_sha256": manifest_sha256(table),
                   "tokenizer": str(tokenizer), "method": t.manifest.get("method")}, encode, unk, 1, states, static=True)


def _locate(encode: Encoder, template: str, word: str) -> tuple[list[int], list[int]]:
    """The ids of ``template`` filled with ``word`` and the positions of the word's tokens."""
    a = template.index(WORD)
    b = a + len(word)
    ids, offsets = encode(template.replace(WORD, word))
    pos = [i for i, (s, e) in enumerate(offsets) if s < b and e > a]
    if not pos:
        raise SubstrateError(f"the word {word!r} has no tokens of its own in {template!r}")
    return ids, pos


def represent(source: Source, groups: WordGroups) -> Representations:
    """Every level's representation of every word of ``groups`` the tokenizer knows."""
    dropped = []
    for w in groups.words:
        ids, pos = _locate(source.encode, WORD, w)
        if source.unk_id is not None and source.unk_id in [ids[p] for p in pos]:
            dropped.append(w)
    kept = groups.without(set(dropped))
    small = tuple(g for g in groups.groups if g not in kept.groups)
    templates = groups.templates if groups.templates and not source.static else (WORD,)
    seqs, where = [], []  # where: (word index, positions)
    for i, w in enumerate(kept.words):
        for t in templates:
            ids, pos = _locate(source.encode, t, w)
            if source.unk_id is not None and source.unk_id in [ids[p] for p in pos]:
                raise SubstrateError(f"the word {w!r} encodes to <unk> inside {t!r}")
            seqs.append(ids)
            where.append((i, pos))
    sums: np.ndarray | None = None
    order = sorted(range(len(seqs)), key=lambda j: len(seqs[j]))  # batches of similar lengths: little padding
    for start in range(0, len(order), BATCH):
        chunk = order[start:start + BATCH]
        levels = source.states([seqs[j] for j in chunk])
        if sums is None:
            sums = np.zeros((len(levels), len(kept.words), levels[0].shape[-1]), dtype=np.float64)
        for b, j in enumerate(chunk):
            i, pos = where[j]
            for k, states in enumerate(levels):
                sums[k, i] += states[b, pos].mean(axis=0, dtype=np.float64)
    if sums is None:
        sums = np.zeros((source.n_levels, 0, 1))
    return Representations(groups.lang, kept, sums / len(templates), tuple(dropped), small)
