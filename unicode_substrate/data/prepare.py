"""``substrate prepare --corpus``: a corpus's documents, encoded and written by the one token writer (unicode_substrate/tokens.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from unicode_substrate.artifacts import check_output
from unicode_substrate.errors import SubstrateError
from unicode_substrate.tokens import BATCH_CHARS, KIND, DocumentEncoder, check_special_tokens, write_token_data


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

    ``special_tokens`` as in :class:`unicode_substrate.tokens.DocumentEncoder`: ``"text"`` (the
    default) reads text spelling ``</s>`` or ``<unk>`` as plain characters, ``"special"`` as the
    special tokens."""
    from unicode_substrate.corpus import iter_documents
    from unicode_substrate.progress import Progress
    from unicode_substrate.tokenizer import Tokenizer

    if val_every < 2:
        raise SubstrateError(f"val_every must be at least 2, got {val_every}", param="val_every")
    check_special_tokens(special_tokens)
    inputs = (tokenizer, corpus)
    check_output(out, force=force, kind=KIND, inputs=inputs)  # refused before minutes of tokenizing
    tok = Tokenizer.load(tokenizer)
    encoder = DocumentEncoder(tok, special_tokens)
    # the corpus size is not known before reading it: in a log, a line at least every 30 s
    bar = Progress(None, "tokenizing", enabled=progress, unit="bytes", unit_scale=True)

    def encoded() -> Iterable[tuple[np.ndarray, int]]:
        batch: list[str] = []
        chars = 0
        for _, text in iter_documents(corpus, lang=lang):
            batch.append(text)
            chars += len(text)
            if chars >= BATCH_CHARS:
                yield from flush(batch)
                batch, chars = [], 0
        yield from flush(batch)

    def flush(batch: list[str]) -> Iterable[tuple[np.ndarray, int]]:
        for text, ids in zip(batch, encoder.encode(batch)):
            n_bytes = len(text.encode("utf-8"))
            bar.update(n_bytes)
            yield ids, n_bytes

    try:
        return write_token_data(
            out,
            encoded(),
            tok.vocab_size,
            tok.manifest_sha256,
            val_every=val_every,
            separator=encoder.separator,
            force=force,
            inputs=inputs,
            corpus=str(corpus) if corpus is not None else "builtin",
            **encoder.manifest_fields(tokenizer, out),
        )
    finally:
        bar.close()
        tok.close()
