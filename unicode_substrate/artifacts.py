"""Self-describing artifact directories: atomic writes, manifests with sha256 of every file.

Every command that writes a directory (tokenizer, table, shards, checkpoints) goes through
:func:`atomic_output_dir` and :func:`write_manifest`; every loader goes through
:func:`verify_manifest`. A directory that has a manifest whose hashes match is complete:
an interrupted write leaves only a hidden ``.<name>.tmp-*`` folder, never a look-alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from unicode_substrate._version import __version__
from unicode_substrate.errors import SubstrateError

MANIFEST_NAME = "manifest.json"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, two-space indent, UTF-8, trailing newline."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as canonical JSON."""
    Path(path).write_bytes(canonical_json(obj))


@contextlib.contextmanager
def atomic_output_dir(out: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; on success it replaces ``out`` by rename.

    An existing ``out`` is refused unless ``force``. On any exception the temporary
    directory is removed and ``out`` is left as it was.
    """
    out = Path(out)
    if out.exists() and not force:
        raise SubstrateError(f"output directory {out} already exists (use --force to replace it)")
    if out.exists() and not out.is_dir():
        raise SubstrateError(f"output path {out} exists and is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a single file atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_manifest(directory: str | os.PathLike, kind: str, schema_version: int, **fields: Any) -> dict:
    """Write ``manifest.json`` naming the artifact kind, versions and sha256 of every other file.

    Call it last, after every other file of the artifact is written. Returns the manifest.
    """
    directory = Path(directory)
    files = {
        p.relative_to(directory).as_posix(): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }
    manifest = {
        "kind": kind,
        "schema_version": schema_version,
        "package": "unicode-substrate",
        "package_version": __version__,
        **fields,
        "files": files,
    }
    write_json(directory / MANIFEST_NAME, manifest)
    return manifest


def read_manifest(directory: str | os.PathLike) -> dict:
    """Read ``manifest.json`` without checking file hashes."""
    path = Path(directory) / MANIFEST_NAME
    if not Path(directory).is_dir():
        raise SubstrateError(f"{directory} is not a directory")
    if not path.is_file():
        raise SubstrateError(f"{directory} has no {MANIFEST_NAME}: not a unicode-substrate artifact, or an unfinished write")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SubstrateError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or "files" not in manifest or "kind" not in manifest:
        raise SubstrateError(f"{path} is not a unicode-substrate manifest")
    return manifest


def verify_manifest(
    directory: str | os.PathLike,
    kind: str | None = None,
    max_schema: int | None = None,
    skip_hash: frozenset[str] = frozenset(),
) -> dict:
    """Check that every file the manifest lists exists and matches its sha256; return the manifest.

    ``kind`` and ``max_schema`` refuse artifacts of another kind or a newer schema than this
    code understands. ``skip_hash`` names files whose hash the caller verifies itself (e.g. a
    large table checked as it is read).
    """
    manifest = read_manifest(directory)
    if kind is not None and manifest["kind"] != kind:
        raise SubstrateError(f"{directory} holds a {manifest['kind']!r} artifact, expected {kind!r}")
    if max_schema is not None and int(manifest.get("schema_version", 0)) > max_schema:
        raise SubstrateError(
            f"{directory} has schema version {manifest['schema_version']}, newer than this code reads ({max_schema}); upgrade unicode-substrate"
        )
    for name, digest in manifest["files"].items():
        path = Path(directory) / name
        if not path.is_file():
            raise SubstrateError(f"{directory}: {name} is listed in the manifest but missing")
        if name not in skip_hash and sha256_file(path) != digest:
            raise SubstrateError(f"{directory}: {name} does not match its sha256 in the manifest (edited or corrupt)")
    return manifest


def manifest_sha256(directory: str | os.PathLike) -> str:
    """sha256 of a directory's manifest.json bytes: the identity other artifacts refer to."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise SubstrateError(f"{directory} has no {MANIFEST_NAME}")
    return sha256_file(path)
