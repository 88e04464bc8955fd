"""Text corpora as ``(lang, text)`` documents: local files, or the built-in standard-library docstrings.

Accepted inputs: a ``.txt`` file (one document), a ``.jsonl`` file (one document per line,
``text`` field), a ``.parquet`` file (``text`` column), or a directory of such files; ``.txt``
and ``.jsonl`` may be compressed (``.gz``, ``.bz2``, ``.zst``). In a directory, files under
``<root>/<lang>/`` take ``lang`` from that folder name unless a language is given. Files are
visited in sorted relative-path order so every run sees the same documents in the same order.

Reading streams: JSONL is read line by line through the decompressor and Parquet one record
batch at a time, so memory does not grow with the file (a ``.txt`` file is one document and is
read whole).
"""

from __future__ import annotations

import ast
import bz2
import contextlib
import functools
import glob
import gzip
import io
import json
import re
import sysconfig
from pathlib import Path
from typing import IO, Iterator

from unicode_substrate.errors import SubstrateError

SUFFIXES = (".txt", ".jsonl", ".parquet")
COMPRESSIONS = (".gz", ".bz2", ".zst")
_PARQUET_BATCH = 1024  # rows per record batch: bounded memory however large the file
UNDETERMINED = "und"  # BCP 47 code for "language not known"
# A language folder's code -> its English name, as the paper's tokenizer benchmark names its rows
# (its 32 languages, ISO 639-1 codes; Norwegian under the macrolanguage code "no").
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic", "az": "Azerbaijani", "bn": "Bangla", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "it": "Italian",
    "ja": "Japanese", "ka": "Georgian", "ko": "Korean", "la": "Latin", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sa": "Sanskrit", "sv": "Swedish", "tr": "Turkish",
    "vi": "Vietnamese", "zh": "Chinese", UNDETERMINED: "Undetermined",
}  # fmt: skip
# Standard-library folders that hold test data or third-party code rather than library docs.
_SKIP_PARTS = frozenset({"site-packages", "dist-packages", "test", "tests", "idle_test"})



# --- JSON values, read one way everywhere (corpora, QA releases, benchmark files, n-gram files) ---
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # where a lone surrogate could come from (a cheap filter)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _lone_surrogate(value) -> bool:
    """Whether any string in ``value`` holds a surrogate code point (a pair decodes to one character)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                return True
        elif isinstance(v, dict):
            stack += v.keys()
            stack += v.values()
        elif isinstance(v, list):
            stack += v
    return False


def check_surrogates(value, text: str, start: int, end: int, where: str):
    """``value`` (decoded from ``text[start:end]``) unless an escape in it decoded to a lone surrogate: one line."""
    if _SURROGATE_ESCAPE.search(text, start, end) and _lone_surrogate(value):
        raise SubstrateError(f"{where}: a \\ud800-\\udfff escape without its pair (a lone surrogate is not a character)")
    return value


def json_value(text: str, where: str):
    """``text`` as one JSON value; ``where`` ("FILE line N") names it in the one-line refusals."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise SubstrateError(f"{where}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise SubstrateError(f"{where}: nested too deeply to read (more than about 1,000 levels)") from None
    return check_surrogates(value, text, 0, len(text), where)


def iter_documents(path: str | Path | None = None, lang: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(lang, text)`` for every document under ``path`` (None = the built-in corpus)."""
    if path is None:
        for text in builtin_documents():
            yield (lang or "en", text)
        return
    for file, file_lang in corpus_files(path, lang):
        yield from _read_file(file, file_lang)


def language_name(code: str) -> str:
    """The English name of a language folder's code (``ru`` -> ``Russian``); any other folder name as it is."""
    return LANGUAGE_NAMES.get(code, code)


def base_suffix(path: Path) -> str:
    """The format suffix under any compression suffix: ``a.jsonl.gz`` -> ``.jsonl``."""
    suffixes = [x.lower() for x in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def is_corpus_file(path: Path) -> bool:
    """A file the text reader takes: a known suffix, compressed only when it is .txt or .jsonl."""
    compressed = path.suffix.lower() in COMPRESSIONS
    return base_suffix(path) in SUFFIXES and not (compressed and base_suffix(path) == ".parquet")


def resolve_files(path: str | Path, accept=is_corpus_file) -> list[Path]:
    """The files named by ``path`` (a file, a folder searched recursively, or a glob), sorted; an error when none."""
    text = str(path)
    if glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file() and accept(Path(p)))
        if not files:
            raise SubstrateError(f"no file matches {text}")
        return files
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.exists():
        raise SubstrateError(f"corpus {root} does not exist")
    if not root.is_dir():
        raise SubstrateError(f"corpus {root} is neither a file nor a directory")
    return sorted((p for p in root.rglob("*") if p.is_file() and accept(p)), key=lambda p: p.relative_to(root).as_posix())


def corpus_files(path: str | Path, lang: str | None = None) -> list[tuple[Path, str]]:
    """``(file, lang)`` for every corpus file of ``path``; in a folder, ``<root>/<lang>/...`` names the language."""
    root = Path(path)
    files = resolve_files(path)
    if glob.has_magic(str(path)) or root.is_file():
        for f in files:
            if not is_corpus_file(f):
                raise SubstrateError(f"{f}: unknown corpus format (expected {', '.join(SUFFIXES)}, "
                                     f".txt and .jsonl optionally {', '.join(COMPRESSIONS)})")
        return [(f, lang or UNDETERMINED) for f in files]
    out = []
    for p in files:
        rel = p.relative_to(root).parts
        out.append((p, lang or (rel[0] if len(rel) > 1 else UNDETERMINED)))
    return out


def open_binary(path: Path) -> IO[bytes]:
    """``path`` opened for reading bytes, decompressed on the fly by its suffix (.gz, .bz2, .zst)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            return gzip.open(path, "rb")
        if suffix == ".bz2":
            return bz2.open(path, "rb")
        if suffix == ".zst":
            import zstandard

            return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True))
        return open(path, "rb")
    except OSError as e:
        raise SubstrateError(f"cannot read {path}: {e.strerror or e}") from None


@contextlib.contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    """A file that cannot be read, or a truncated or corrupt compressed stream, as one line."""
    try:
        yield
    except (OSError, EOFError) as e:
        raise SubstrateError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    except Exception as e:  # zstandard.ZstdError does not derive from OSError
        if type(e).__module__.startswith("zstandard") or type(e).__name__ == "ZstdError":
            raise SubstrateError(f"cannot read {path}: {e}") from None
        raise


def iter_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """``(line number, byte offset, line)`` of a (possibly compressed) file, read as a stream."""
    with _read_errors(path), open_binary(path) as f:
        offset = 0
        for lineno, line in enumerate(f, 1):
            yield lineno, offset, line
            offset += len(line)


def iter_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    """The (decompressed) bytes of ``path`` in chunks of ``size``, read as a stream."""
    with _read_errors(path), open_binary(path) as f:
        while chunk := f.read(size):
            yield chunk


def _decode(data: bytes, name: str | Path, where: str = "") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SubstrateError(f"{name}{where} is not valid UTF-8 (byte offset {e.start})") from None


def read_all_bytes(path: Path) -> bytes:
    """The whole (decompressed) content of ``path``: for formats that are one document or one JSON value."""
    with _read_errors(path):
        if path.suffix.lower() not in COMPRESSIONS:
            return path.read_bytes()
        with open_binary(path) as f:
            return f.read()


def _read_file(path: Path, lang: str) -> Iterator[tuple[str, str]]:
    kind = base_suffix(path)
    if kind == ".parquet":
        yield from _read_parquet(path, lang)
    elif kind == ".jsonl":
        for lineno, start, line in iter_lines(path):
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise SubstrateError(f"{path} is not valid UTF-8 (byte offset {start + e.start})") from None
            record = json_value(text, f"{path}:{lineno}")
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise SubstrateError(f"{path}:{lineno}: expected an object with a string 'text' field")
            yield (lang, record["text"])
    else:
        yield (lang, _decode(read_all_bytes(path), path))


def _read_parquet(path: Path, lang: str) -> Iterator[tuple[str, str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        field = pf.schema_arrow.field("text")
    except (pa.ArrowException, OSError, KeyError) as e:
        raise SubstrateError(f"cannot read a 'text' column from {path}: {str(e).splitlines()[0]}") from None
    if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
        raise SubstrateError(f"{path}: column 'text' has type {field.type}, expected strings")
    try:
        for batch in pf.iter_batches(batch_size=_PARQUET_BATCH, columns=["text"]):
            for text in batch.column(0).to_pylist():
                if text is not None:
                    yield (lang, text)
    except (pa.ArrowException, OSError) as e:
        raise SubstrateError(f"cannot read {path}: {str(e).splitlines()[0]}") from None


@functools.lru_cache(maxsize=1)
def builtin_documents() -> tuple[str, ...]:
    """The built-in English corpus: docstrings of the running Python's standard library, one document per module.

    Modules are visited in order of their path relative to the standard-library folder, so
    the corpus does not depend on where Python is installed (it does depend on the Python
    version). Test suites and site-packages are left out.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        (p for p in root.rglob("*.py") if not _SKIP_PARTS.intersection(p.relative_to(root).parts)),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    docs = []
    for p in files:
        try:
            tree = ast.parse(p.read_bytes())
        except (SyntaxError, ValueError, OSError):
            continue  # a few stdlib files are deliberately unparsable data for the test suite
        parts = [doc for node in _doc_nodes(tree) if (doc := ast.get_docstring(node))]
        if parts:
            docs.append("\n\n".join(parts))
    if not docs:
        raise SubstrateError(f"no docstrings found under the standard library at {root}")
    return tuple(docs)


_DOC_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _doc_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Modules, classes and functions in source order, visiting statements only (expressions hold no docstrings)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, _DOC_NODES):
            yield node
        children = []
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            value = getattr(node, name, None)
            if isinstance(value, list):
                children.extend(c for c in value if isinstance(c, (ast.stmt, ast.excepthandler, ast.match_case)))
        stack.extend(reversed(children))
