"""Text corpora as ``(lang, text)`` documents: local files, or the built-in standard-library docstrings.

Accepted inputs: a ``.txt`` file (one document), a ``.jsonl`` file (one document per line,
``text`` field), a ``.parquet`` file (``text`` column), or a directory of such files. In a
directory, files under ``<root>/<lang>/`` take ``lang`` from that folder name unless a
language is given. Files are visited in sorted relative-path order so every run sees the
same documents in the same order.
"""

from __future__ import annotations

import ast
import functools
import json
import sysconfig
from pathlib import Path
from typing import Iterator

from unicode_substrate.errors import SubstrateError

SUFFIXES = (".txt", ".jsonl", ".parquet")
UNDETERMINED = "und"  # BCP 47 code for "language not known"
# Standard-library folders that hold test data or third-party code rather than library docs.
_SKIP_PARTS = frozenset({"site-packages", "dist-packages", "test", "tests", "idle_test"})


def iter_documents(path: str | Path | None = None, lang: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(lang, text)`` for every document under ``path`` (None = the built-in corpus)."""
    if path is None:
        for text in builtin_documents():
            yield (lang or "en", text)
        return
    root = Path(path)
    if root.is_file():
        yield from _read_file(root, lang or UNDETERMINED)
        return
    if not root.exists():
        raise SubstrateError(f"corpus {root} does not exist")
    if not root.is_dir():
        raise SubstrateError(f"corpus {root} is neither a file nor a directory")
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    for p in files:
        rel = p.relative_to(root).parts
        file_lang = lang or (rel[0] if len(rel) > 1 else UNDETERMINED)
        yield from _read_file(p, file_lang)


def _decode(data: bytes, name: str | Path, where: str = "") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SubstrateError(f"{name}{where} is not valid UTF-8 (byte offset {e.start})") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise SubstrateError(f"cannot read {path}: {e.strerror or e}") from None


def _read_file(path: Path, lang: str) -> Iterator[tuple[str, str]]:
    if path.suffix == ".parquet":
        yield from _read_parquet(path, lang)
    elif path.suffix == ".jsonl":
        data = _read_bytes(path)
        offset = 0
        for lineno, line in enumerate(data.splitlines(keepends=True), 1):
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise SubstrateError(f"{path} is not valid UTF-8 (byte offset {start + e.start})") from None
            try:
                record = json.loads(text)
            except json.JSONDecodeError as e:
                raise SubstrateError(f"{path}:{lineno}: not a JSON object ({e.msg})") from None
            except RecursionError:
                raise SubstrateError(f"{path}:{lineno}: JSON nested too deeply to read") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise SubstrateError(f"{path}:{lineno}: expected an object with a string 'text' field")
            yield (lang, record["text"])
    else:
        yield (lang, _decode(_read_bytes(path), path))


def _read_parquet(path: Path, lang: str) -> Iterator[tuple[str, str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["text"])
    except (pa.ArrowException, OSError, KeyError) as e:
        raise SubstrateError(f"cannot read a 'text' column from {path}: {str(e).splitlines()[0]}") from None
    column = table.column("text")
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise SubstrateError(f"{path}: column 'text' has type {column.type}, expected strings")
    for text in column.to_pylist():
        if text is not None:
            yield (lang, text)


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
