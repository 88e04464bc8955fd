"""Build one data directory from a recipe's sources, each source's share of the training tokens met within 1 %.

Two passes. The first streams every source's documents through the encoder (every core) into
per-source spool files: the tokens and, per document, its token and UTF-8 byte count (no
per-document Python object is kept, so memory stays flat however large the corpus). Every
``val_every``-th document of a source goes to that source's validation spool. The plan then gives
each source ``share * N`` training tokens, N being the recipe's ``tokens`` or, when 0, the
smallest total that reads every source at least once; a source that runs short is repeated
(whole epochs, then a prefix of its documents) up to its ``max_epochs``. The second pass
interleaves the sources: the k-th of a source's n documents is keyed ``(k + u) / n`` with
``u`` uniform from the seed, and the streams are merged by key, so each source is spread
evenly and the order depends only on the seed.

Validation keeps sources apart: ``val.bin`` holds the text sources first, then the
question-answering ones, each a contiguous run of whole documents that the manifest records
(``sources[].val.documents`` as a [start, end) range of ``val_docs.npy`` rows), so bits per
byte can be computed on the text sources alone; ``val_text`` in the manifest gives that prefix.

Documents are encoded and the splits written by ``unicode_substrate/tokens.py``, as for
``prepare --corpus``: a one-source recipe writes the same arrays as ``--corpus`` on its files.
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Sequence

import numpy as np

from unicode_substrate.artifacts import atomic_output_dir, check_output, sha256_file
from unicode_substrate.errors import SubstrateError
from unicode_substrate.progress import Progress
from unicode_substrate.tokens import BATCH_CHARS, KIND, DocumentEncoder, TokenWriter, check_special_tokens, dtype_for, is_val
from unicode_substrate.data.recipe import SHARE_TOLERANCE, Recipe, Source

_SCAN_DOCS = 1 << 16  # documents read from a spool index at once


@dataclass(frozen=True)
class SourceInput:
    """A recipe source with the files it reads and its documents (rendered text, in a fixed order)."""

    source: Source
    files: tuple[Path, ...]
    documents: Callable[[], Iterator[str]]


@dataclass
class _Spool:
    """One split of one source: tokens (unless only counting) and an int64 (tokens, bytes) row per document."""

    tokens_file: IO[bytes] | None
    index_file: IO[bytes]
    index_path: Path | None = None
    tokens_path: Path | None = None
    docs: int = 0
    tokens: int = 0
    bytes: int = 0

    def add(self, arrays: list[np.ndarray], sizes: list[int], dtype: np.dtype) -> None:
        if not arrays:
            return
        lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
        if self.tokens_file is not None:
            self.tokens_file.write(np.concatenate(arrays).astype(dtype, copy=False).tobytes())
        rows = np.stack((lengths, np.asarray(sizes, dtype=np.int64)), axis=1)
        self.index_file.write(rows.astype("<i8").tobytes())
        self.docs += len(arrays)
        self.tokens += int(lengths.sum())
        self.bytes += int(rows[:, 1].sum())

    def close(self) -> None:
        if self.tokens_file is not None:
            self.tokens_file.close()
        self.index_file.flush()

    def index_chunks(self) -> Iterator[np.ndarray]:
        """The (docs, 2) index in chunks, read from the file (not memory-mapped: mapped pages would count as
        resident memory and grow with the corpus)."""
        f = open(self.index_path, "rb") if self.index_path is not None else self.index_file
        try:
            f.seek(0)
            while block := f.read(16 * _SCAN_DOCS):
                yield np.frombuffer(block, dtype="<i8").reshape(-1, 2)
        finally:
            if self.index_path is not None:
                f.close()


@dataclass
class _Read:
    """What the first pass learned about one source."""

    inp: SourceInput
    train: _Spool
    val: _Spool
    read: int = 0  # documents read
    dropped: int = 0  # dropped by the screen (contamination)
    empty: int = 0  # documents that encode to no token
    plan: dict = field(default_factory=dict)


def _check_free_disk(out: Path, need: int) -> None:
    """Refuse a mix whose planned train.bin alone is larger than the free space where it would be written."""
    where = out.absolute().parent
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if need > free:
        raise SubstrateError(f"the recipe's training tokens need {need / 2**30:,.1f} GiB for train.bin alone, and "
                             f"{where} has {free / 2**30:,.1f} GiB free; ask for fewer tokens or write elsewhere",
                             param="out")


def build_mix(
    out: str | Path | None,
    recipe: Recipe,
    inputs: Sequence[SourceInput],
    tokenizer: str | Path,
    screen: Callable[[int, int, str], bool] | None = None,
    after_read: Callable[[Path | None], dict] | None = None,
    dry_run: bool = False,
    force: bool = False,
    progress: bool = False,
    input_paths: Iterable[str | Path | None] = (),
    special_tokens: str = "text",
) -> Path | list[dict]:
    """Write the mixed data directory (or, with ``dry_run``, return the plan per source and write nothing).

    ``screen(source_index, ordinal, text)`` returns True to drop a document; ``after_read(tmp)``
    runs after the first pass (tmp is the output folder being written, None in a dry run) and returns
    manifest fields. ``special_tokens`` as in :class:`unicode_substrate.tokens.DocumentEncoder`.
    """
    from unicode_substrate.tokenizer import Tokenizer

    check_special_tokens(special_tokens)
    paths = [recipe.path, tokenizer, *input_paths, *(f for inp in inputs for f in inp.files)]
    if not dry_run:
        check_output(out, force=force, kind=KIND, inputs=paths)  # refused before minutes of tokenizing
    tok = Tokenizer.load(tokenizer)
    if not dry_run and recipe.tokens:
        _check_free_disk(Path(out), recipe.tokens * dtype_for(tok.vocab_size).itemsize)
    encoder = DocumentEncoder(tok, special_tokens)
    try:
        if dry_run:
            with tempfile.TemporaryDirectory(prefix="substrate-plan-") as scratch:
                reads = _first_pass(recipe, inputs, encoder, None, screen, progress, Path(scratch))
                plan = _plan(recipe, reads)
                if after_read is not None:
                    after_read(None)
                return plan
        with atomic_output_dir(out, force=force, kind=KIND, inputs=paths) as tmp:
            spool = tmp / ".spool"
            spool.mkdir()
            reads = _first_pass(recipe, inputs, encoder, spool, screen, progress, spool)
            _plan(recipe, reads)
            extra = after_read(tmp) if after_read is not None else {}
            writer = TokenWriter(tmp, tok.vocab_size, encoder.separator)
            try:
                _write_train(writer, recipe, reads)
                _write_val(writer, reads)
            finally:
                writer.close()
                for r in reads:
                    for sp in (r.train, r.val):
                        sp.index_file.close()
            _remove_tree(spool)
            writer.finish(
                tok.manifest_sha256, recipe.val_every, what="mix",
                corpus="recipe", recipe={"path": str(recipe.path) if recipe.path else None, "seed": recipe.seed,
                                         "tokens": recipe.tokens},
                **encoder.manifest_fields(tokenizer, out),
                sources=[_manifest_source(r, recipe) for r in reads], val_text=_val_text(reads, writer.val_ends()),
                **extra,
            )
        return Path(out)
    finally:
        tok.close()


def _remove_tree(path: Path) -> None:
    for p in sorted(path.iterdir()):
        p.unlink()
    path.rmdir()


def _first_pass(recipe, inputs, encoder: DocumentEncoder, spool_dir, screen, progress, scratch) -> list[_Read]:
    """Encode every source into its spools (the encoder counts the <unk> characters)."""
    dtype = dtype_for(encoder.tok.vocab_size)
    bar = Progress(None, "tokenizing", enabled=progress, unit="bytes", unit_scale=True)  # as prepare --corpus
    reads = []
    try:
        for si, inp in enumerate(inputs):
            spools = []
            for split in ("train", "val"):
                if spool_dir is None:
                    spools.append(_Spool(None, tempfile.TemporaryFile(dir=scratch)))
                else:
                    tp, ip = spool_dir / f"{si}.{split}.bin", spool_dir / f"{si}.{split}.idx"
                    spools.append(_Spool(open(tp, "wb"), open(ip, "w+b"), ip, tp))
            r = _Read(inp, *spools)
            reads.append(r)
            name = inp.source.name
            batch: list[tuple[int, str]] = []
            chars = 0

            def flush() -> None:
                if not batch:
                    return
                texts = [t for _, t in batch]
                ids = encoder.encode(texts)
                out = {"train": ([], []), "val": ([], [])}
                for (ordinal, text), a in zip(batch, ids):
                    if len(a) == 0:
                        r.empty += 1
                        continue
                    split = "val" if is_val(ordinal, recipe.val_every) else "train"
                    out[split][0].append(a)
                    out[split][1].append(len(text.encode("utf-8")))
                for split, sp in (("train", r.train), ("val", r.val)):
                    arrays, sizes = out[split]
                    sp.add(arrays, sizes, dtype)
                    bar.set_postfix(f"source {name}")
                    bar.update(sum(sizes))
                batch.clear()

            for ordinal, text in enumerate(inp.documents()):
                r.read += 1
                if screen is not None and screen(si, ordinal, text):
                    r.dropped += 1
                    continue
                batch.append((ordinal, text))
                chars += len(text)
                if chars >= BATCH_CHARS:
                    flush()
                    chars = 0
            flush()
            r.train.close()
            r.val.close()
            where = inp.source.given_path or "the built-in corpus"
            if r.read == 0:
                raise SubstrateError(f"source {name!r}: no documents in {where}")
            if r.train.docs == 0:
                raise SubstrateError(f"source {name!r}: none of its {r.read} documents is left for training "
                                     f"({r.dropped} dropped as contaminated, {r.empty} empty)")
            bar.write(f"source {name}: {r.read:,} documents, {r.train.tokens + r.val.tokens:,} tokens")
    finally:
        bar.close()
    return reads


def _prefix(spool: _Spool, want: float) -> tuple[int, int]:
    """The number of leading documents (and their tokens, one separator each) closest to ``want`` tokens."""
    total = start = 0
    for rows in spool.index_chunks():
        cum = total + np.cumsum(rows[:, 0] + 1)
        j = int(np.searchsorted(cum, want))
        if j < len(cum):
            below = int(cum[j - 1]) if j > 0 else total
            take = j if want - below <= int(cum[j]) - want else j + 1
            return start + take, (below if take == j else int(cum[j]))
        total, start = int(cum[-1]), start + len(rows)
    return start, total


def _plan(recipe: Recipe, reads: list[_Read]) -> list[dict]:
    """Epochs and documents per source; refuses a recipe whose shares cannot be met."""
    one_epoch = [r.train.tokens + r.train.docs for r in reads]  # a separator per document
    total = recipe.tokens or max(t / r.inp.source.share for t, r in zip(one_epoch, reads))
    emitted = []
    for t, r in zip(one_epoch, reads):
        s = r.inp.source
        want = s.share * total
        epochs = want / t
        if epochs > s.max_epochs * (1 + 1e-9):
            raise SubstrateError(
                f"source {s.name!r} cannot meet share {s.share:g}: {want:,.0f} of {total:,.0f} training tokens would need "
                f"{epochs:.2f} epochs of its {t:,} tokens, above max_epochs {s.max_epochs:g} "
                f"(short by {want - s.max_epochs * t:,.0f} tokens)")
        full = int(want // t)
        docs, tokens = _prefix(r.train, want - full * t)
        emitted.append((full, docs, full * t + tokens))
    grand = sum(e[2] for e in emitted)
    plan = []
    for (full, docs, tokens), t, r in zip(emitted, one_epoch, reads):
        s = r.inp.source
        share = tokens / grand if grand else 0.0
        if abs(share - s.share) > SHARE_TOLERANCE or tokens == 0:
            raise SubstrateError(
                f"source {s.name!r} cannot meet share {s.share:g} within {SHARE_TOLERANCE:.0%}: its documents are too "
                f"long for {grand:,} training tokens (it would get {share:.4f}, off by {abs(share - s.share):.4f})")
        r.plan = {"epochs_full": full, "partial_documents": docs, "documents": full * r.train.docs + docs,
                  "tokens": tokens, "epochs": tokens / t, "share": share}
        plan.append({"name": s.name, "format": s.format, "documents": r.read, "dropped": r.dropped,
                     "train_documents": r.train.docs, "val_documents": r.val.docs, "tokens": r.train.tokens,
                     "bytes": r.train.bytes, "epochs": tokens / t, "target_share": s.share, "share": share,
                     "train_tokens": tokens})
    return plan


class _Reader:
    """A source's training documents in order, read from its spool, wrapping round at every epoch's end."""

    def __init__(self, r: _Read, dtype: np.dtype):
        self.spool, self.dtype = r.train, dtype
        self.f = open(r.train.tokens_path, "rb")
        self.chunks = iter(())
        self.rows = np.zeros((0, 2), dtype="<i8")
        self.row = self.doc = 0

    def next(self) -> tuple[np.ndarray, int]:
        if self.doc == self.spool.docs:  # another epoch: from the start
            self.f.seek(0)
            self.chunks, self.rows, self.row, self.doc = iter(()), self.rows[:0], 0, 0
        if self.doc == 0 and not len(self.rows):
            self.chunks = self.spool.index_chunks()
        if self.row == len(self.rows):
            self.rows, self.row = next(self.chunks), 0
        n, b = self.rows[self.row]
        self.row += 1
        self.doc += 1
        return np.frombuffer(self.f.read(int(n) * self.dtype.itemsize), dtype=self.dtype), int(b)

    def close(self) -> None:
        self.f.close()
        self.chunks = iter(())


def _keys(seed: int, i: int, n: int) -> Iterator[float]:
    """``(k + u_k) / n`` for k = 0..n-1, u uniform from (seed, source): increasing, spread over [0, 1)."""
    rng = np.random.default_rng([seed, i])
    for start in range(0, n, _SCAN_DOCS):
        u = rng.random(min(_SCAN_DOCS, n - start))
        yield from ((np.arange(start, start + len(u)) + u) / n).tolist()


def _write_train(writer: TokenWriter, recipe: Recipe, reads: list[_Read]) -> None:
    """The training split: the sources' documents interleaved by key (the module's docstring)."""
    readers = [_Reader(r, writer.dtype) for r in reads]
    keys = [_keys(recipe.seed, i, r.plan["documents"]) for i, r in enumerate(reads)]
    heap = [(next(k), i) for i, k in enumerate(keys) if reads[i].plan["documents"]]
    heapq.heapify(heap)
    counts = [{"documents": 0, "tokens": 0, "utf8_bytes": 0} for _ in reads]
    try:
        while heap:
            _, i = heap[0]
            arr, b = readers[i].next()
            c = counts[i]
            c["tokens"] += writer.add("train", arr, b)  # the separator before it counts to its source
            c["documents"] += 1
            c["utf8_bytes"] += b
            nxt = next(keys[i], None)
            if nxt is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (nxt, i))
    finally:
        for rd in readers:
            rd.close()
    tokens = writer.counts()["train"]["tokens"]
    for r, c in zip(reads, counts):
        r.plan["written"] = c
        r.plan["share"] = c["tokens"] / tokens
        if abs(r.plan["share"] - r.inp.source.share) > SHARE_TOLERANCE:  # the plan counted one separator per document
            raise SubstrateError(f"source {r.inp.source.name!r} got share {r.plan['share']:.4f}, "
                                 f"not {r.inp.source.share:g} within {SHARE_TOLERANCE:.0%}")


def _write_val(writer: TokenWriter, reads: list[_Read]) -> None:
    """The validation split: text sources first, then question answering, each a contiguous run of documents."""
    order = sorted(range(len(reads)), key=lambda i: (not reads[i].inp.source.is_text, i))
    val = writer.splits["val"]
    for i in order:
        r = reads[i]
        first_doc, first_tokens = val.docs, val.tokens
        with open(r.val.tokens_path, "rb") as src:
            for rows in r.val.index_chunks():
                lengths = rows[:, 0]
                chunk = np.frombuffer(src.read(int(lengths.sum()) * writer.dtype.itemsize), dtype=writer.dtype)
                writer.add_many("val", chunk, lengths, rows[:, 1])
        r.plan["val"] = {"documents": [first_doc, val.docs], "tokens": [first_tokens, val.tokens],
                         "utf8_bytes": r.val.bytes}


def _val_text(reads: list[_Read], val_ends: np.ndarray) -> dict:
    """The validation prefix that holds only text sources: what bits per byte on text alone is computed over."""
    docs = max((r.plan["val"]["documents"][1] for r in reads if r.inp.source.is_text), default=0)
    if docs == 0:
        return {"documents": 0, "tokens": 0, "utf8_bytes": 0}
    tokens, n_bytes = val_ends[docs - 1]
    return {"documents": int(docs), "tokens": int(tokens), "utf8_bytes": int(n_bytes)}


def _manifest_source(r: _Read, recipe: Recipe) -> dict:
    s = r.inp.source
    base = recipe.path.resolve().parent if recipe.path else Path.cwd()
    files = []
    for f in r.inp.files:
        rel = os.path.relpath(f.resolve(), base)
        files.append({"path": rel, "sha256": sha256_file(f), "bytes": f.stat().st_size})
    p = r.plan
    return {
        "name": s.name, "format": s.format, "lang": s.lang, "path": s.given_path if s.path else "builtin",
        "files": files, "documents": r.read, "dropped": r.dropped, "empty": r.empty,
        "tokens": r.train.tokens, "bytes": r.train.bytes, "train_documents": r.train.docs,
        "epochs": round(p["epochs"], 6), "epochs_full": p["epochs_full"], "partial_documents": p["partial_documents"],
        "target_share": s.share, "share": round(p["share"], 6), "max_epochs": s.max_epochs,
        "train": p["written"], "val": p["val"],
    }


def format_plan(plan: list[dict]) -> str:
    """The dry-run table, one line per source: documents read, dropped, training tokens of one epoch, epochs,
    tokens in the mix, target and planned share."""
    rows = [f"{'source':<16} {'format':<9} {'documents':>10} {'dropped':>8} {'tokens':>12} {'epochs':>7} "
            f"{'in mix':>12} {'target':>7} {'share':>7}"]
    for p in plan:
        rows.append(f"{p['name']:<16} {p['format']:<9} {p['documents']:>10,} {p['dropped']:>8,} {p['tokens']:>12,} "
                    f"{p['epochs']:>7.2f} {p['train_tokens']:>12,} {p['target_share']:>7.3f} {p['share']:>7.3f}")
    total = sum(p["train_tokens"] for p in plan)
    rows.append(f"training tokens: {total:,}")
    return "\n".join(rows)

