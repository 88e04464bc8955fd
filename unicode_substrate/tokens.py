"""Token data: the one writer and reader of a data directory's train/validation arrays, its windows and bits per byte.

A data directory holds ``train.bin`` and ``val.bin`` (little-endian uint16 when the vocabulary
fits, else uint32; documents joined by the tokenizer's ``</s>``), ``val_docs.npy`` (int64 [n, 2]:
the token end and the cumulative UTF-8 byte end of every validation document, so bits per
byte can be computed exactly over any whole-document prefix) and ``manifest.json`` (kind
``tokens``: tokenizer identity, token and byte counts, sha256 of every file).

``substrate prepare --corpus`` (data/prepare.py) and ``--recipe`` (data/mix.py) both turn text into
ids with :class:`DocumentEncoder` and write with :class:`TokenWriter`, so a literal ``</s>`` in the
text means the same in both. Training validation (train/trainer.py) and ``eval --data``
(eval/data_score.py) both cut the validation prefix with :func:`window_batch` and report
:func:`val_score`.

Batches are a pure function of (seed, step): resuming or changing the number of processes
never changes which sequences an optimizer step sees.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from unicode_substrate.artifacts import (atomic_output_dir, manifest_sha256, read_manifest, recorded_path,
                                         resolve_recorded, verify_manifest, write_manifest)
from unicode_substrate.choices import SEPARATOR, SPECIAL_TOKEN_MODES, UNK
from unicode_substrate.errors import SubstrateError
from unicode_substrate.metrics import Metric, family, register

KIND = "tokens"
DATA_SCHEMA = 1
SPLITS = ("train", "val")
IGNORE = -100  # target of a window position past the prefix's end: not scored
_WRITE_TOKENS = 1 << 20  # tokens buffered before one write
BATCH_CHARS = 1 << 22  # characters handed to DocumentEncoder.encode at once: big enough to use every core
# How bits per byte are computed, recorded beside every score.
BPB_METHOD = ("non-overlapping windows of `context` tokens over the whole-document prefix of the validation split; "
              "every token but the first predicted once; bits per byte = total nats / ln 2 / UTF-8 bytes of that text")


def dtype_for(vocab_size: int) -> np.dtype:
    """The on-disk id type: uint16 when every id fits, else uint32."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


def check_special_tokens(mode: str) -> None:
    """Refuse a way of reading special-token text other than ``text`` and ``special``."""
    if mode not in SPECIAL_TOKEN_MODES:
        raise SubstrateError(f"special_tokens must be {' or '.join(SPECIAL_TOKEN_MODES)}, got {mode!r}",
                             param="special_tokens")


class DocumentEncoder:
    """Text documents to ids, one way for every writer.

    ``special_tokens="text"`` (the default) encodes text that spells a special token (``</s>``,
    ``<unk>``) as plain characters, as Hugging Face's ``split_special_tokens`` does, so such text
    can neither end a document nor pass for an unknown character; ``"special"`` matches them as
    the special tokens, for corpora that use them on purpose. ``unknown`` counts the characters
    lost to ``<unk>`` (text spelling ``<unk>`` is not one)."""

    def __init__(self, tok, special_tokens: str = "text"):
        check_special_tokens(special_tokens)
        self.tok, self.special_tokens = tok, special_tokens
        self.separator = tok.token_to_id(SEPARATOR)
        self.unknown = {"id": tok.token_to_id(UNK), "tokens": 0}

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """One int32 array per text, every core at work (arrays, not lists: no Python int per id)."""
        ids = self.tok.encode_batch(texts, workers=os.cpu_count(), as_array=True,
                                    split_special_tokens=self.special_tokens == "text")
        if self.unknown["id"] is not None:
            self.unknown["tokens"] += sum(self.tok.count_unknown(t) for t in texts)
        return ids

    def manifest_fields(self, tokenizer: str | Path, out: str | Path) -> dict:
        """What the data manifest at ``out`` records about the tokenizer (directory ``tokenizer``) and the encoding.

        ``unknown`` is this encoder's live count: a manifest written after the last document has the total."""
        return {"tokenizer_path": recorded_path(tokenizer, out), "tokenizer_layout": self.tok.layout,
                "unknown": self.unknown, "special_tokens": self.special_tokens}


class _Split:
    """One split's .bin file: documents appended with one separator between consecutive ones."""

    def __init__(self, path: Path, dtype: np.dtype, separator: int | None, keep_ends: bool):
        self.f = open(path, "wb")
        self.dtype, self.separator, self.keep_ends = dtype, separator, keep_ends
        self.tokens = self.bytes = self.docs = 0
        self.ends: list[np.ndarray] = []  # (token end, byte end) per document, validation only
        self.buf: list[np.ndarray] = []
        self.buffered = 0

    def add_one(self, ids: np.ndarray, n_bytes: int) -> int:
        """Append one document; the fast path for a document at a time (no index arithmetic)."""
        arr = np.asarray(ids).astype(self.dtype, copy=False)
        n = len(arr)
        if self.separator is not None and self.docs:
            self.buf.append(np.asarray([self.separator], dtype=self.dtype))
            n += 1
        self.buf.append(arr)
        self.buffered += n
        self.tokens += n
        self.bytes += n_bytes
        self.docs += 1
        if self.keep_ends:
            self.ends.append(np.asarray([[self.tokens, self.bytes]], dtype=np.int64))
        if self.buffered >= _WRITE_TOKENS:
            self.flush()
        return n

    def add(self, flat: np.ndarray, lengths: np.ndarray, sizes: np.ndarray) -> int:
        """Append documents given as their ids end to end; returns the tokens written (separators included)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        chunk = np.asarray(flat).astype(self.dtype, copy=False)
        with_sep = lengths
        if self.separator is not None:
            mask = np.arange(len(lengths)) + self.docs > 0  # every document but the split's first gets one
            if mask.any():
                starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
                chunk = np.insert(chunk, starts[mask], self.separator).astype(self.dtype)
                with_sep = lengths + mask
        if self.keep_ends:
            self.ends.append(np.stack((self.tokens + np.cumsum(with_sep), self.bytes + np.cumsum(sizes)), axis=1))
        self.buf.append(chunk)
        self.buffered += len(chunk)
        if self.buffered >= _WRITE_TOKENS:
            self.flush()
        n = int(with_sep.sum())
        self.tokens += n
        self.bytes += int(np.sum(sizes))
        self.docs += len(lengths)
        return n

    def flush(self) -> None:
        if self.buf:
            self.f.write(np.concatenate(self.buf).tobytes())
            self.buf, self.buffered = [], 0

    def close(self) -> None:
        self.flush()
        self.f.close()

    def counts(self) -> dict:
        return {"tokens": self.tokens, "documents": self.docs, "utf8_bytes": self.bytes}


class TokenWriter:
    """Writes ``train.bin``, ``val.bin``, ``val_docs.npy`` and the manifest into ``folder`` (an atomic output folder).

    Documents go in through :meth:`add` (one) or :meth:`add_many` (ids end to end), each split
    in its own order; :meth:`finish` refuses splits too short to train or validate on and writes
    the manifest last."""

    def __init__(self, folder: Path, vocab_size: int, separator: int | None):
        self.folder, self.vocab_size, self.separator = Path(folder), vocab_size, separator
        self.dtype = dtype_for(vocab_size)
        self.splits = {s: _Split(self.folder / f"{s}.bin", self.dtype, separator, keep_ends=s == "val") for s in SPLITS}

    def add(self, split: str, ids: Sequence[int] | np.ndarray, n_bytes: int) -> int:
        """Append one document (its ids and UTF-8 byte count); returns the tokens written."""
        return self.splits[split].add_one(np.asarray(ids), n_bytes)

    def add_many(self, split: str, flat: np.ndarray, lengths: np.ndarray, sizes: np.ndarray) -> int:
        """Append ``len(lengths)`` documents whose ids lie end to end in ``flat``; returns the tokens written."""
        return self.splits[split].add(flat, lengths, sizes)

    def close(self) -> None:
        for s in self.splits.values():
            if not s.f.closed:
                s.close()

    def counts(self) -> dict:
        """Tokens, documents and UTF-8 bytes per split so far."""
        return {name: s.counts() for name, s in self.splits.items()}

    def val_ends(self) -> np.ndarray:
        """int64 [documents, 2]: the token and UTF-8 byte end of every validation document so far."""
        ends = self.splits["val"].ends
        return np.concatenate(ends).astype(np.int64) if ends else np.zeros((0, 2), np.int64)

    def finish(self, tokenizer_manifest_sha256: str, val_every: int, what: str = "corpus", **fields) -> dict:
        """Close the splits, refuse too short ones, write ``val_docs.npy`` and the manifest (``fields`` added)."""
        self.close()
        counts = self.counts()
        train, val = counts["train"], counts["val"]
        if train["tokens"] < 2 or val["tokens"] < 2:
            raise SubstrateError(
                f"the {what} is too small to split: {train['documents']} training and {val['documents']} validation "
                f"documents ({train['tokens']} and {val['tokens']} tokens); give more text or a smaller "
                f"validation interval (now every {val_every}th document)", param="val_every")
        np.save(self.folder / "val_docs.npy", self.val_ends())
        return write_manifest(self.folder, KIND, DATA_SCHEMA, vocab_size=self.vocab_size, dtype=self.dtype.name,
                              tokenizer_manifest_sha256=tokenizer_manifest_sha256, separator_id=self.separator,
                              val_every=val_every, splits=counts, **fields)


def is_val(ordinal: int, val_every: int) -> bool:
    """Document 0 trains; then every ``val_every``-th validates: a fixed, spread-out validation sample."""
    return bool(val_every) and ordinal % val_every == val_every - 1


def write_token_data(
    out: str | Path,
    documents: Iterable[tuple[Sequence[int] | np.ndarray, int]],
    vocab_size: int,
    tokenizer_manifest_sha256: str,
    val_every: int = 50,
    separator: int | None = None,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    **fields,
) -> Path:
    """Write a data directory from ``(ids, utf8_bytes)`` per document; every ``val_every``-th goes to validation.

    ``inputs`` are the paths the documents come from: the output may never be one of them.
    """
    with atomic_output_dir(out, force=force, kind=KIND, inputs=inputs) as tmp:
        writer = TokenWriter(tmp, vocab_size, separator)
        try:
            for i, (ids, n_bytes) in enumerate(documents):
                ids = np.asarray(ids)  # a list or the encoder's array
                if len(ids) == 0:
                    continue
                if ids.max() >= vocab_size or ids.min() < 0:
                    raise SubstrateError(f"document {i} has an id outside the vocabulary of {vocab_size}")
                writer.add("val" if is_val(i, val_every) else "train", ids, n_bytes)
        finally:
            writer.close()
        writer.finish(tokenizer_manifest_sha256, val_every, **fields)
    return Path(out)


@dataclass(frozen=True)
class TokenData:
    """A verified data directory: memory-mapped splits and the manifest."""

    path: Path
    manifest: dict
    manifest_sha256: str
    train: np.ndarray
    val: np.ndarray
    val_docs: np.ndarray

    @classmethod
    def load(cls, path: str | Path) -> "TokenData":
        """Open a data directory written by ``prepare``, verifying every file's sha256."""
        path = Path(path)
        manifest = verify_manifest(path, kind=KIND, max_schema=DATA_SCHEMA)
        dtype = np.dtype(manifest["dtype"]).newbyteorder("<")
        arrays = {}
        for split in SPLITS:
            n = int(manifest["splits"][split]["tokens"])
            f = path / f"{split}.bin"
            if f.stat().st_size != n * dtype.itemsize:
                raise SubstrateError(f"{f} has {f.stat().st_size} bytes, not the {n} tokens the manifest says")
            arrays[split] = np.memmap(f, dtype=dtype, mode="r", shape=(n,))
        val_docs = np.load(path / "val_docs.npy", allow_pickle=False)
        return cls(path, manifest, manifest_sha256(path), arrays["train"], arrays["val"], val_docs)

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])

    @property
    def tokenizer_dir(self) -> Path | None:
        """The tokenizer directory the data was made with, where it is now (recorded relative to the data)."""
        return resolve_recorded(self.manifest.get("tokenizer_path"), self.path)

    @property
    def tokenizer_sha256(self) -> str:
        return str(self.manifest["tokenizer_manifest_sha256"])

    def check_context(self, context: int) -> None:
        """Refuse splits too short to hold one training sequence of ``context`` tokens plus its target."""
        n_train, n_val = len(self.train), len(self.val)
        if n_train < context + 2:
            raise SubstrateError(
                f"the training split has {n_train} tokens, too few for context {context}; use more text or a shorter context",
                param="context")
        if n_val < 2:
            raise SubstrateError(f"the validation split has {n_val} tokens; use more text")

    def train_batch(self, seed: int, step: int, rows: slice, global_rows: int, context: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and targets [len(rows), context] for the given rows of step ``step``'s global batch."""
        rng = np.random.default_rng([seed, step])
        starts = rng.integers(0, len(self.train) - context - 1, size=global_rows, endpoint=True)[rows]
        idx = starts[:, None] + np.arange(context + 1)[None, :]
        chunk = np.asarray(self.train[idx], dtype=np.int64)
        return np.ascontiguousarray(chunk[:, :-1]), np.ascontiguousarray(chunk[:, 1:])

    def val_range(self, max_tokens: int = 0) -> tuple[int, int]:
        """(tokens, utf8 bytes) of the validation prefix evaluated: whole documents, at most ``max_tokens`` (0 = all)."""
        ends = self.val_docs
        if max_tokens <= 0 or max_tokens >= int(ends[-1, 0]):
            return int(ends[-1, 0]), int(ends[-1, 1])
        k = int(np.searchsorted(ends[:, 0], max_tokens, side="right")) - 1
        k = max(k, 0)  # at least the first document, even if it is longer than the cap
        return int(ends[k, 0]), int(ends[k, 1])

    def val_prefix(self, max_tokens: int = 0) -> tuple[np.ndarray, int]:
        """The ids (int64) of the validation prefix :meth:`val_range` picks, and its UTF-8 bytes."""
        n_tok, n_bytes = self.val_range(max_tokens)
        return np.asarray(self.val[:n_tok], dtype=np.int64), n_bytes


def n_windows(n_tokens: int, context: int) -> int:
    """Non-overlapping windows of ``context`` predictions that cover every token of a prefix but the first."""
    return max(1, math.ceil((n_tokens - 1) / context))


def window_batch(ids: np.ndarray, windows: Sequence[int], context: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets [len(windows), context] of the given windows of ``ids``; positions past the end are
    padded (input 0, target ``IGNORE``). A window number at or past :func:`n_windows` gives an all-ignored row."""
    x = np.zeros((len(windows), context), dtype=np.int64)
    y = np.full((len(windows), context), IGNORE, dtype=np.int64)
    for r, w in enumerate(windows):
        seg = ids[w * context : w * context + context + 1]
        if len(seg) >= 2:
            x[r, : len(seg) - 1] = seg[:-1]
            y[r, : len(seg) - 1] = seg[1:]
    return x, y


def _loss_per_token(nats: float, predicted: int | float, n_bytes: int) -> float:
    return nats / max(predicted, 1)


def _bits_per_byte(nats: float, predicted: int | float, n_bytes: int) -> float:
    return nats / math.log(2) / max(n_bytes, 1)


register(Metric("val_loss", "validation", "val loss", higher_is_better=False, digits=4,
                description="validation loss: nats per predicted token", fn=_loss_per_token))
register(Metric("val_bpb", "validation", "val bits/byte", higher_is_better=False, digits=4, headline=True,
                description="validation bits per byte: total nats / ln 2 / UTF-8 bytes of the text", fn=_bits_per_byte))


def val_score(nats: float, predicted: int | float, n_bytes: int) -> dict:
    """Every registered validation metric of a pass over validation windows: loss and bits per byte."""
    return {m.name: m.fn(nats, predicted, n_bytes) for m in family("validation")}


def unknown_warning(data_dir: str | Path) -> str | None:
    """A warning when the text lost characters to <unk> (a paper layout on emoji or astral scripts), else None."""
    m = read_manifest(data_dir)
    n = (m.get("unknown") or {}).get("tokens", 0)
    if not n:
        return None
    total = sum(s["tokens"] for s in m["splits"].values())
    layout = m.get("tokenizer_layout") or "unknown"
    hint = ("; the lossless layout encodes every character (substrate build-tokenizer --layout lossless)"
            if layout != "lossless" else "")
    return (f"warning: {n:,} of {total:,} tokens ({n / total:.1%}) are <unk>: layout {layout} has no id for some characters "
            f"of this text (emoji, scripts above U+FFFF, private use){hint}")
