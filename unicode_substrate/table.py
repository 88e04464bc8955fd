"""Embedding-table artifacts: the writer, ``load_table`` and ``as_embedding``.

A table directory holds

* ``embeddings.safetensors`` - tensor ``embeddings``, float32 [V, D], string metadata naming
  the format version, method, tokenizer and checksum;
* ``embeddings.parquet`` - one row per token: ``id``, ``token``, ``vector`` (Arrow fixed-size
  list of float32), plus descriptive columns (``script``, ``coverage``, ...);
* ``manifest.json`` - kind ``table``: method and every parameter, fonts, tokenizer identity,
  shape, collision statistics, the sha256 of every file.

Loading verifies by default in O(bandwidth): the safetensors header against its sha256 and the
tensor bytes against a whole-content checksum (64-bit word sums, one plain and one weighted by
row position), both recorded in the manifest; a changed byte anywhere in the file, a truncation
or a row swap is refused. ``verify="sha256"`` checks the full sha256 of every file instead.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np

from unicode_substrate.artifacts import (
    atomic_output_dir,
    manifest_sha256,
    read_manifest,
    sha256_bytes,
    verify_manifest,
    write_manifest,
)
from unicode_substrate.errors import SubstrateError

TABLE_SCHEMA = 1
FORMAT = "unicode-substrate-table"
TENSOR_NAME = "embeddings"
SAFETENSORS = "embeddings.safetensors"
PARQUET = "embeddings.parquet"
CHECKSUM_ALGORITHM = "wordsum64+rowweighted64"


@dataclass(frozen=True)
class Table:
    """A verified table: ``weight`` float32 [V, D] (C-contiguous, read-only), its manifest and path."""

    weight: np.ndarray
    manifest: dict
    path: Path

    @property
    def vocab_size(self) -> int:
        return int(self.weight.shape[0])

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])


def content_checksum(weight: np.ndarray) -> str:
    """Whole-content checksum of a float32 [V, D] array: any changed byte or swapped row changes it.

    The bytes are read as little-endian words (uint64 when a row is a whole number of 8-byte
    words, i.e. D even, else uint32); s1 is the sum of all words mod 2**64 (a changed byte
    changes exactly one word, so s1), s2 weights each row's sum by its 1-based position
    (catches moved rows). One pass at memory speed: about 11 ms for 65,536 x 1,024.
    """
    w = np.ascontiguousarray(weight, dtype="<f4")
    word = "<u8" if w.shape[1] % 2 == 0 else "<u4"
    words = w.view(word).reshape(w.shape[0], -1)
    with np.errstate(over="ignore"):
        rows = np.add.reduce(words, axis=1, dtype=np.uint64)
        s1 = int(np.add.reduce(rows, dtype=np.uint64))
        pos = np.arange(1, len(rows) + 1, dtype=np.uint64)
        s2 = int(np.add.reduce(rows * pos, dtype=np.uint64))
    return f"{s1:016x}{s2:016x}"


def _safetensors_header(data: np.ndarray, metadata: dict[str, str]) -> bytes:
    """The safetensors header (size prefix + JSON) for one C-contiguous float32 tensor, deterministic.

    Written here rather than by ``safetensors.numpy.save`` because that orders metadata keys
    differently from run to run; the layout is the same (8-byte little-endian header size,
    JSON header padded with spaces to a multiple of 8, raw little-endian data), and the
    safetensors library reads it back (tests/test_table.py checks both).
    """
    header = {
        "__metadata__": dict(sorted(metadata.items())),
        TENSOR_NAME: {"dtype": "F32", "shape": list(data.shape), "data_offsets": [0, data.nbytes]},
    }
    hb = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    return struct.pack("<Q", len(hb)) + hb


def _header(path: Path) -> tuple[int, bytes, dict]:
    """(header length, header bytes, parsed header) of a safetensors file, with clear errors."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise SubstrateError(f"{path} is truncated (no safetensors header)")
            (n,) = struct.unpack("<Q", raw)
            if n > 100_000_000:
                raise SubstrateError(f"{path} has a corrupt safetensors header")
            hb = f.read(n)
    except OSError as e:
        raise SubstrateError(f"cannot read {path}: {e}") from None
    if len(hb) < n:
        raise SubstrateError(f"{path} is truncated (header cut short)")
    try:
        header = json.loads(hb)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SubstrateError(f"{path} has a corrupt safetensors header") from None
    return n, hb, header


def write_table(
    out: str | Path,
    weight: np.ndarray,
    tokens: Sequence[str],
    fields: dict[str, Any],
    columns: dict[str, Sequence] | None = None,
    force: bool = False,
    later: Callable[[], dict[str, Any]] | None = None,
) -> Path:
    """Write a table directory atomically; ``fields`` go into the manifest (method, parameters, ...).

    ``later`` computes more manifest fields while the data files are being written (the
    collision check of a table that the check cannot change); if it raises, nothing is written.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.parquet as pq

    # a C-contiguous little-endian copy: a strided view must never reach the file as-is
    weight = np.ascontiguousarray(weight, dtype="<f4")
    if weight.ndim != 2:
        raise SubstrateError(f"a table must be 2-D [V, D], got shape {weight.shape}")
    v, d = weight.shape
    if len(tokens) != v:
        raise SubstrateError(f"{len(tokens)} token strings for a table of {v} rows")
    if not np.isfinite(weight).all():
        raise SubstrateError("the table holds NaN or infinite values")
    checksum = content_checksum(weight)
    meta = {
        "format": FORMAT,
        "format_version": str(TABLE_SCHEMA),
        "method": str(fields.get("method", "")),
        "tokenizer_manifest_sha256": str(fields.get("tokenizer_manifest_sha256", "")),
        "embeddings_checksum": checksum,
    }
    head = _safetensors_header(weight, meta)
    header_sha = sha256_bytes(head)

    cols: dict[str, Any] = {
        "id": pa.array(np.arange(v, dtype=np.int32)),
        "token": pa.array(list(tokens), type=pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(weight.reshape(-1)), d),
    }
    for name, values in (columns or {}).items():
        cols[name] = pa.array(list(values))
    table = pa.table(cols)
    # float vectors barely compress and zstd on 256 MB costs seconds: store them plain
    codecs = {name: ("none" if name == "vector" else "zstd") for name in table.column_names}
    dictionary = [name for name in table.column_names if name not in ("vector", "id")]
    # (the pool closes first, so the Parquet writer has finished before a failed directory is removed)
    with atomic_output_dir(out, force=force, kind="table") as tmp, ThreadPoolExecutor(1) as pool:
        # Parquet's encoding of the nested vector column is the longest single step and runs
        # without the GIL: it goes on beside the tensor file and ``later``
        parquet = pool.submit(pq.write_table, table, tmp / PARQUET, compression=codecs, use_dictionary=dictionary,
                              write_statistics=["id"])
        with open(tmp / SAFETENSORS, "wb") as f:
            f.write(head)
            f.write(memoryview(weight).cast("B"))
        more = later() if later is not None else {}
        parquet.result()
        write_manifest(
            tmp,
            "table",
            TABLE_SCHEMA,
            **fields,
            **more,
            vocab_size=v,
            dim=d,
            dtype="float32",
            tensor_name=TENSOR_NAME,
            embeddings_checksum={"algorithm": CHECKSUM_ALGORITHM, "value": checksum},
            safetensors_header_sha256=header_sha,
        )
    return Path(out)


def _tokenizer_sha(tokenizer: Any) -> str:
    if isinstance(tokenizer, (str, Path)):
        return manifest_sha256(tokenizer)
    sha = getattr(tokenizer, "manifest_sha256", None)
    if not isinstance(sha, str):
        raise SubstrateError("tokenizer must be a tokenizer directory or a loaded Tokenizer")
    return sha


def load_table(
    dir: str | Path, tokenizer: Any = None, verify: Literal["fast", "sha256"] = "fast"
) -> Table:
    """Load and verify a table directory; refuse it if it was rendered for another tokenizer."""
    path = Path(dir)
    if verify == "sha256":
        manifest = verify_manifest(path, kind="table", max_schema=TABLE_SCHEMA)
    elif verify == "fast":
        big = frozenset({SAFETENSORS, PARQUET})
        manifest = verify_manifest(path, kind="table", max_schema=TABLE_SCHEMA, skip_hash=big)
    else:
        raise SubstrateError(f"unknown verify mode {verify!r} (fast or sha256)")
    st = path / SAFETENSORS
    if SAFETENSORS not in manifest["files"]:
        raise SubstrateError(f"{path}: the manifest lists no {SAFETENSORS}")
    n, hb, header = _header(st)
    if sha256_bytes(struct.pack("<Q", n) + hb) != manifest.get("safetensors_header_sha256"):
        raise SubstrateError(f"{st}: header does not match the manifest (edited or corrupt)")
    info = header.get(TENSOR_NAME)
    v, d = int(manifest["vocab_size"]), int(manifest["dim"])
    if not info or info.get("dtype") != "F32" or info.get("shape") != [v, d]:
        raise SubstrateError(f"{st}: tensor {TENSOR_NAME!r} is not float32 [{v}, {d}] as the manifest says")
    start, end = info["data_offsets"]
    if end - start != v * d * 4 or st.stat().st_size != 8 + n + end:
        raise SubstrateError(f"{st} is truncated or has extra bytes ({st.stat().st_size} bytes)")
    weight = np.memmap(st, dtype="<f4", mode="r", offset=8 + n + start, shape=(v, d))
    if verify == "fast" and content_checksum(weight) != manifest["embeddings_checksum"]["value"]:
        raise SubstrateError(f"{st}: table bytes do not match the manifest checksum (edited or corrupt)")
    if tokenizer is not None:
        want = _tokenizer_sha(tokenizer)
        if manifest.get("tokenizer_manifest_sha256") != want:
            raise SubstrateError(
                f"{path} was rendered for tokenizer {str(manifest.get('tokenizer_manifest_sha256'))[:12]}..., "
                f"not for the given tokenizer {want[:12]}..."
            )
    return Table(weight=weight, manifest=manifest, path=path)


def as_embedding(dir: str | Path, freeze: bool = True, tokenizer: Any = None):
    """A ``torch.nn.Embedding`` holding the verified table (frozen by default)."""
    import torch

    table = load_table(dir, tokenizer=tokenizer)
    return torch.nn.Embedding.from_pretrained(torch.from_numpy(np.array(table.weight)), freeze=freeze)


def table_tokens(dir: str | Path) -> list[str]:
    """Token strings of a table in id order, from its parquet file."""
    import pyarrow.parquet as pq

    read_manifest(dir)
    return pq.read_table(Path(dir) / PARQUET, columns=["token"]).column("token").to_pylist()


# Which tables a model that names a method accepts. glyph and glyph-paper are the same kind of
# table (rendered glyphs through PCA, two recipes); bit and float codes have different geometry,
# so each takes only its own; a random table is a control and must be named on purpose
# (model field table_method = "random"). A model that names no method takes any table.
TABLE_METHODS_ACCEPTED: dict[str, tuple[str, ...]] = {
    "glyph": ("glyph", "glyph-paper"),
    "glyph-paper": ("glyph-paper", "glyph"),
    "bit": ("bit",),
    "float": ("float",),
    "random": ("random",),
}


def check_table_method(expected: str | None, found: Any, table: Any) -> None:
    """Refuse a table whose manifest method is not one the model's ``table_method`` accepts."""
    if expected is None:
        return
    accepted = TABLE_METHODS_ACCEPTED.get(expected, (expected,))
    if found not in accepted:
        raise SubstrateError(
            f"table {table} was made by method {found!r}, but the model expects a {expected!r} table "
            f"(accepted: {', '.join(accepted)}); render one with that method, or set the model field "
            f"table_method = {found!r} to train on this table on purpose"
        )
