"""A fast encoder for the project's BPE layouts, giving exactly the Hugging Face ``tokenizers`` ids.

Why it is fast: in these layouts no merge can span a boundary between two adjacent characters
whose two-character string occurs inside no merge result, because a merge only ever produces a
vocabulary entry. The text is therefore cut (vectorised with numpy) at every such boundary —
at least at every space and newline — into short chunks that are encoded independently with a
dict cache. Within a chunk the merges run lowest rank first, leftmost on ties, as the Hugging
Face BPE model does, so the ids are identical while the cost is linear in the text length.
Added special tokens are matched atomically in the raw text first, and characters without an id
become byte-fallback tokens (or ``<unk>``), as in the library.

The per-chunk loop runs natively when the compiled module ``_bpe`` is built (the bootstrap
builds it): it reads the text in place, cuts it at the same boundaries and merges each chunk in
the same order, without making a Python object per chunk. The numpy and dict path below is the
fallback where the module is absent, and a second oracle in the tests (``native=False``).

Tokenizers this fast path cannot mirror exactly (other model types, normalizers,
pre-tokenizers, merges over unknown-character symbols, e.g. a byte-level ``--from-tokenizer``
vocabulary) are delegated to the Hugging Face library itself.
"""

from __future__ import annotations

import heapq
import json
import os
import re
from itertools import chain
from pathlib import Path

import numpy as np

from unicode_substrate.artifacts import manifest_sha256, verify_manifest
from unicode_substrate.errors import SubstrateError
from unicode_substrate.tokenizer.vector_bpe import MergeTable, encode_many

try:
    from unicode_substrate.tokenizer import _bpe
except ImportError:  # not compiled here: the numpy path below does the same work, slower
    _bpe = None

SCHEMA_MAX = 1
_NO_MERGE = 1 << 62  # rank of a pair that has no merge
_LONG_CHUNK = 256  # above this many symbols the O(n log n) heap merge beats the simple scan
_VECTOR_MIN = 64  # fewer new chunks than this are cheaper one by one in Python
_VECTOR_MAX = 64  # longer chunks need many rounds; they take the heap path
_CACHE_LIMIT = 1 << 20
_SHORT_TEXT = 256  # texts up to this long are cut in Python, longer ones in numpy
_SEPARATORS = ("\x1e", "\x1f", "\x1d", "\x1c", "\x00", "\n")  # batch joiners, tried in order
_PARALLEL_MIN_CHARS = 1 << 18  # a batch smaller than this is not worth the worker processes
_THREAD_MIN_CHARS = 1 << 16  # the same for threads sharing the compiled loop (no pickling, far cheaper)


class Tokenizer:
    """A tokenizer directory loaded for encoding and decoding (``Tokenizer.load(dir)``)."""

    def __init__(self, path: Path, manifest: dict, spec: dict, native: bool = True):
        self.path = path
        self.manifest = manifest
        self.manifest_sha256 = manifest_sha256(path)
        self.layout: str = manifest.get("layout", "")
        model = spec["model"]
        added = spec.get("added_tokens") or []
        vocab: dict[str, int] = dict(model.get("vocab") or {})
        for a in added:
            vocab.setdefault(a["content"], a["id"])
        self._vocab = vocab
        size = max(vocab.values()) + 1 if vocab else 0
        tokens = [f"<unused_{i}>" for i in range(size)]  # gaps only occur in foreign vocabularies
        for t, i in vocab.items():
            tokens[i] = t
        self._tokens = tokens
        self.vocab_size = size
        self._hf = None
        self._pool = None
        self._threads = None
        reason = _why_not_fast(spec)
        self.fast = reason is None
        self.delegate_reason = reason
        self._native = None
        if self.fast:
            self._init_fast(model, added)
            if native:
                self._native = self._native_encoder()

    @property
    def native(self) -> bool:
        """True when plain text is encoded by the compiled BPE loop."""
        return self._native is not None

    # ---- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, native: bool = True) -> "Tokenizer":
        """Load a tokenizer directory, verifying its manifest and file hashes.

        ``native=False`` keeps to the pure-Python path even where the compiled loop is built
        (same ids; for tests and comparisons).
        """
        path = Path(path)
        manifest = verify_manifest(path, kind="tokenizer", max_schema=SCHEMA_MAX)
        try:
            spec = json.loads((path / "tokenizer.json").read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SubstrateError(f"{path}/tokenizer.json cannot be read: {e}") from None
        return cls(path, manifest, spec, native=native)

    def _init_fast(self, model: dict, added: list[dict]) -> None:
        vocab = self._vocab
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges") or []]
        self._ranks = {m: r for r, m in reversed(list(enumerate(merges)))}  # first listing wins, as in the library
        self._unk = model.get("unk_token")
        self._byte_fallback = bool(model.get("byte_fallback"))
        self._byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
        self._byte_ok = self._byte_fallback and all(t in vocab for t in self._byte_tokens)
        self._byte_id_list = [vocab[t] for t in self._byte_tokens] if self._byte_ok else []
        self._byte_ids = {vocab[t]: b for b, t in enumerate(self._byte_tokens) if t in vocab} if self._byte_fallback else {}
        specials = sorted((a["content"] for a in added), key=lambda s: (-len(s), s))
        # Longest alternative first makes Python's leftmost-first match the library's leftmost-longest.
        self._special_re = re.compile("|".join(map(re.escape, specials))) if specials else None
        self._special_ids = {a["content"]: a["id"] for a in added}
        # Characters that occur next to each other inside some merge result: only there can a chunk continue.
        chars = sorted({c for a, b in merges for c in a + b})
        self._compact = np.zeros(0x110000, dtype=np.int32)
        self._compact[[ord(c) for c in chars]] = np.arange(1, len(chars) + 1, dtype=np.int32)
        k = len(chars) + 1
        joins = np.zeros((k, k), dtype=bool)
        pairs = {(x, y) for a, b in merges for s in (a + b,) for x, y in zip(s, s[1:])}
        if pairs:
            left, right = zip(*pairs)
            joins[self._compact[[ord(c) for c in left]], self._compact[[ord(c) for c in right]]] = True
        self._joins = joins
        self._join_pairs = {x + y for x, y in pairs}
        self._cache: dict[str, list[int]] = {}
        self._char_ids = np.full(0x110000, -1, dtype=np.int64)  # code point -> id of that one-character token
        singles = [(ord(t), i) for t, i in vocab.items() if len(t) == 1 and t not in self._special_ids]
        if singles:
            cp, tid = zip(*singles)
            self._char_ids[list(cp)] = tid
        self._table = None  # the numpy path's merge hash table, built on its first use (the compiled loop has its own)

    def _native_encoder(self):
        """The compiled BPE loop over this tokenizer's tables, or None where it cannot be used."""
        if _bpe is None or self.vocab_size > 1 << 21:  # pair keys pack two ids of 21 bits
            return None
        vocab = self._vocab
        pairs = list(self._ranks)
        keys = np.array([(vocab[a] << 21) | vocab[b] for a, b in pairs], dtype=np.uint64)
        ranks = np.fromiter(self._ranks.values(), dtype=np.int32, count=len(pairs))
        results = np.array([vocab[a + b] for a, b in pairs], dtype=np.int32)
        joins = np.array([(ord(s[0]) << 21) | ord(s[1]) for s in self._join_pairs], dtype=np.uint64)
        byte_ids = np.array(self._byte_id_list if self._byte_ok else [], dtype=np.int32)
        unk = vocab.get(self._unk, -1) if self._unk is not None else -1
        return _bpe.Encoder(self._char_ids.astype(np.int32), keys, ranks, results, joins, byte_ids, unk, self.vocab_size)

    # ---- public API ------------------------------------------------------------------------
    def tokens(self) -> list[str]:
        """The token string of every id, in id order (length ``vocab_size``)."""
        return list(self._tokens)

    def token_to_id(self, token: str) -> int | None:
        """The id of a token string, or None."""
        return self._vocab.get(token)

    def id_to_token(self, i: int) -> str:
        """The token string of an id."""
        return self._tokens[i]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no BOS/EOS added), identical to the Hugging Face library's."""
        if not isinstance(text, str):
            raise SubstrateError(f"encode expects a str, got {type(text).__name__}")
        try:
            return self._encode(text)
        except _LoneSurrogate:
            raise SubstrateError(f"text {_surrogate_at(text)}") from None

    def encode_batch(self, texts: list[str], workers: int | None = None) -> list[list[int]]:
        """Encode many texts, spread over all cores when the batch is large enough to pay for it.

        The compiled loop releases the GIL while it merges, so it is shared by threads; the
        pure-Python path uses worker processes instead.
        """
        texts = list(texts)
        bad = next((type(t).__name__ for t in texts if not isinstance(t, str)), None)
        if bad:
            raise SubstrateError(f"encode_batch expects str texts, got {bad}")
        try:
            return self._encode_batch(texts, workers or os.cpu_count() or 1)
        except _LoneSurrogate:
            k = next(k for k, t in enumerate(texts) if _SURROGATE.search(t))
            raise SubstrateError(f"text {k} of the batch {_surrogate_at(texts[k])}") from None

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """The text of ``ids``; byte-fallback runs become their UTF-8 characters (invalid bytes -> U+FFFD each)."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise SubstrateError(f"id {bad[0]} is outside the vocabulary (size {self.vocab_size})")
        if not self.fast:
            return self._hf_tokenizer().decode(ids, skip_special_tokens=skip_special_tokens)
        if skip_special_tokens:
            special = set(self._special_ids.values())
            ids = [i for i in ids if i not in special]
        tokens = self._tokens
        byte_ids = self._byte_ids
        if not byte_ids or byte_ids.keys().isdisjoint(ids):
            return "".join([tokens[i] for i in ids])
        parts: list[str] = []
        run = bytearray()
        for i in ids:
            b = byte_ids.get(i)
            if b is not None:
                run.append(b)
                continue
            if run:
                parts.append(_bytes_to_text(run))
                run = bytearray()
            parts.append(tokens[i])
        if run:
            parts.append(_bytes_to_text(run))
        return "".join(parts)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"Tokenizer({str(self.path)!r}, layout={self.layout!r}, vocab_size={self.vocab_size}, fast={self.fast})"

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pool"] = None
        state["_threads"] = None
        state["_hf"] = None
        state["_native"] = self._native is not None  # compiled objects do not pickle; rebuilt on load
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._native = self._native_encoder() if state["_native"] else None

    def close(self) -> None:
        """Stop the worker processes or threads of ``encode_batch``, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None

    # ---- internals -------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        if not self.fast:
            if _SURROGATE.search(text):  # the library would answer with a bare TypeError
                raise _LoneSurrogate()
            return self._hf_tokenizer().encode(text, add_special_tokens=False).ids
        if self._special_re is None:
            return self._encode_plain(text)
        out: list[int] = []
        pos = 0
        for m in self._special_re.finditer(text):
            if m.start() > pos:
                out += self._encode_plain(text[pos : m.start()])
            out.append(self._special_ids[m.group()])
            pos = m.end()
        if pos == 0:
            return self._encode_plain(text)  # no special token: skip copying the ids
        if pos < len(text):
            out += self._encode_plain(text[pos:])
        return out

    def _encode_batch(self, texts: list[str], workers: int) -> list[list[int]]:
        if not self.fast:
            if any(map(_SURROGATE.search, texts)):
                raise _LoneSurrogate()
            return [e.ids for e in self._hf_tokenizer().encode_batch(texts, add_special_tokens=False)]
        if self._native is not None:
            return self._encode_batch_native(texts, workers)
        if workers <= 1 or len(texts) < 2 or sum(map(len, texts)) < _PARALLEL_MIN_CHARS:
            return self._encode_joined(texts)
        return _in_shares(self._get_pool(workers), _worker_encode, texts, workers)

    def _encode_batch_native(self, texts: list[str], workers: int) -> list[list[int]]:
        if self._any_special(texts):
            encode = lambda part: [self._encode(t) for t in part]  # noqa: E731 - specials are cut out in Python
        else:
            encode = self._native_many
        if workers <= 1 or len(texts) < 2 or sum(map(len, texts)) < _THREAD_MIN_CHARS:
            return encode(texts)
        if self._threads is None:
            from concurrent.futures import ThreadPoolExecutor

            self._threads = ThreadPoolExecutor(workers, thread_name_prefix="substrate-encode")
        return _in_shares(self._threads, encode, texts, workers)

    def _native_many(self, texts: list[str]) -> list[list[int]]:
        return self._native_call(self._native.encode_many, texts)

    def _native_call(self, method, arg):
        """Run a method of the compiled loop with its errors as the Python path words them."""
        try:
            return method(arg)
        except ValueError:  # a lone surrogate; encode() says where
            raise _LoneSurrogate() from None
        except LookupError as e:  # a character without id in a vocabulary without <unk>
            raise SubstrateError(f"{self.path}: {e}") from None

    def _any_special(self, texts: list[str]) -> bool:
        """Whether some text holds a special token; one search over the texts joined by a character no special holds."""
        if self._special_re is None:
            return False
        sep = next((c for c in _SEPARATORS if not any(c in s for s in self._special_ids)), None)
        if sep is None:
            return any(self._special_re.search(t) for t in texts)
        return self._special_re.search(sep.join(texts)) is not None

    def _encode_joined(self, texts: list[str]) -> list[list[int]]:
        """Encode many texts as one, joined by a character that never merges, then cut the ids apart.

        Exact because that separator has an id of its own, takes part in no merge and no special
        token, and occurs in none of the texts; it saves the fixed cost of one call per short text.
        """
        sep = next((c for c in _SEPARATORS if self._is_inert(c) and not any(c in t for t in texts)), None)
        if sep is None or len(texts) < 2:
            return [self._encode(t) for t in texts]
        sep_id = self._vocab[sep]
        ids = self._encode(sep.join(texts))
        out, start = [], 0
        for _ in range(len(texts) - 1):
            end = ids.index(sep_id, start)
            out.append(ids[start:end])
            start = end + 1
        out.append(ids[start:])
        return out

    def _is_inert(self, c: str) -> bool:
        return c in self._vocab and self._compact[ord(c)] == 0 and not any(c in s for s in self._special_ids)

    def _hf_tokenizer(self):
        if self._hf is None:
            from tokenizers import Tokenizer as HFTokenizer

            self._hf = HFTokenizer.from_file(str(self.path / "tokenizer.json"))
        return self._hf

    def _get_pool(self, workers: int):
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # fork shares the loaded tables with the workers at no cost; spawn elsewhere pickles them once.
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            self._pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(self,))
        return self._pool

    def _encode_plain(self, text: str) -> list[int]:
        if not text:
            return []
        if self._native is not None:
            return self._native_call(self._native.encode, text)
        if len(text) <= _SHORT_TEXT:
            return self._encode_short(text)
        try:
            cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        except UnicodeEncodeError:
            raise _LoneSurrogate() from None
        idx = self._compact[cps]
        cut = np.flatnonzero(~self._joins[idx[:-1], idx[1:]]) + 1
        # Any subset of the cuts gives the same ids; a space joins the word after it, which
        # halves the number of chunks in spaced scripts without spoiling the cache.
        cut = cut[cps[cut - 1] != 0x20]
        if len(cut) == 0:
            chunks = [text]
        else:
            sep = _separator(cps)
            if sep is None:
                edges = [0, *cut.tolist(), len(text)]
                chunks = [text[a:b] for a, b in zip(edges, edges[1:])]
            else:
                # One C-level split instead of a Python loop of slices: put a separator the text lacks at every cut.
                spread = np.empty(len(cps) + len(cut), dtype=np.uint32)
                shift = np.zeros(len(cps), dtype=np.int64)
                shift[cut] = 1
                spread[np.arange(len(cps)) + np.cumsum(shift)] = cps
                spread[cut + np.arange(len(cut))] = sep
                chunks = spread.tobytes().decode("utf-32-le").split(chr(sep))
        cache = self._cache
        try:
            return list(chain.from_iterable(map(cache.__getitem__, chunks)))
        except KeyError:
            pass  # some chunks are new: encode each distinct one once, then assemble
        missing = set(chunks).difference(cache)
        if len(cache) + len(missing) > _CACHE_LIMIT:
            cache.clear()  # bounded memory on endless streams of new words
            missing = set(chunks)
        self._fill_cache(missing)
        return list(chain.from_iterable(map(cache.__getitem__, chunks)))

    def _encode_short(self, text: str) -> list[int]:
        """The same cuts found with a Python set: cheaper than numpy's fixed cost on a short text."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _LoneSurrogate() from None
        pairs = self._join_pairs
        chunks, start = [], 0
        for i in range(1, len(text)):
            if text[i - 1] != " " and text[i - 1 : i + 1] not in pairs:
                chunks.append(text[start:i])
                start = i
        chunks.append(text[start:])
        cache = self._cache
        missing = {c for c in chunks if c not in cache}
        if missing:
            self._fill_cache(missing)
        return list(chain.from_iterable(map(cache.__getitem__, chunks)))

    def _fill_cache(self, missing: set[str]) -> None:
        """Encode new chunks: ordinary ones together in numpy, rare long or unknown-character ones one by one."""
        cache = self._cache
        batch = []
        for chunk in missing:
            if len(chunk) == 1 or len(chunk) > _VECTOR_MAX:
                cache[chunk] = self._encode_chunk(chunk)
            else:
                batch.append(chunk)
        if len(batch) < _VECTOR_MIN:
            for chunk in batch:
                cache[chunk] = self._encode_chunk(chunk)
            return
        cps = np.frombuffer("".join(batch).encode("utf-32-le"), dtype=np.uint32)
        ids = self._char_ids[cps]
        lengths = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
        ends = np.cumsum(lengths)
        known = np.logical_and.reduceat(ids >= 0, ends - lengths)
        for chunk in np.asarray(batch, dtype=object)[~known]:
            cache[chunk] = self._encode_chunk(chunk)  # holds a character without an id: byte fallback
        if not known.all():
            keep = np.repeat(known, lengths)
            batch = [c for c, k in zip(batch, known.tolist()) if k]
            ids, lengths = ids[keep], lengths[known]
        if self._table is None:
            self._table = MergeTable(self._ranks, self._vocab)
        cache.update(zip(batch, encode_many(ids, lengths, self._table)))

    def _encode_chunk(self, chunk: str) -> list[int]:
        if len(chunk) == 1:
            i = self._vocab.get(chunk)
            if i is not None:
                return [i]
            if self._byte_ok:
                return [self._byte_id_list[b] for b in chunk.encode("utf-8")]
            return self._bpe(chunk)
        # A leading space was glued on without a cut being needed; encode the word behind it via the cache.
        if chunk[0] == " " and not self._joins[self._compact[0x20], self._compact[ord(chunk[1])]]:
            rest = chunk[1:]
            ids = self._cache.get(rest)
            if ids is None:
                ids = self._cache[rest] = self._encode_chunk(rest)
            return self._encode_chunk(" ") + ids
        return self._bpe(chunk)

    def _symbols(self, chunk: str) -> list[str]:
        vocab = self._vocab
        syms: list[str] = []
        for c in chunk:
            if c in vocab:
                syms.append(c)
            elif self._byte_ok:
                syms.extend(self._byte_tokens[b] for b in c.encode("utf-8"))
            else:
                syms.append(self._unk)
        return syms

    def _bpe(self, chunk: str) -> list[int]:
        vocab = self._vocab
        syms = list(chunk) if vocab.keys() >= set(chunk) else self._symbols(chunk)
        if len(syms) > _LONG_CHUNK:
            syms = _merge_heap(syms, self._ranks)
        elif len(syms) > 1:
            # Ranks of adjacent pairs kept in a list so min() and index() (leftmost) run in C.
            get = self._ranks.get
            rs = [get(p, _NO_MERGE) for p in zip(syms, syms[1:])]
            while (r := min(rs)) != _NO_MERGE:
                i = rs.index(r)
                syms[i : i + 2] = [syms[i] + syms[i + 1]]
                del rs[i]
                if i > 0:
                    rs[i - 1] = get((syms[i - 1], syms[i]), _NO_MERGE)
                if i < len(rs):
                    rs[i] = get((syms[i], syms[i + 1]), _NO_MERGE)
                if not rs:
                    break
        if None in syms:
            raise SubstrateError(f"{self.path}: a character has no id and the vocabulary has no unknown token")
        return [vocab[s] for s in syms]


def _in_shares(executor, fn, texts: list[str], workers: int) -> list[list[int]]:
    """``fn`` over about four consecutive shares of the batch per worker, results in order."""
    n = max(1, min(len(texts), workers * 4))
    bounds = [len(texts) * k // n for k in range(n + 1)]
    parts = executor.map(fn, [texts[a:b] for a, b in zip(bounds, bounds[1:])])
    return [ids for part in parts for ids in part]


_SURROGATE = re.compile("[\ud800-\udfff]")


class _LoneSurrogate(SubstrateError):
    """Raised inside the encoder; encode() and encode_batch() turn it into a message naming the place."""


def _surrogate_at(text: str) -> str:
    return f"holds a lone surrogate at index {_SURROGATE.search(text).start()}: not a Unicode scalar value"


def _merge_heap(syms: list[str], ranks: dict) -> list[str]:
    """BPE over a long symbol list with a heap: lowest rank first, leftmost on ties (the library's order)."""
    n = len(syms)
    nxt = list(range(1, n + 1))
    nxt[-1] = -1
    prv = list(range(-1, n - 1))
    alive = [True] * n
    heap = [(r, i) for i in range(n - 1) if (r := ranks.get((syms[i], syms[i + 1]))) is not None]
    heapq.heapify(heap)
    while heap:
        r, i = heapq.heappop(heap)
        j = nxt[i]
        if not alive[i] or j < 0 or ranks.get((syms[i], syms[j])) != r:
            continue  # a stale entry: one of the two symbols has merged since it was queued
        syms[i] += syms[j]
        alive[j] = False
        nxt[i] = nxt[j]
        if nxt[j] >= 0:
            prv[nxt[j]] = i
        p = prv[i]
        if p >= 0 and (r2 := ranks.get((syms[p], syms[i]))) is not None:
            heapq.heappush(heap, (r2, p))
        q = nxt[i]
        if q >= 0 and (r2 := ranks.get((syms[i], syms[q]))) is not None:
            heapq.heappush(heap, (r2, i))
    return [s for s, a in zip(syms, alive) if a]


def _separator(cps: np.ndarray) -> int | None:
    # Noncharacters the text is unlikely to hold; any one absent from the text will do.
    for sep in (0x10FFFF, 0x10FFFE, 0xFFFFF, 0xFFFFE):
        if not (cps == sep).any():
            return sep
    return None


def _bytes_to_text(run: bytearray) -> str:
    # The library's ByteFallback decoder: a valid UTF-8 run becomes text, an invalid one U+FFFD per byte.
    try:
        return run.decode("utf-8")
    except UnicodeDecodeError:
        return "\ufffd" * len(run)


def _why_not_fast(spec: dict) -> str | None:
    """None when the fast path reproduces the library exactly for this tokenizer.json, else the reason."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return f"model type {model.get('type')!r}"
    for key in ("normalizer", "pre_tokenizer"):
        if spec.get(key) is not None:
            return f"has a {key}"
    if model.get("dropout") or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        return "BPE dropout or subword affixes"
    if model.get("fuse_unk") or model.get("ignore_merges"):
        return "fuse_unk or ignore_merges"
    for a in spec.get("added_tokens") or []:
        if a.get("single_word") or a.get("lstrip") or a.get("rstrip") or not a.get("special") or a.get("normalized"):
            return "added tokens with matching options"
    vocab = model.get("vocab") or {}
    # Symbols that do not spell their text (unknown and byte tokens) must never take part in a merge.
    opaque = {model.get("unk_token")} | {f"<0x{b:02X}>" for b in range(256)}
    for m in model.get("merges") or []:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in opaque or b in opaque:
            return "a merge involves an unknown or byte token"
        if a + b not in vocab:
            return "a merge result is not in the vocabulary"
    return None


_WORKER: Tokenizer | None = None


def _worker_init(tok: Tokenizer) -> None:
    global _WORKER
    _WORKER = tok


def _worker_encode(texts: list[str]) -> list[list[int]]:
    return _WORKER._encode_joined(texts)
