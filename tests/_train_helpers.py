"""Synthetic token data, tables and configurations for the trainer tests (no tokenizer or font needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unicode_substrate.train.config import TrainConfig
from unicode_substrate.tokens import write_token_data

VOCAB = 64
FAKE_TOKENIZER_SHA = "ab" * 32
# A model small enough that a step takes milliseconds on CPU.
TINY_MODEL = {"vocab_size": VOCAB, "d_model": 32, "n_layer": 2, "n_head": 2, "context": 16, "n_embed": 16}


def make_data(out: Path, n_docs: int = 60, doc_len: int = 120, seed: int = 0, tokenizer_sha: str = FAKE_TOKENIZER_SHA,
              vocab: int = VOCAB) -> Path:
    """Documents from a fixed random Markov chain over ``vocab`` ids (learnable, so the loss falls)."""
    rng = np.random.default_rng(seed)
    nxt = rng.integers(0, vocab, size=(vocab, 3))  # each id is followed by one of three ids

    def docs():
        for _ in range(n_docs):
            ids = [int(rng.integers(0, vocab))]
            for _ in range(doc_len - 1):
                ids.append(int(nxt[ids[-1], rng.integers(0, 3)]))
            yield ids, 2 * len(ids)  # pretend every token is two bytes of text

    return write_token_data(out, docs(), vocab, tokenizer_sha, val_every=10, separator=0)


def make_table(out: Path, dim: int = 16, vocab: int = VOCAB, tokenizer_sha: str = FAKE_TOKENIZER_SHA, seed: int = 0,
               method: str = "glyph") -> Path:
    """A random unit-norm frozen table written with the render part's table writer.

    Labelled ``glyph`` by default so the glyph presets the trainer tests use accept it (a
    preset refuses a table of another method); the rows themselves are random.
    """
    from unicode_substrate.table import write_table

    w = np.random.default_rng(seed).standard_normal((vocab, dim)).astype(np.float32)
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    return write_table(out, w, [f"t{i}" for i in range(vocab)], {"method": method,
                                                                    "tokenizer_manifest_sha256": tokenizer_sha})


def tiny_config(**changes) -> TrainConfig:
    """A few-step CPU configuration of the tiny frozen preset."""
    base = TrainConfig(preset="tiny-glyph", model=dict(TINY_MODEL), steps=6, batch_size=4, lr=3e-3, min_lr=3e-4,
                       warmup=2, eval_every=3, eval_batch_size=4, ckpt_every=3, keep_last=2, device="cpu")
    return base.replace(**changes)


def make_char_tokenizer(out: Path, alphabet: str) -> Path:
    """A small character-level BPE tokenizer directory with ``<unk>``, a ``</s>`` special and one merge."""
    from tokenizers import Tokenizer
    from tokenizers.models import BPE

    from unicode_substrate.artifacts import write_manifest

    out.mkdir(parents=True)
    vocab = {"<unk>": 0, "</s>": 1}
    for c in sorted(set(alphabet) | {"t", "h"}):
        vocab.setdefault(c, len(vocab))
    vocab["th"] = len(vocab)
    tok = Tokenizer(BPE(vocab, [("t", "h")], unk_token="<unk>"))
    tok.add_special_tokens(["</s>"])
    tok.save(str(out / "tokenizer.json"))
    write_manifest(out, "tokenizer", 1, layout="test")
    return out


# Two short "documents" repeated: enough for a character tokenizer, a split and a few steps.
CHAR_TEXT = ["the cat sat on the mat. " * 8, "a dog ate the hat! " * 8] * 10


def make_char_corpus(root: Path, texts: list[str] = CHAR_TEXT):
    """A JSONL corpus of ``texts``, a character tokenizer for it, and its token data (the tokenizer, loaded)."""
    import json

    from unicode_substrate.tokenizer import Tokenizer
    from unicode_substrate.data.prepare import prepare

    corpus = root / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    tok_dir = make_char_tokenizer(root / "tok", "".join(texts))
    data = prepare(root / "data", tok_dir, corpus=str(corpus), val_every=5, progress=False)
    return corpus, tok_dir, Tokenizer.load(tok_dir), data
