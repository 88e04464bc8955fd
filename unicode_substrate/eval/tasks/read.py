"""Exact reading of benchmark files: bytes decoded as UTF-8, lines split only at ``\\n`` (and
``\\r\\n``), CSV parsed by the csv module on the raw text, JSONL and Parquet records numbered.

``str.splitlines()`` is never used: it also breaks at U+2028, U+2029, U+0085, form feeds and
lone carriage returns, all of which occur inside real sentences and questions.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Callable, Iterator

from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks.item import Item, RowError


def read_text(path: Path) -> str:
    """The file's text exactly: UTF-8 (a leading BOM dropped), no newline translation."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SubstrateError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SubstrateError(f"{path} is not UTF-8 text (byte {e.start})") from None


def text_lines(text: str) -> list[str]:
    """Lines split at ``\\n`` only, a ``\\r`` before it dropped; no empty last line for a final newline."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of every CSV record; quoted fields keep their line breaks."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise SubstrateError(f"{path} line {start}: not valid CSV ({e})") from None
        yield start, row
        start = reader.line_num + 1


def records(path: Path) -> Iterator[tuple[str, object]]:
    """(where, record) for every record of a JSONL or Parquet file ("line N" / "row N")."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types for a broken file
            first = str(e).split("\n")[0]
            raise SubstrateError(f"{path} is not a readable Parquet file: {first}") from None
        for i, rec in enumerate(rows):
            yield f"row {i}", rec
        return
    for i, line in enumerate(text_lines(read_text(path)), 1):
        if line.strip():
            try:
                yield f"line {i}", json.loads(line)
            except json.JSONDecodeError as e:
                raise SubstrateError(f"{path} line {i}: not valid JSON ({e.msg})") from None


def parse_records(path: Path, parse: Callable[[dict, str], Item | None]) -> list[Item]:
    """``parse(record, "file:N")`` over every record; a RowError becomes one line naming file and record."""
    items = []
    for where, rec in records(path):
        try:
            if not isinstance(rec, dict):
                raise RowError("not an object")
            item = parse(rec, f"{path.name}:{where.split()[-1]}")
        except RowError as e:
            raise SubstrateError(f"{path} {where}: {e}") from None
        if item is not None:
            items.append(item)
    return items


def text_field(rec: dict, key: str, what: str | None = None) -> str:
    """A required non-empty string field."""
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RowError(f"no {what or key} (a non-empty string)")
    return value


def get_path(rec, *path):
    """``rec[path[0]][path[1]]...``; a RowError naming the dotted path when absent."""
    for key in path:
        if not isinstance(rec, dict) or key not in rec:
            raise RowError(f"no {'.'.join(path)}")
        rec = rec[key]
    return rec


def labelled_choices(labels: list, texts: list) -> tuple[tuple[str, str], ...]:
    """(label, text) pairs: at least two, non-empty strings, labels distinct."""
    if len(labels) < 2 or not all(isinstance(x, str) and x for x in list(labels) + list(texts)):
        raise RowError("the choices need at least two non-empty labels and texts")
    seen = set()
    for label in labels:
        if label in seen:
            raise RowError(f"duplicate choice label {label!r}")
        seen.add(label)
    return tuple(zip(labels, texts))
