"""Exact reading of benchmark files: bytes decoded as UTF-8, lines split only at ``\\n`` (and
``\\r\\n``), CSV parsed by the csv module on the raw text, JSONL and Parquet records numbered.

``str.splitlines()`` is never used: it also breaks at U+2028, U+2029, U+0085, form feeds and
lone carriage returns, all of which occur inside real sentences and questions.

Every JSON value, a JSONL line or one record of a release's big list (SQuAD, TriviaQA,
HotpotQA, streamed by :func:`json_list` so that gigabyte files read in bounded memory), is
decoded by the ``json`` module, with one rule for depth (Python's recursion limit, about 1,000
levels) and a lone surrogate escape (``\\ud800`` without its pair) refused, as it is no
character. The training readers (``data/qa.py``) read through the same functions.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from pathlib import Path
from typing import Callable, Iterator

from unicode_substrate.corpus import check_surrogates, iter_chunks, iter_lines, json_value
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


_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")  # JSON's white space


def records(path: Path) -> Iterator[tuple[str, object]]:
    """(where, record) for every record of a JSONL or Parquet file ("line N" / "row N"); JSONL is
    streamed (and may be compressed: .gz, .bz2, .zst)."""
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
    for i, _, raw in iter_lines(path):
        try:
            line = raw.decode("utf-8-sig" if i == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise SubstrateError(f"{path} line {i}: not UTF-8 text (byte {e.start})") from None
        if line.strip():
            yield f"line {i}", json_value(line, f"{path} line {i}")


def iter_parsed(path: Path, parse: Callable[[dict, str], Item | None]) -> Iterator[Item]:
    """``parse(record, "file:N")`` over every record, streamed; a RowError becomes one line naming file and record."""
    for where, rec in records(path):
        try:
            if not isinstance(rec, dict):
                raise RowError("not an object")
            item = parse(rec, f"{path.name}:{where.split()[-1]}")
        except RowError as e:
            raise SubstrateError(f"{path} {where}: {e}") from None
        if item is not None:
            yield item


def parse_records(path: Path, parse: Callable[[dict, str], Item | None]) -> list[Item]:
    """Every item :func:`iter_parsed` gives."""
    return list(iter_parsed(path, parse))


class _Text:
    """A (possibly compressed) file's text, decoded as it is read, with a window to parse from."""

    CHUNK = 1 << 20

    def __init__(self, path: Path):
        self.path = path
        self.chunks = iter_chunks(path, self.CHUNK)
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf, self.pos, self.eof = "", 0, False
        self.read_bytes = 0
        self.lines = 0  # line breaks before buf

    def more(self, at_least: int) -> None:
        """Drop what was parsed, then add at least ``at_least`` characters (fewer at the end)."""
        self.lines += self.buf.count("\n", 0, self.pos)
        parts, added = [self.buf[self.pos:]], 0
        self.pos = 0
        while added < at_least and not self.eof:
            chunk = next(self.chunks, None)
            pending = len(self.decoder.getstate()[0])
            try:
                text = self.decoder.decode(chunk or b"", chunk is None)
            except UnicodeDecodeError as e:
                raise SubstrateError(f"{self.path} is not UTF-8 text (byte {self.read_bytes - pending + e.start})") from None
            self.read_bytes += len(chunk or b"")
            self.eof = chunk is None
            parts.append(text)
            added += len(text)
        self.buf = "".join(parts)

    def error(self, msg: str, at: int | None = None, after: str = "") -> SubstrateError:
        at = self.pos if at is None else at
        line = self.lines + self.buf.count("\n", 0, at) + 1
        column = at - self.buf.rfind("\n", 0, at)
        return SubstrateError(f"{self.path}: not valid JSON at line {line} column {column}{after} ({msg})")

    def peek(self) -> str:
        """The next character that is not JSON white space ('' at the end)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or self.eof:
                return self.buf[self.pos:self.pos + 1]
            self.more(self.CHUNK)

    def expect(self, chars: str, after: str = "") -> str:
        c = self.peek()
        if not c or c not in chars:
            raise self.error(f"expecting {' or '.join(repr(x) for x in chars)}", after=after)
        self.pos += 1
        return c

    def value(self, where: str, after: str = ""):
        """The next JSON value, decoded by the json module once the window holds all of it."""
        self.peek()
        last = None
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                # Cut off by the window's end: the error moves when more text comes (an unterminated
                # string names where it starts, so it is read on to the end); a real error stays put.
                seen = (e.msg, e.pos - self.pos)
                if self.eof or (seen == last and not e.msg.startswith("Unterminated string")):
                    raise self.error(e.msg, e.pos, after) from None
                last = seen
                self.more(max(self.CHUNK, len(self.buf) - self.pos))
                continue
            except RecursionError:
                raise SubstrateError(f"{self.path} {where}: nested too deeply to read (more than about 1,000 levels)") from None
            if end == len(self.buf) and not self.eof:  # a number may go on in the next chunk
                self.more(self.CHUNK)
                continue
            start, self.pos = self.pos, end
            return check_surrogates(value, self.buf, start, end, f"{self.path} {where}")



def json_list(path: Path, key: str | None = None) -> Iterator[tuple[int, object]]:
    """(index, record) of the file's one big list: the top-level value, or its ``key`` member; each
    record decoded by the json module as soon as it is whole, so memory holds one record at a time.
    A file of another shape, or not valid JSON, is one line."""
    t = _Text(path)
    n = 0

    def elements() -> Iterator[tuple[int, object]]:
        nonlocal n
        t.pos += 1  # the [
        if t.peek() == "]":
            t.pos += 1
            return
        while True:
            yield n, t.value(f"{key}[{n}]" if key else f"[{n}]")
            n += 1
            if t.expect(",]", after=f" after record {n}") == "]":
                return

    if key is None:
        if t.peek() != "[":
            raise SubstrateError(f"{path}: not a JSON list of records")
        yield from elements()
    else:
        if t.peek() != "{":
            raise SubstrateError(f"{path}: not a JSON object with a {key} list")
        t.pos += 1
        found = False
        if t.peek() == "}":
            t.pos += 1
        else:
            while True:
                name = t.value("a member name")
                if not isinstance(name, str):
                    raise t.error("expecting a member name")
                t.expect(":")
                if name == key:
                    if found:
                        raise SubstrateError(f"{path}: two {key} members")
                    if t.peek() != "[":
                        raise SubstrateError(f"{path}: {key} is not a list")
                    found = True
                    yield from elements()
                else:
                    t.value(name)
                if t.expect(",}") == "}":
                    break
        if not found:
            raise SubstrateError(f"{path}: no {key} list")
    if t.peek():
        raise t.error("extra data after the JSON value")


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
