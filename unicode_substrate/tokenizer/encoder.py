"""A fast encoder for the project's BPE layouts, giving exactly the Hugging Face ``tokenizers`` ids.

Why it is fast: in these layouts no merge can span a boundary between two adjacent characters
whose two-character string occurs inside no merge result, because a merge only ever produces a
vocabulary entry. The text is therefore cut at every such boundary (at least at every space and
newline) into short chunks that are merged independently, lowest rank first and leftmost on ties
as the Hugging Face BPE model does, so the ids are identical while the cost is linear in the text
length. Added special tokens are matched atomically first (leftmost, longest), and characters
without an id become byte-fallback tokens (or ``<unk>``), as in the library.

Two engines do that work. The compiled module ``_bpe`` (built by the bootstrap) reads the text
in place, matches the specials, cuts, caches repeated chunks and merges without the GIL; it is
the default. The pure-Python engine below (a dict of chunks and a plain merge loop) is the
fallback where the module is absent and the oracle the tests hold the compiled one to
(``native=False``).

Tokenizers this fast path cannot mirror exactly (other model types, normalizers,
pre-tokenizers, merges over unknown-character symbols, e.g. a byte-level ``--from-tokenizer``
vocabulary) are delegated to the Hugging Face library itself.
"""

from __future__ import annotations

import json
import os
import re
from itertools import chain
from pathlib import Path

import numpy as np

from unicode_substrate.artifacts import manifest_sha256, verify_manifest
from unicode_substrate.choices import TOKENIZER_JSON
from unicode_substrate.errors import SubstrateError

try:
    from unicode_substrate.tokenizer import _bpe
except ImportError:  # not compiled here: the pure-Python engine does the same work, slower
    _bpe = None

SCHEMA_MAX = 1
_NO_MERGE = 1 << 62  # rank of a pair that has no merge
_CACHE_LIMIT = 1 << 20  # chunks the Python engine remembers before it starts over
_THREAD_MIN_CHARS = 1 << 16  # a batch smaller than this is not worth the threads
IDS_DTYPE = np.int32  # the dtype of ``as_array`` results


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
        unk = model.get("unk_token")
        self.unk_id: int | None = vocab.get(unk) if isinstance(unk, str) else None  # None: the model has no <unk>
        size = max(vocab.values()) + 1 if vocab else 0
        tokens = [f"<unused_{i}>" for i in range(size)]  # gaps only occur in foreign vocabularies
        for t, i in vocab.items():
            tokens[i] = t
        self._tokens = tokens
        self.vocab_size = size
        self._hf = None
        self._threads = None
        reason = _why_not_fast(spec)
        self.fast = reason is None
        self.delegate_reason = reason
        self._native = None
        self._native_plain = None  # the compiled loop without special matching, made on first use
        self._char_known = None  # for count_unknown, made on first use
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

        ``native=False`` keeps to the pure-Python engine even where the compiled loop is built
        (same ids; for tests and comparisons).
        """
        path = Path(path)
        manifest = verify_manifest(path, kind="tokenizer", max_schema=SCHEMA_MAX)
        try:
            spec = json.loads((path / TOKENIZER_JSON).read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SubstrateError(f"{path}/{TOKENIZER_JSON} cannot be read: {e}") from None
        return cls(path, manifest, spec, native=native)

    def _init_fast(self, model: dict, added: list[dict]) -> None:
        vocab = self._vocab
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges") or []]
        self._ranks = {m: r for r, m in reversed(list(enumerate(merges)))}  # first listing wins, as in the library
        self._unk = model.get("unk_token")
        self._byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
        byte_fallback = bool(model.get("byte_fallback"))
        self._byte_ok = byte_fallback and all(t in vocab for t in self._byte_tokens)
        self._byte_ids = {vocab[t]: b for b, t in enumerate(self._byte_tokens) if t in vocab} if byte_fallback else {}
        # Longest first: the first alternative that matches at a position is then the longest.
        self._specials = sorted(((a["content"], a["id"]) for a in added), key=lambda s: (-len(s[0]), s[0]))
        self._special_re = re.compile("|".join(re.escape(s) for s, _ in self._specials)) if self._specials else None
        self._special_ids = dict(self._specials)
        # Two adjacent characters inside some merge result: only there can a chunk continue.
        self._join_pairs = {x + y for a, b in merges for s in (a + b,) for x, y in zip(s, s[1:])}
        self._cache: dict[str, list[int]] = {}

    def _native_encoder(self, specials: bool = True):
        """The compiled BPE loop over this tokenizer's tables, or None where it cannot be used;
        ``specials=False``: one that reads special-token strings as plain text."""
        if _bpe is None or self.vocab_size > 1 << 21:  # pair keys pack two ids of 21 bits
            return None
        vocab = self._vocab
        pairs = list(self._ranks)
        keys = np.array([(vocab[a] << 21) | vocab[b] for a, b in pairs], dtype=np.uint64)
        ranks = np.fromiter(self._ranks.values(), dtype=np.int32, count=len(pairs))
        results = np.array([vocab[a + b] for a, b in pairs], dtype=np.int32)
        joins = np.array([(ord(s[0]) << 21) | ord(s[1]) for s in self._join_pairs], dtype=np.uint64)
        byte_ids = np.array([vocab[t] for t in self._byte_tokens] if self._byte_ok else [], dtype=np.int32)
        unk = vocab.get(self._unk, -1) if self._unk is not None else -1
        char_ids = np.full(0x110000, -1, dtype=np.int32)  # code point -> id of that one-character token
        singles = [(ord(t), i) for t, i in vocab.items() if len(t) == 1 and t not in self._special_ids]
        if singles:
            cp, tid = zip(*singles)
            char_ids[list(cp)] = tid
        return _bpe.Encoder(char_ids, keys, ranks, results, joins, byte_ids, unk, self.vocab_size,
                            self._specials if specials else [])

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

    def encode(self, text: str, as_array: bool = False, split_special_tokens: bool = False) -> list[int] | np.ndarray:
        """Token ids of ``text`` (no BOS/EOS added), identical to the Hugging Face library's.

        ``as_array=True`` returns them as a numpy int32 array instead of a list, which the
        compiled loop fills without making a Python int per id. ``split_special_tokens=True``
        encodes text that spells a special token (``</s>`` in a corpus) as plain characters, as
        the library's ``encode_special_tokens`` (transformers' ``split_special_tokens``) does.
        """
        if not isinstance(text, str):
            raise SubstrateError(f"encode expects a str, got {type(text).__name__}")
        try:
            native = self._native_for(split_special_tokens)
            if native is not None:
                if as_array:
                    return np.frombuffer(self._native_call(native.encode_buffer, text), dtype=IDS_DTYPE)
                return self._native_call(native.encode, text)
            ids = self._encode(text, split_special_tokens)
        except _LoneSurrogate:
            raise SubstrateError(f"text {_surrogate_at(text)}") from None
        return np.asarray(ids, dtype=IDS_DTYPE) if as_array else ids

    def encode_batch(self, texts: list[str], workers: int | None = None, as_array: bool = False,
                     split_special_tokens: bool = False) -> list[list[int]] | list[np.ndarray]:
        """Encode many texts; the compiled loop spreads a large batch over threads (it releases the GIL).

        ``as_array=True`` gives one numpy int32 array per text (views into one buffer per share);
        ``split_special_tokens`` as in :meth:`encode`.
        """
        texts = list(texts)
        bad = next((type(t).__name__ for t in texts if not isinstance(t, str)), None)
        if bad:
            raise SubstrateError(f"encode_batch expects str texts, got {bad}")
        try:
            native = self._native_for(split_special_tokens)
            if native is not None:
                return self._encode_batch_native(native, texts, workers or os.cpu_count() or 1, as_array)
            out = self._encode_batch(texts, split_special_tokens)
        except _LoneSurrogate:
            k = next(k for k, t in enumerate(texts) if _SURROGATE.search(t))
            raise SubstrateError(f"text {k} of the batch {_surrogate_at(texts[k])}") from None
        return [np.asarray(ids, dtype=IDS_DTYPE) for ids in out] if as_array else out

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """The text of ``ids``; byte-fallback runs become their UTF-8 characters (invalid bytes -> U+FFFD each)."""
        ids = _int_ids(ids)
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

    def count_unknown(self, text: str) -> int:
        """Characters of ``text`` that encode as ``<unk>`` (no id of their own, no byte fallback), not
        counting text that spells ``<unk>``."""
        if not self.fast:  # the library's own answer: <unk> ids of the text read without special matching
            hf = self._hf_tokenizer(split_special_tokens=True)
            unk = self._vocab.get(getattr(hf.model, "unk_token", None) or "")
            if unk is None or not text:
                return 0
            return hf.encode(text, add_special_tokens=False).ids.count(unk)
        if self._unk is None or self._byte_ok or not text:
            return 0
        if self._char_known is None:  # code point -> has a one-character token (the compiled loop's table)
            known = np.zeros(0x110000, dtype=bool)
            known[[ord(t) for t in self._vocab if len(t) == 1 and t not in self._special_ids]] = True
            self._char_known = known
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        return int(len(cps) - np.count_nonzero(self._char_known[cps]))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_threads"] = None
        state["_hf"] = None
        state["_native"] = self._native is not None  # compiled objects do not pickle; rebuilt on load
        state["_native_plain"] = None
        state["_char_known"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._native = self._native_encoder() if state["_native"] else None

    def close(self) -> None:
        """Stop the threads of ``encode_batch``, if any were started."""
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None

    # ---- the compiled loop -----------------------------------------------------------------
    def _native_for(self, split_special_tokens: bool):
        """The compiled loop that matches specials, or (split) the one that reads them as text; None: Python."""
        if self._native is None or not split_special_tokens or not self._specials:
            return self._native
        if self._native_plain is None:
            self._native_plain = self._native_encoder(specials=False)
        return self._native_plain

    def _encode_batch_native(self, native, texts: list[str], workers: int, as_array: bool) -> list:
        from functools import partial

        encode = partial(self._native_arrays if as_array else self._native_lists, native)
        if workers <= 1 or len(texts) < 2 or sum(map(len, texts)) < _THREAD_MIN_CHARS:
            return encode(texts)
        if self._threads is None:
            from concurrent.futures import ThreadPoolExecutor

            self._threads = ThreadPoolExecutor(workers, thread_name_prefix="substrate-encode")
        # About four consecutive shares per thread, results in order.
        n = max(1, min(len(texts), workers * 4))
        bounds = [len(texts) * k // n for k in range(n + 1)]
        parts = self._threads.map(encode, [texts[a:b] for a, b in zip(bounds, bounds[1:])])
        return [ids for part in parts for ids in part]

    def _native_lists(self, native, texts: list[str]) -> list[list[int]]:
        return self._native_call(native.encode_many, texts)

    def _native_arrays(self, native, texts: list[str]) -> list[np.ndarray]:
        ids, ends = self._native_call(native.encode_many_buffer, texts)
        ids = np.frombuffer(ids, dtype=IDS_DTYPE)
        return np.split(ids, np.frombuffer(ends, dtype=np.int64)[:-1]) if texts else []

    def _native_call(self, method, arg):
        """Run a method of the compiled loop with its errors as the Python engine words them."""
        try:
            return method(arg)
        except ValueError:  # a lone surrogate; encode() says where
            raise _LoneSurrogate() from None
        except LookupError as e:  # a character without id in a vocabulary without <unk>
            raise SubstrateError(f"{self.path}: {e}") from None

    # ---- the pure-Python engine (and the library, for tokenizers it cannot mirror) -----------
    def _encode_batch(self, texts: list[str], split_special_tokens: bool = False) -> list[list[int]]:
        if not self.fast:
            if any(map(_SURROGATE.search, texts)):
                raise _LoneSurrogate()
            return [e.ids for e in self._hf_tokenizer(split_special_tokens).encode_batch(texts, add_special_tokens=False)]
        return [self._encode(t, split_special_tokens) for t in texts]

    def _encode(self, text: str, split_special_tokens: bool = False) -> list[int]:
        if _SURROGATE.search(text):  # the library would answer with a bare TypeError
            raise _LoneSurrogate()
        if not self.fast:
            return self._hf_tokenizer(split_special_tokens).encode(text, add_special_tokens=False).ids
        if self._special_re is None or split_special_tokens:
            return self._encode_plain(text)
        out: list[int] = []
        pos = 0
        for m in self._special_re.finditer(text):
            out += self._encode_plain(text[pos : m.start()])
            out.append(self._special_ids[m.group()])
            pos = m.end()
        return out + self._encode_plain(text[pos:])

    def _encode_plain(self, text: str) -> list[int]:
        """Cut where two neighbours share no merge result, then merge each distinct chunk once."""
        if not text:
            return []
        pairs = self._join_pairs
        chunks, start = [], 0
        for i in range(1, len(text)):
            if text[i - 1 : i + 1] not in pairs:
                chunks.append(text[start:i])
                start = i
        chunks.append(text[start:])
        longest = max(map(len, chunks))
        if longest > _MAX_CHUNK:  # merging one chunk is quadratic in its length here (not in the compiled loop)
            raise SubstrateError(
                f"the text has a run of {longest:,} characters with no break between merges, over the "
                f"{_MAX_CHUNK:,} the pure-Python engine takes; build the compiled loop (pip install -e .) or split the text"
            )
        cache = self._cache
        missing = set(chunks).difference(cache)
        if len(cache) + len(missing) > _CACHE_LIMIT:
            cache.clear()  # bounded memory on endless streams of new words
            missing = set(chunks)
        for chunk in missing:
            cache[chunk] = self._bpe(chunk)
        return list(chain.from_iterable(map(cache.__getitem__, chunks)))

    def _symbols(self, chunk: str) -> list[str]:
        """A chunk's initial symbols: its characters, or their byte tokens (or ``<unk>``) where they have no id."""
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
        """Merge a chunk: lowest rank first, leftmost on ties (the library's order)."""
        if len(chunk) == 1:  # most chunks: a character with an id, or its byte tokens (nothing to merge)
            i = self._vocab.get(chunk)
            if i is not None:
                return [i]
            if self._byte_ok:
                return [self._vocab[self._byte_tokens[b]] for b in chunk.encode("utf-8")]
        syms = self._symbols(chunk)
        # Ranks of adjacent pairs kept in a list so min() and index() (leftmost) run in C.
        get = self._ranks.get
        rs = [get(p, _NO_MERGE) for p in zip(syms, syms[1:])]
        while rs and (r := min(rs)) != _NO_MERGE:
            i = rs.index(r)
            syms[i : i + 2] = [syms[i] + syms[i + 1]]
            del rs[i]
            if i > 0:
                rs[i - 1] = get((syms[i - 1], syms[i]), _NO_MERGE)
            if i < len(rs):
                rs[i] = get((syms[i], syms[i + 1]), _NO_MERGE)
        if None in syms:
            raise SubstrateError(f"{self.path}: a character has no id and the vocabulary has no unknown token")
        return [self._vocab[s] for s in syms]

    def _hf_tokenizer(self, split_special_tokens: bool = False):
        if self._hf is None:
            from tokenizers import Tokenizer as HFTokenizer

            self._hf = HFTokenizer.from_file(str(self.path / TOKENIZER_JSON))
        self._hf.encode_special_tokens = split_special_tokens  # the library's name for split_special_tokens
        return self._hf


def _int_ids(ids) -> list[int]:
    """Token ids as Python ints; floats, strings, nested arrays and other non-integers are refused."""
    if isinstance(ids, (str, bytes)):
        raise SubstrateError(f"decode expects a sequence of integer ids, got {type(ids).__name__}")
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise SubstrateError(f"decode expects a 1-D array of integer ids, got a {ids.ndim}-D {ids.dtype} array")
        return ids.tolist()
    if hasattr(ids, "tolist") and hasattr(ids, "dim"):  # a torch tensor, without importing torch
        if ids.dim() != 1 or ids.is_floating_point() or ids.is_complex():
            raise SubstrateError(f"decode expects a 1-D tensor of integer ids, got shape {tuple(ids.shape)} {ids.dtype}")
        return ids.tolist()
    try:
        items = list(ids)
    except TypeError:
        raise SubstrateError(f"decode expects a sequence of integer ids, got {type(ids).__name__}") from None
    out = []
    for i in items:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise SubstrateError(f"decode expects integer ids, got {i!r} ({type(i).__name__})")
        out.append(int(i))
    return out


_MAX_CHUNK = 1 << 14  # characters of one merge chunk the pure-Python engine accepts
_SURROGATE = re.compile("[\ud800-\udfff]")


class _LoneSurrogate(SubstrateError):
    """Raised inside the encoder; encode() and encode_batch() turn it into a message naming the place."""

    def __init__(self) -> None:  # SubstrateError needs a message; the callers replace it with one naming the place
        super().__init__("text holds a lone surrogate")


def _surrogate_at(text: str) -> str:
    return f"holds a lone surrogate at index {_SURROGATE.search(text).start()}: not a Unicode scalar value"


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
