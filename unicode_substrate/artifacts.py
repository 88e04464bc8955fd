"""Self-describing artifact directories: atomic writes, manifests with sha256 of every file.

Every command that writes a directory (tokenizer, table, shards, checkpoints) goes through
:func:`atomic_output_dir` and :func:`write_manifest`; every loader goes through
:func:`verify_manifest`. A directory that has a manifest whose hashes match is complete:
an interrupted write leaves only a hidden ``.<name>.tmp-*`` folder, never a look-alike.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from unicode_substrate._version import __version__
from unicode_substrate.errors import SubstrateError

MANIFEST_NAME = "manifest.json"
PACKAGE = "unicode-substrate"
# The files by which a directory says which artifact it is: a manifest (tokenizer, table, data,
# checkpoint, export, eval), a run's own record, a growth's record. Each names its kind and this package.
RECORD_FILES: tuple[str, ...] = (MANIFEST_NAME, "run.json", "grow.json", "study.json")
# Records written before they named kind and package, recognised by their shape.
_LEGACY_KINDS = {"run.json": ("run", "identity"), "grow.json": ("growth", "config")}


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
def atomic_output_dir(
    out: str | os.PathLike,
    force: bool = False,
    kind: str | None = None,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; on success it replaces ``out`` by rename.

    Every writer of an artifact directory goes through here, passing its manifest ``kind``
    and the paths it reads (``inputs``). Before anything is written:

    * ``out`` must not be one of ``inputs``, a folder that holds one, nor lie inside one (even with ``force``);
    * an existing ``out`` is refused unless ``force``, and ``force`` replaces only an empty
      folder or an artifact of the same ``kind`` (its manifest says so; with ``kind=None`` any
      unicode-substrate artifact), never an arbitrary folder;
    * a lock file ``.<name>.lock`` (created exclusively, holding the pid) makes one writer win
      when several write the same ``out`` at once; the others fail with a one-line error.
      Locks and hidden ``.<name>.tmp-<pid>-*`` folders of processes that no longer exist
      (killed mid-write) are removed.

    On any exception the temporary directory is removed and ``out`` is left as it was. The
    finished folder gets the usual umask-respecting mode (``mkdtemp`` alone would give 0700).
    """
    out = Path(out)
    check_output(out, force=force, kind=kind, inputs=inputs)
    with output_lock(out):
        check_output(out, force=force, kind=kind, inputs=inputs, held=True)  # again: another writer may have finished meanwhile
        _remove_stale(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())
            if out.exists():
                check_output(out, force=force, kind=kind, inputs=inputs, held=True)
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, old)
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                _rename_noreplace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def check_output(
    out: str | os.PathLike,
    force: bool = False,
    kind: str | None = None,
    inputs: Iterable[str | os.PathLike | None] = (),
    held: bool = False,
) -> None:
    """Refuse an output directory that :func:`atomic_output_dir` would refuse; call it early, before long work.

    Unless ``held`` (the caller holds the output's lock), an output another live process is
    writing is refused too, so a second writer learns it before its own long work.
    """
    out = Path(out)
    try:
        str(out).encode("utf-8")
    except UnicodeEncodeError:
        raise SubstrateError(f"output path {str(out)!r} is not valid UTF-8; choose another name") from None
    if not out.name or out.name in (".", ".."):
        raise SubstrateError(f"output path {str(out)!r} does not name a directory to create")
    check_not_input(out, inputs)
    if not held:
        _check_unlocked(out)
    for parent in (out.parent, *out.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise SubstrateError(f"cannot write {out}: {parent} exists and is not a directory")
            break
    if not (out.exists() or out.is_symlink()):
        return
    if not out.is_dir() or out.is_symlink():
        raise SubstrateError(f"output path {out} exists and is not a directory; refusing to replace it")
    if not force:
        raise SubstrateError(f"output directory {out} already exists; force replaces it", param="force")
    if not any(out.iterdir()):
        return
    found = artifact_kind(out)
    if found is None:
        raise SubstrateError(f"{out} is not a unicode-substrate artifact (no manifest of ours); force replaces only those, so it was left alone")
    if kind is not None and found != kind:
        raise SubstrateError(f"{out} holds a {found!r} artifact, not a {kind!r}; force replaces only an artifact of the same kind, so it was left alone")


def check_resumable(out: str | os.PathLike, kind: str, what: str, *, force: bool, resume: bool,
                    inputs: Iterable[str | os.PathLike | None] = (), ours=None) -> bool:
    """The refusal rule of a folder a long job fills as it goes and can resume (a run being trained, a
    growth, a study); call it before any work. True: ``out`` holds a ``kind`` artifact to resume.

    False: the job starts afresh (``out`` is absent or empty, or ``force`` replaces an artifact of this
    kind). Refused in one line: an input, a folder holding one or inside one (always); a folder that is
    not empty and not ``kind`` (even with ``force``: it replaces only what this toolkit wrote); a resume
    of a folder that holds no ``kind``; an artifact of this kind without ``resume`` or ``force``.
    ``ours(out)`` recognises the kind where its record file cannot (default: :func:`artifact_kind`);
    ``what`` names the kind in the messages ("training run", "growth", "study").
    """
    out = Path(out)
    check_not_input(out, inputs)
    if not out.is_dir() or not any(out.iterdir()):
        if resume:
            raise SubstrateError(f"{out} holds no {what}; nothing to resume")
        return False
    if not (ours(out) if ours is not None else artifact_kind(out) == kind):
        for name in RECORD_FILES:  # a torn or edited record says so, rather than "not a growth"
            if (out / name).is_file():
                read_json_object(out / name, f"{what} record")
                break
        if resume:
            raise SubstrateError(f"{out} is not a {what}; nothing to resume")
        raise SubstrateError(f"{out} is not empty and holds no {what}; only a {what} is replaced (even when forced), "
                             "so it was left alone: give another output")
    if resume:
        return True
    if not force:
        raise SubstrateError(f"{out} already exists and holds a {what} (resume it to continue, or force a new one over it)",
                             param=("resume", "force"))
    return False


def _check_unlocked(out: Path) -> None:
    """Refuse ``out`` while a live process holds its lock (this job's own whole-job lock excepted)."""
    lock = lock_file(out)
    if Path(os.path.abspath(lock)) in _JOB_LOCKS or not lock.is_file():
        return
    pid = _lock_pid(lock)
    if pid is not None and _pid_alive(pid):
        raise SubstrateError(f"another process (pid {pid}) is writing {out}; wait for it to finish, or remove {lock} if it is gone")


def artifact_kind(directory: str | os.PathLike) -> str | None:
    """The kind of unicode-substrate artifact ``directory`` holds (from its record file), or None."""
    for name in RECORD_FILES:
        path = Path(directory) / name
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return None
        if not isinstance(record, dict):
            return None
        if record.get("package") == PACKAGE and isinstance(record.get("kind"), str):
            return record["kind"]
        legacy = _LEGACY_KINDS.get(name)
        if legacy and "package" not in record and isinstance(record.get(legacy[1]), dict):
            return legacy[0]
        return None
    return None


def recorded_path(path: str | os.PathLike | None, artifact: str | os.PathLike) -> str | None:
    """How an artifact records an input: relative to the artifact when both lie under one root, else absolute.

    A relative path keeps a folder of artifacts that moves or is copied as a whole openable.
    """
    if path is None:
        return None
    target, base = Path(os.path.abspath(path)), Path(os.path.abspath(artifact))
    try:
        common = Path(os.path.commonpath([target, base]))
    except ValueError:
        return str(target)
    if common == Path(common.anchor):  # nothing shared but the root: an absolute path says more
        return str(target)
    return os.path.relpath(target, base)


def resolve_recorded(recorded: str | None, artifact: str | os.PathLike) -> Path | None:
    """The path an artifact recorded with :func:`recorded_path`, as seen from where the artifact is now."""
    if not recorded:
        return None
    p = Path(recorded)
    return p if p.is_absolute() else Path(artifact) / p


def check_not_input(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse an output path that is one of ``inputs``, a folder holding one (replacing it would destroy it),
    or a path inside an input folder (writing there would change the input)."""
    target = _real(out)
    for p in inputs:
        if p is None:
            continue
        src = _real(p)
        if src == target:
            raise SubstrateError(f"the output {out} is also an input of this command; choose another output path")
        if target in src.parents:
            raise SubstrateError(f"the output {out} holds an input of this command ({p}); choose another output path")
        if src in target.parents and src.is_dir():
            raise SubstrateError(f"the output {out} lies inside an input of this command ({p}); choose another output path")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # the first bytes of every picture we write


def check_output_file(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], force: bool = False,
                      signature: bytes = PNG_SIGNATURE) -> None:
    """The refusal rule of :func:`check_output` for a single output file (a picture); call it before long work.

    Refused: an input, a folder holding one, a path inside an input folder, a directory; an existing
    file unless ``force``, and with ``force`` a file that is not of this kind (its first bytes are not
    ``signature``): ``--force`` replaces a picture, never a user's other file of that name.
    """
    check_not_input(out, inputs)
    out = Path(out)
    if out.is_dir():
        raise SubstrateError(f"the output {out} is a directory; name a file to write")
    if not (out.exists() or out.is_symlink()):
        return
    if not force:
        raise SubstrateError(f"{out} already exists; force replaces it", param="force")
    try:
        with open(out, "rb") as f:
            head = f.read(len(signature))
    except OSError as e:
        raise SubstrateError(f"cannot read {out} to check that it is ours: {e.strerror or e}") from None
    if out.is_symlink() or head != signature:
        raise SubstrateError(f"{out} is not a picture this toolkit wrote; force replaces only those, so it was left alone")


def _real(p: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(p)))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


@contextlib.contextmanager
def output_lock(out: str | os.PathLike, whole_job: bool = False) -> Iterator[Path]:
    """Hold ``.<name>.lock`` beside ``out`` (exclusive create, our pid inside) for the duration of a write.

    A second writer of the same ``out`` fails at once with a one-line error. A lock whose
    process no longer exists (SIGKILL, power loss) is taken over. With ``whole_job`` the lock
    covers a long job (a training run, a growth) whose own atomic writes of ``out`` then pass
    through it; any other writer is still refused.
    """
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SubstrateError(f"cannot write {out}: a parent of it exists and is not a directory") from None
    lock = lock_file(out)
    if Path(os.path.abspath(lock)) in _JOB_LOCKS:  # held by the job this write belongs to
        yield lock
        return
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _lock_pid(lock)
            if not _stale(lock):
                if pid is not None:
                    raise SubstrateError(f"another process (pid {pid}) is writing {out}; wait for it to finish, or remove {lock} if it is gone") from None
                # being written this instant by another process: it owns the lock
                raise SubstrateError(f"another process is writing {out}; wait for it to finish") from None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)
            continue
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:  # a full disk can refuse even these few bytes: leave no empty lock behind
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(lock)
            raise
        os.close(fd)
        break
    else:
        raise SubstrateError(f"cannot take the lock {lock} for writing {out}")
    if whole_job:
        _JOB_LOCKS.add(Path(os.path.abspath(lock)))
    try:
        yield lock
    finally:
        _JOB_LOCKS.discard(Path(os.path.abspath(lock)))
        if _lock_pid(lock) == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)


_JOB_LOCKS: set[Path] = set()  # locks this process holds for a whole job (output_lock(..., whole_job=True))


def lock_file(out: str | os.PathLike) -> Path:
    """The lock file of ``out``: ``.<name>.lock`` beside it (named here only)."""
    out = Path(out)
    return out.with_name(f".{out.name}.lock")


def _stale(lock: Path) -> bool:
    """Whether ``lock`` is left by a process that is gone (SIGKILL, power loss); a lock being written now is not."""
    pid = _lock_pid(lock)
    if pid is not None:
        return not _pid_alive(pid)
    return time.time() - _mtime(lock) >= 5


def clear_stale(out: str | os.PathLike) -> None:
    """Remove ``out``'s lock and hidden leftovers when the process that left them is gone; a live writer's stay."""
    out = Path(out)
    lock = lock_file(out)
    if lock.is_file() and _stale(lock):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
    _remove_stale(out)


def leftover_of(name: str) -> str | None:
    """The name of the output a hidden lock or temporary ``name`` belongs to (``.seed-1.lock`` -> ``seed-1``), else None."""
    if not name.startswith("."):
        return None
    if name.endswith(".lock"):
        return name[1:-len(".lock")] or None
    m = re.search(r"\.(?:tmp|old)-\d+(?:-|$)", name)
    return name[1:m.start()] or None if m else None


def _lock_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


_LEFTOVER = re.compile(r"\.(?:tmp|old)-(\d+)(?:-|$)")


def _remove_stale(out: Path) -> None:
    """Remove hidden ``.<name>.tmp-<pid>-*`` / ``.<name>.old-<pid>`` leftovers of processes that are gone."""
    prefix = f".{out.name}."
    with contextlib.suppress(OSError):
        for p in out.parent.iterdir():
            if not p.name.startswith(prefix):
                continue
            m = _LEFTOVER.match(p.name[len(prefix) - 1 :])
            if m and not _pid_alive(int(m.group(1))):
                if p.name.startswith(f"{prefix}old-") and p.is_dir() and not out.exists():
                    os.rename(p, out)  # killed between the two renames: the old artifact comes back
                elif p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        p.unlink()


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` only if ``dst`` does not exist (renameat2 on Linux; else a checked rename)."""
    if _renameat2 is not None:
        if _renameat2(-100, os.fsencode(src), -100, os.fsencode(dst), 1) == 0:  # AT_FDCWD, RENAME_NOREPLACE
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise SubstrateError(f"{dst} appeared while this command was writing it; it was left alone")
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(dst))
    if dst.exists():
        raise SubstrateError(f"{dst} appeared while this command was writing it; it was left alone")
    os.rename(src, dst)  # onto a non-empty directory this fails rather than replaces


def _load_renameat2():
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def _umask() -> int:
    """The process umask (read from /proc where possible; setting it back at once elsewhere)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a single file atomically (temp file in the same folder, fsync, rename) with an umask-respecting mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def fast_checksum_file(path: str | os.PathLike) -> str:
    """A whole-file checksum at memory speed: size, sum of 64-bit words and block-position-weighted sum.

    Any changed byte changes one word, so the plain sum; a moved 4 KiB block changes the
    weighted one; a truncation changes the size. Not a defence against a deliberate forger
    (``verify="sha256"`` is), but it catches corruption for about a tenth of sha256's time.
    """
    import numpy as np

    # Read in chunks, not memory-mapped: mapped pages count as resident memory, which would then
    # grow with the file (a corpus-scale train.bin) although the sums need one chunk at a time.
    size = os.path.getsize(path)
    s1 = s2 = done = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHECKSUM_CHUNK):
            chunk += b"\0" * (-len(chunk) % _BLOCK)  # only the last chunk can be short
            words = np.frombuffer(chunk, dtype="<u8")
            with np.errstate(over="ignore"):
                blocks = np.add.reduce(words.reshape(-1, _BLOCK // 8), axis=1, dtype=np.uint64)
                at = np.arange(done + 1, done + len(blocks) + 1, dtype=np.uint64)
                s1 = (s1 + int(np.add.reduce(blocks, dtype=np.uint64))) % (1 << 64)
                s2 = (s2 + int(np.add.reduce(blocks * at, dtype=np.uint64))) % (1 << 64)
            done += len(blocks)
    return f"{size:x}-{s1:016x}{s2:016x}"


_BLOCK = 4096
_CHECKSUM_CHUNK = 4096 * _BLOCK  # 16 MiB read at a time
FAST_CHECKSUM = "wordsum64+block4k"
FAST_CHECKSUM_MIN = 1 << 20  # files this large also get a fast checksum in the manifest


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
    # Large files also get a checksum that loaders verify at memory speed by default.
    fast = {
        name: fast_checksum_file(directory / name)
        for name in files
        if (directory / name).stat().st_size >= FAST_CHECKSUM_MIN
    }
    manifest = {
        "kind": kind,
        "schema_version": schema_version,
        "package": PACKAGE,
        "package_version": __version__,
        **fields,
        "files": files,
    }
    if fast:
        manifest["fast_checksums"] = {"algorithm": FAST_CHECKSUM, "files": fast}
    write_json(directory / MANIFEST_NAME, manifest)
    return manifest


def read_json_object(file: str | os.PathLike, what: str) -> dict:
    """A record file that holds one JSON object (run.json, summary.json, grow.json, a manifest, ...);
    one line naming the file and ``what`` when it cannot be read, is not JSON, or is not an object."""
    file = Path(file)
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise SubstrateError(f"cannot read {file}: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise SubstrateError(f"{file} is not valid JSON ({str(e)[:80]}); the {what} is corrupt") from None
    if not isinstance(value, dict):
        raise SubstrateError(f"{file} is not a {what} (not a JSON object)")
    return value


def read_manifest(directory: str | os.PathLike) -> dict:
    """Read ``manifest.json`` without checking file hashes."""
    path = Path(directory) / MANIFEST_NAME
    if not Path(directory).is_dir():
        raise SubstrateError(f"{directory} is not a directory")
    if not path.is_file():
        raise SubstrateError(f"{directory} has no {MANIFEST_NAME}: not a unicode-substrate artifact, or an unfinished write")
    manifest = read_json_object(path, "manifest")
    if "files" not in manifest or "kind" not in manifest:
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
    code understands. ``skip_hash`` names large files whose sha256 is too slow to compute on
    every load: they are checked against the manifest's fast checksum instead (sha256 when the
    manifest has none), so every file is verified either way.
    """
    manifest = read_manifest(directory)
    if kind is not None and manifest["kind"] != kind:
        raise SubstrateError(f"{directory} holds a {manifest['kind']!r} artifact, expected {kind!r}")
    if max_schema is not None and int(manifest.get("schema_version", 0)) > max_schema:
        raise SubstrateError(
            f"{directory} has schema version {manifest['schema_version']}, newer than this code reads ({max_schema}); upgrade unicode-substrate"
        )
    fast = manifest.get("fast_checksums")
    fast = fast.get("files", {}) if isinstance(fast, dict) and fast.get("algorithm") == FAST_CHECKSUM else {}
    for name, digest in manifest["files"].items():
        path = Path(directory) / name
        if not path.is_file():
            raise SubstrateError(f"{directory}: {name} is listed in the manifest but missing")
        if name in skip_hash and name in fast:
            if fast_checksum_file(path) != fast[name]:
                raise SubstrateError(f"{directory}: {name} does not match its checksum in the manifest (edited or corrupt)")
        elif sha256_file(path) != digest:
            raise SubstrateError(f"{directory}: {name} does not match its sha256 in the manifest (edited or corrupt)")
    return manifest


def manifest_sha256(directory: str | os.PathLike) -> str:
    """sha256 of a directory's manifest.json bytes: the identity other artifacts refer to."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise SubstrateError(f"{directory} has no {MANIFEST_NAME}")
    return sha256_file(path)


def write_safetensors(path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Save torch ``tensors`` as a safetensors file with the umask-respecting mode of every other file.

    The safetensors library reports a failed write (a full disk, a read-only folder) as its own
    ``SafetensorError``, not an ``OSError``; it is turned back into the ``OSError`` it wraps, so the
    CLI says it in one line as it says every other write error.
    """
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(tensors, os.fspath(path), metadata=metadata)
    except SafetensorError as e:
        raise write_error(path, e) from None
    os.chmod(path, 0o666 & ~_umask())


def write_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` (optimizer state) with a failed write turned into one line rather than torch's RuntimeError."""
    import torch

    try:
        torch.save(obj, path)
    except RuntimeError as e:
        raise write_error(path, e) from None


def write_error(path: str | os.PathLike, e: BaseException) -> Exception:
    """An ``OSError`` for a library's write error that names an OS error code (as Rust's errors do), else one line."""
    m = re.search(r"(?:\bcode: |\bos error )(\d+)", str(e))  # Rust's Os { code: 28, .. } or "(os error 28)"
    if m:
        code = int(m.group(1))
        return OSError(code, os.strerror(code), os.fspath(path))
    with contextlib.suppress(OSError):
        if shutil.disk_usage(Path(path).parent).free == 0:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
    first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
    return SubstrateError(f"cannot write {os.fspath(path)} (is the disk full?): {first}")
