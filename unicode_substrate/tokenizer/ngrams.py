"""N-gram statistics: mined with the paper's rules, read and written in the paper's file schema.

The schema is a Python literal (read with ``ast.literal_eval``, never ``eval``)::

    [{'lang': 'en', 'language_name': 'English', 'top_ngrams': {2: [('th', 3464625), ...], 3: [...]}}, ...]

and the same structure as JSON (``top_ngrams`` keys as strings, pairs as lists).
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

from unicode_substrate.artifacts import sha256_file
from unicode_substrate.corpus import json_value, language_name
from unicode_substrate.errors import SubstrateError
from unicode_substrate.tokenizer.layout import is_monogram_id

# SPEC A.3 preprocessing: curly quotes and backtick become ', digits vanish, \t\r\f\v become a space.
_PREPROCESS = str.maketrans({"’": "'", "‘": "'", "`": "'", **{str(d): None for d in range(10)}, **dict.fromkeys("\t\r\f\v", " ")})
_CJK = re.compile("[\u4e00-\u9fff\u3040-\u309f\u30a0-\u30ff\uac00-\ud7af]")
_WORD = re.compile("\\b[a-zA-Z\u00c0-\u017f\u0400-\u04ff']+\\b")
_SPACE = re.compile(r"\s+")

# Parsing a Python literal takes about 150 bytes of memory per byte of file, JSON far less.
MAX_LITERAL_BYTES = 16 << 20
MAX_JSON_BYTES = 256 << 20

NgramStats = list  # list of {'lang', 'language_name', 'top_ngrams': {n: [(gram, count), ...]}}


def preprocess(text: str) -> str:
    """The paper's text clean-up before counting."""
    return text.translate(_PREPROCESS)


def text_ngrams(text: str, n: int) -> Iterable[str]:
    """Character n-grams of one preprocessed document by the paper's rules.

    A document with any CJK character is counted over its non-space characters taken as
    one sequence (punctuation kept); any other document over the words the paper's regex
    finds, each word long enough for an n-gram.
    """
    if _CJK.search(text):
        chars = _SPACE.sub("", text)
        return (chars[i : i + n] for i in range(len(chars) - n + 1))
    return (w[i : i + n] for w in _WORD.findall(text) if len(w) >= n for i in range(len(w) - n + 1))


def mine(documents: Iterable[tuple[str, str]], sizes: Iterable[int] = (2, 3, 4, 5), top_k: int = 1000) -> NgramStats:
    """Count n-grams per language and keep ``Counter.most_common(top_k)`` per n (SPEC A.3)."""
    sizes = tuple(sorted(set(sizes)))
    if not sizes or sizes[0] < 2:
        raise SubstrateError(f"n-gram sizes must be 2 or more, got {sizes}")
    if top_k < 1:
        raise SubstrateError(f"top-k must be at least 1, got {top_k}")
    counters: dict[str, dict[int, Counter]] = {}
    n_docs = 0
    for lang, text in documents:
        n_docs += 1
        per_n = counters.setdefault(lang, {n: Counter() for n in sizes})
        text = preprocess(text)
        for n in sizes:
            # a gram with a character that has no id could never be reached by a merge
            per_n[n].update(g for g in text_ngrams(text, n) if all(map(has_char_id, g)))
    if n_docs == 0:
        raise SubstrateError("the corpus is empty: no documents found")
    stats = [
        {
            "lang": lang,
            "language_name": language_name(lang),
            "top_ngrams": {n: per_n[n].most_common(top_k) for n in sizes},
        }
        for lang, per_n in counters.items()
    ]
    if not any(pairs for entry in stats for pairs in entry["top_ngrams"].values()):
        raise SubstrateError(f"the corpus ({n_docs} documents) yields no n-grams: it has no words the paper's rules count")
    return stats


def to_literal(stats: NgramStats) -> bytes:
    """The paper's Python-literal file form."""
    return (repr(stats) + "\n").encode("utf-8")


def to_json(stats: NgramStats) -> bytes:
    """The same statistics as JSON (n as string keys, pairs as lists)."""
    obj = [{**e, "top_ngrams": {str(n): [list(p) for p in pairs] for n, pairs in e["top_ngrams"].items()}} for e in stats]
    return (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def check_gram(g: object, where: str) -> str:
    """A gram must be a string of 2+ characters with no whitespace; anything else is an error."""
    if not isinstance(g, str):
        raise SubstrateError(f"{where}: gram {g!r} is not a string")
    if len(g) < 2:
        raise SubstrateError(f"{where}: gram {g!r} is shorter than 2 characters")
    if any(c.isspace() for c in g):
        raise SubstrateError(f"{where}: gram {g!r} contains whitespace")
    if (c := next((c for c in g if not has_char_id(c)), None)) is not None:
        what = "a lone surrogate" if 0xD800 <= ord(c) < 0xE000 else "a character with no id of its own (astral plane, private use or U+FFFF)"
        raise SubstrateError(f"{where}: gram {g!r} contains U+{ord(c):04X}, {what}; no merge could ever produce it")
    return g


def has_char_id(c: str) -> bool:
    """True for a character every layout gives an id (a BMP character outside surrogates and private use)."""
    return is_monogram_id(ord(c))


def validate(stats: object, where: str) -> NgramStats:
    """Check the paper's schema; return the statistics with integer n keys."""
    if not isinstance(stats, list):
        raise SubstrateError(f"{where}: expected a list of per-language entries, got {type(stats).__name__}")
    out = []
    for k, entry in enumerate(stats):
        at = f"{where}: entry {k}"
        if not isinstance(entry, dict) or not isinstance(entry.get("lang"), str) or not isinstance(entry.get("top_ngrams"), dict):
            raise SubstrateError(f"{at}: expected a dict with a string 'lang' and a dict 'top_ngrams'")
        top = {}
        for n, pairs in entry["top_ngrams"].items():
            try:
                n_int = int(n)
            except (TypeError, ValueError):
                raise SubstrateError(f"{at}: n-gram size {n!r} is not an integer") from None
            if not isinstance(pairs, (list, tuple)):
                raise SubstrateError(f"{at}, n={n}: expected a list of (gram, count) pairs")
            checked = []
            for p in pairs:
                if not isinstance(p, (list, tuple)) or len(p) != 2 or not isinstance(p[1], int) or isinstance(p[1], bool):
                    raise SubstrateError(f"{at}, n={n}: {p!r} is not a (gram, count) pair")
                checked.append((check_gram(p[0], f"{at}, n={n}"), p[1]))
            top[n_int] = checked
        out.append({"lang": entry["lang"], "language_name": str(entry.get("language_name", entry["lang"])), "top_ngrams": top})
    return out


def resolve(path: str | Path) -> Path:
    """An n-gram input: a file, or a directory written by ``substrate ngrams`` (its ngrams.txt)."""
    p = Path(path)
    if p.is_dir():
        p = p / "ngrams.txt"
    if not p.is_file():
        raise SubstrateError(f"n-gram file {p} does not exist")
    return p


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, digest: str) -> NgramStats:
    # Keyed by content hash: parsing the paper's 2 MB literal takes seconds, and tests build often.
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise SubstrateError(f"n-gram file {p} is not valid UTF-8 (byte offset {e.start})") from None
    if p.suffix == ".json":
        data = json_value(text, f"n-gram file {p}")
    else:
        try:
            data = ast.literal_eval(text)
        except SyntaxError as e:
            raise SubstrateError(f"n-gram file {p} has a syntax error at line {e.lineno}: {e.msg}") from None
        except (ValueError, TypeError, MemoryError, RecursionError):
            raise SubstrateError(f"n-gram file {p} is not a plain Python literal (list of dicts)") from None
    return validate(data, f"n-gram file {p}")


def load(path: str | Path) -> NgramStats:
    """Read and validate an n-gram statistics file (Python literal or ``.json``)."""
    p = resolve(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise SubstrateError(f"cannot read n-gram file {p}: {e.strerror or e}") from None
    limit = MAX_JSON_BYTES if p.suffix == ".json" else MAX_LITERAL_BYTES
    if size > limit:  # parsing takes memory many times the file size: refuse before trying
        raise SubstrateError(
            f"n-gram file {p} is {size / 2**20:.0f} MiB, over the {limit >> 20} MiB this reader accepts "
            f"(the paper's files are under 3 MiB){'; a .json file may be up to ' + str(MAX_JSON_BYTES >> 20) + ' MiB' if p.suffix != '.json' else ''}"
        )
    try:
        digest = sha256_file(p)
    except OSError as e:
        raise SubstrateError(f"cannot read n-gram file {p}: {e.strerror or e}") from None
    return _load_cached(str(p.resolve()), digest)


def select(stats: NgramStats, top_cnt: int | None) -> set[str]:
    """The union of the first ``top_cnt`` grams per (language, n); None keeps them all."""
    if top_cnt is not None and top_cnt < 1:
        raise SubstrateError(f"top_cnt must be at least 1, got {top_cnt}")
    return {g for e in stats for pairs in e["top_ngrams"].values() for g, _ in pairs[:top_cnt]}


def load_intersection(path: str | Path) -> list[str]:
    """The intersection list: one string per line, ``.strip()``-ed; entries of length > 1 are kept."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as e:
        raise SubstrateError(f"cannot read intersection file {p}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise SubstrateError(f"intersection file {p} is not valid UTF-8 (byte offset {e.start})") from None
    out = []
    for lineno, line in enumerate(text.split("\n"), 1):
        s = line.strip()
        if len(s) > 1:
            out.append(check_gram(s, f"intersection file {p}, line {lineno}"))
    return out


def write_stats(
    out: str | Path,
    corpus: str | Path | None = None,
    lang: str | None = None,
    sizes: Iterable[int] = (2, 3, 4, 5),
    top_k: int = 1000,
    force: bool = False,
) -> Path:
    """Mine a corpus and write ``ngrams.txt`` (the paper's schema), ``ngrams.json`` and a manifest to ``out``."""
    from unicode_substrate.artifacts import atomic_output_dir, check_output, write_manifest
    from unicode_substrate.corpus import iter_documents

    sizes = tuple(sizes)
    check_output(out, force=force, kind="ngrams", inputs=[corpus])
    stats = mine(iter_documents(corpus, lang), sizes, top_k)  # mined before anything is written
    with atomic_output_dir(out, force, kind="ngrams", inputs=[corpus]) as tmp:
        (tmp / "ngrams.txt").write_bytes(to_literal(stats))
        (tmp / "ngrams.json").write_bytes(to_json(stats))
        write_manifest(
            tmp,
            "ngrams",
            1,
            corpus="builtin" if corpus is None else Path(corpus).name,
            sizes=list(sizes),
            top_k=top_k,
            languages=[e["lang"] for e in stats],
        )
    return Path(out)
