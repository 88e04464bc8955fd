"""Checkpoints: weights in safetensors, the rest of the training state in a weights-only torch file.

A checkpoint is a directory ``<run>/checkpoints/step-<8 digits>/`` holding ``model.safetensors``
(trainable and persistent tensors; the frozen table is not stored, its directory is referenced by
hash), ``state.pt`` (optimizer, step, RNG states; read with ``torch.load(weights_only=True)``)
and ``manifest.json`` (kind ``checkpoint``, the run identity, sha256 of each file). It is written
through a temporary directory and renamed, so a crash never leaves a half checkpoint under a
real name, and a new checkpoint never replaces an existing one.
"""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

from unicode_substrate.artifacts import (atomic_output_dir, read_manifest, verify_manifest, write_manifest, write_safetensors,
                                         write_torch)
from unicode_substrate.errors import SubstrateError

CHECKPOINT_SCHEMA = 1
CHECKPOINT_KIND = "checkpoint"
CHECKPOINTS_DIR = "checkpoints"
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "state.pt"
_NAME = re.compile(r"^step-(\d{8})$")


def checkpoint_dir(run: str | Path, step: int) -> Path:
    """Where the checkpoint after ``step`` optimizer steps lives."""
    return Path(run) / CHECKPOINTS_DIR / f"step-{step:08d}"


def list_checkpoints(run: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every finished checkpoint directory of a run, oldest first."""
    root = Path(run) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return sorted(found)


def save_checkpoint(run: str | Path, step: int, weights: dict, state: dict, identity: dict, keep_last: int) -> Path:
    """Write the checkpoint for ``step`` atomically, then delete all but the newest ``keep_last``."""
    out = checkpoint_dir(run, step)
    if out.exists():
        raise SubstrateError(f"checkpoint {out} already exists; refusing to overwrite it")
    with atomic_output_dir(out) as tmp:
        write_safetensors(tmp / WEIGHTS_FILE, {k: v.detach().cpu().contiguous() for k, v in weights.items()})
        write_torch(tmp / STATE_FILE, state)
        write_manifest(tmp, CHECKPOINT_KIND, CHECKPOINT_SCHEMA, step=step, **identity)
    for _, old in list_checkpoints(run)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return out


def load_checkpoint(path: str | Path) -> tuple[dict, dict, dict]:
    """(weights, state, manifest) of a checkpoint directory, verified; a clear error if corrupt."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    manifest = verify_checkpoint(path)
    try:
        weights = load_file(str(path / WEIGHTS_FILE))
        # weights_only: a state file is data, never code, even if someone swapped it.
        state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise SubstrateError(f"checkpoint {path} cannot be read: state.pt holds objects other than tensors and plain data") from None
    except (SafetensorError, RuntimeError, OSError, EOFError, ValueError) as e:
        raise SubstrateError(f"checkpoint {path} cannot be read: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return weights, state, manifest


def verify_checkpoint(path: str | Path) -> dict:
    """A checkpoint's manifest, every file's hash verified (a flipped byte or a missing weight file fails)."""
    return verify_manifest(path, kind=CHECKPOINT_KIND, max_schema=CHECKPOINT_SCHEMA)


def latest_checkpoint(run: str | Path) -> Path:
    """The newest checkpoint of a run; a clear error when there is none or it does not verify."""
    found = list_checkpoints(run)
    if not found:
        raise SubstrateError(f"{run} has no checkpoints to resume from")
    step, path = found[-1]
    try:
        verify_checkpoint(path)
    except SubstrateError as e:
        older = ", ".join(p.name for _, p in found[:-1]) or "none"
        raise SubstrateError(f"the newest checkpoint is corrupt ({e}); older checkpoints: {older}") from None
    return path


def checkpoint_step(path: str | Path) -> int:
    """The step a checkpoint directory was written after (a manifest without a whole step is one line)."""
    step = read_manifest(path).get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise SubstrateError(f"{path}/manifest.json records no valid step ({step!r}); the checkpoint is corrupt")
    return step
