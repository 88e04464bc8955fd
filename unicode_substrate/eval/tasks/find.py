"""Finding a task's files where a user unpacked the official downloads.

Below the search root (``--data-dir``, or a ``--task-path`` folder) a file is one of a task's
files for a split when

* its path matches one of the task's release names for that split (``ARC-Easy-Dev.jsonl``,
  ``data/test/*_test.csv``, ``opus.en-ru-dev.en``, ...), which are found anywhere, or
* it is inside a folder named for the task (``arc-easy/``, ``ARC-Easy/``, ``boolq/``; or the
  ``--task-path`` folder itself) and its name is a generic name of the split
  (``dev.jsonl``, ``validation-00000-of-00001.parquet``) or names no split at all;

and no folder between it and the task's own folder is named for another task: the innermost
folder named for a task decides whose file it is (so an unpacked ARC release under ``arc-easy/``
gives its Challenge files to arc-challenge only). Files that together form one part of the split
(Hugging Face shards ``-0000i-of-0000n``, the two sides of an OPUS pair) make one unit.
"""

from __future__ import annotations

import re
from pathlib import Path

from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks.task import Task


class NoFiles(SubstrateError):
    """No file of the task's split was found (few-shot rows may still come from a split column)."""


SHARD = re.compile(r"^(?P<stem>.+)-\d+-of-(?P<total>\d+)(?P<suffix>\.[^.]+)$")


def _owner(dirs: tuple[str, ...], owners: dict[str, str]) -> str | None:
    for d in reversed(dirs):
        if d.lower() in owners:
            return owners[d.lower()]
    return None


def candidates(task: Task, root: Path, split: str, owners: dict[str, str], in_task_folder: bool) -> list[Path]:
    """Every file below ``root`` that is one of ``task``'s files for ``split``, sorted."""
    release = [re.compile(p) for p in task.files.release.get(split, ())]
    generic = [re.compile(p, re.IGNORECASE) for p in task.files.generic.get(split, ())]
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        owner = _owner(rel.parts[:-1], owners)
        if owner is not None and owner != task.name:
            continue
        posix = rel.as_posix()
        if any(p.search(posix) for p in release):
            found.append(path)
            continue
        if not (in_task_folder or owner == task.name):
            continue
        if any(re.search(p, path.name) for p in task.files.exclude):
            continue
        named = task.files.splits_named(path.stem)
        if any(p.search(path.name) for p in generic):
            found.append(path)
        elif path.suffix.lower() in task.files.suffixes and (named == {split} or (not named and split == task.split)):
            found.append(path)
    return found


def units(task: Task, files: list[Path]) -> list[tuple[Path, ...]]:
    """Files grouped into the units that are read together: shards of one export, OPUS pairs."""
    groups: dict[tuple, list[Path]] = {}
    for f in files:
        m = SHARD.match(f.name)
        if m:
            key = ("shards", f.parent, m["stem"], m["total"], m["suffix"])
        elif f.suffix[1:].lower() in task.files.paired:
            key = ("pair", f.with_suffix(""))
        else:
            key = ("file", f)
        groups.setdefault(key, []).append(f)
    return [tuple(sorted(g)) for _, g in sorted(groups.items(), key=lambda kv: kv[1][0])]


def locate(task: Task, data_dir: Path | None, split: str, owners: dict[str, str],
           task_path: Path | None = None) -> list[tuple[Path, ...]]:
    """The units of ``task``'s ``split``: below ``task_path`` when given (a file is taken as it is),
    else below ``data_dir``; a one-line error when there are none."""
    if task_path is not None:
        if not task_path.exists():
            raise SubstrateError(f"task path {task.name}={task_path}: no such file or folder", param="task_path")
        if task_path.is_file():
            if task_path.suffix[1:].lower() in task.files.paired:  # one side of a line-aligned pair: both sides
                return units(task, sorted(p for p in task_path.parent.iterdir()
                                          if p.is_file() and p.with_suffix("") == task_path.with_suffix("")
                                          and p.suffix[1:].lower() in task.files.paired))
            return [(task_path,)]
        root, in_folder = task_path, True
    else:
        if data_dir is None or not Path(data_dir).is_dir():
            raise SubstrateError(f"benchmark directory {data_dir} does not exist")
        root, in_folder = Path(data_dir), False
    found = candidates(task, root, split, owners, in_folder)
    if not found:
        hint = task.files.hint.get(split, "")
        raise NoFiles(f"no {task.name} {split} file below {root}" + (f" (looked for {hint})" if hint else ""))
    return units(task, found)
