"""Token data: ``prepare`` turns a corpus into memory-mapped token arrays; ``TokenData`` reads them.

A data directory holds ``train.bin`` and ``val.bin`` (little-endian uint16 when the vocabulary
fits, else uint32; documents joined by the tokenizer's ``</s>``), ``val_docs.npy`` (int64 [n, 2]:
the token end and the cumulative UTF-8 byte end of every validation document, so bits per
byte can be computed exactly over any whole-document prefix) and ``manifest.json`` (kind
``tokens``: tokenizer identity, token and byte counts, sha256 of every file).

Batches are a pure function of (seed, step): resuming or changing the number of processes
never changes which sequences an optimizer step sees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from unicode_substrate.choices import SEPARATOR, SPECIAL_TOKEN_MODES, UNK
from unicode_substrate.artifacts import (atomic_output_dir, read_manifest, check_output, manifest_sha256, recorded_path, resolve_recorded,
                                         verify_manifest, write_manifest)
from unicode_substrate.errors import SubstrateError

DATA_SCHEMA = 1
_BATCH_CHARS = 1 << 22  # characters handed to encode_batch at once: big enough to use every core


def _dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


class _SplitWriter:
    """Appends documents' ids to one split's .bin file and keeps its counts."""

    def __init__(self, path: Path, dtype: np.dtype, separator: int | None):
        self.f = open(path, "wb")
        self.dtype, self.separator = dtype, separator
        self.tokens = self.bytes = self.docs = 0
        self.doc_ends: list[tuple[int, int]] = []

    def add(self, ids: np.ndarray, n_bytes: int) -> None:
        arr = np.asarray(ids, dtype=self.dtype)
        if self.separator is not None and self.docs:
            arr = np.concatenate((np.asarray([self.separator], dtype=self.dtype), arr))
        self.f.write(arr.tobytes())
        self.tokens += len(arr)
        self.bytes += n_bytes
        self.docs += 1
        self.doc_ends.append((self.tokens, self.bytes))

    def close(self) -> None:
        self.f.close()


def write_token_data(
    out: str | Path,
    documents: Iterable[tuple[list[int], int]],
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
    dtype = _dtype(vocab_size)
    with atomic_output_dir(out, force=force, kind="tokens", inputs=inputs) as tmp:
        train = _SplitWriter(tmp / "train.bin", dtype, separator)
        val = _SplitWriter(tmp / "val.bin", dtype, separator)
        try:
            for i, (ids, n_bytes) in enumerate(documents):
                ids = np.asarray(ids)  # a list or the encoder's array
                if len(ids) == 0:
                    continue
                if ids.max() >= vocab_size or ids.min() < 0:
                    raise SubstrateError(f"document {i} has an id outside the vocabulary of {vocab_size}")
                # Document 0 trains; then every val_every-th: a fixed, spread-out validation sample.
                (val if val_every and i % val_every == val_every - 1 else train).add(ids, n_bytes)
        finally:
            train.close()
            val.close()
        if train.tokens < 2 or val.tokens < 2:
            raise SubstrateError(
                f"the corpus is too small to split: {train.docs} training and {val.docs} validation documents "
                f"({train.tokens} and {val.tokens} tokens); give more text or a smaller --val-every"
            )
        np.save(tmp / "val_docs.npy", np.asarray(val.doc_ends, dtype=np.int64))
        write_manifest(
            tmp,
            "tokens",
            DATA_SCHEMA,
            vocab_size=vocab_size,
            dtype=dtype.name,
            tokenizer_manifest_sha256=tokenizer_manifest_sha256,
            separator_id=separator,
            val_every=val_every,
            splits={
                name: {"tokens": w.tokens, "documents": w.docs, "utf8_bytes": w.bytes}
                for name, w in (("train", train), ("val", val))
            },
            **fields,
        )
    return Path(out)


def prepare(
    out: str | Path,
    tokenizer: str | Path,
    corpus: str | Path | None = None,
    lang: str | None = None,
    val_every: int = 50,
    force: bool = False,
    progress: bool = True,
    special_tokens: str = "text",
) -> Path:
    """Tokenize a corpus (None = the built-in one) with every core into a data directory.

    ``special_tokens="text"`` (the default) encodes corpus text that spells a special token
    (``</s>``, ``<unk>``) as plain characters, as Hugging Face's ``split_special_tokens`` does, so
    such text can neither end a document nor pass for an unknown character; ``"special"`` matches
    them as the special tokens, for corpora that use them on purpose."""
    from unicode_substrate.corpus import iter_documents
    from unicode_substrate.progress import Progress
    from unicode_substrate.tokenizer import Tokenizer

    if val_every < 2:
        raise SubstrateError(f"val_every must be at least 2, got {val_every}")
    if special_tokens not in SPECIAL_TOKEN_MODES:
        raise SubstrateError(f"special_tokens must be {' or '.join(SPECIAL_TOKEN_MODES)}, got {special_tokens!r}")
    split = special_tokens == "text"
    inputs = (tokenizer, corpus)
    check_output(out, force=force, kind="tokens", inputs=inputs)  # refused before minutes of tokenizing
    tok = Tokenizer.load(tokenizer)
    separator = tok.token_to_id(SEPARATOR)
    # Characters lost to <unk>, counted while encoding (text spelling "<unk>" is not one); the manifest
    # records this dict after the last document.
    unknown = {"id": tok.token_to_id(UNK), "tokens": 0}
    # the corpus size is not known before reading it: in a log, a line at least every 30 s
    bar = Progress(None, "tokenizing", enabled=progress, unit="bytes", unit_scale=True)

    def encoded() -> Iterable[tuple[np.ndarray, int]]:
        batch: list[str] = []
        chars = 0
        for _, text in iter_documents(corpus, lang=lang):
            batch.append(text)
            chars += len(text)
            if chars >= _BATCH_CHARS:
                yield from flush(batch)
                batch, chars = [], 0
        yield from flush(batch)

    def flush(batch: list[str]) -> Iterable[tuple[np.ndarray, int]]:
        # Arrays, not lists: no Python int per id (about 3x faster over encoding and checking the built-in corpus).
        encoded = tok.encode_batch(batch, workers=os.cpu_count(), as_array=True, split_special_tokens=split)
        for text, ids in zip(batch, encoded):
            n_bytes = len(text.encode("utf-8"))
            bar.update(n_bytes)
            if unknown["id"] is not None:
                unknown["tokens"] += tok.count_unknown(text)
            yield ids, n_bytes

    try:
        return write_token_data(
            out,
            encoded(),
            tok.vocab_size,
            tok.manifest_sha256,
            val_every=val_every,
            separator=separator,
            force=force,
            inputs=inputs,
            corpus=str(corpus) if corpus is not None else "builtin",
            tokenizer_path=recorded_path(tokenizer, out),
            tokenizer_layout=tok.layout,
            unknown=unknown,
            special_tokens=special_tokens,
        )
    finally:
        bar.close()
        tok.close()


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
        manifest = verify_manifest(path, kind="tokens", max_schema=DATA_SCHEMA)
        dtype = np.dtype(manifest["dtype"]).newbyteorder("<")
        arrays = {}
        for split in ("train", "val"):
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
                f"the training split has {n_train} tokens, too few for context {context}; use more text or a shorter --context"
            )
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
