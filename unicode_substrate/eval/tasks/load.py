"""Reading a task's evaluated items: find its units, read each exactly, refuse two files that
could be the same part of the split, select as the paper does, attach few-shot examples."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks.find import NoFiles, locate
from unicode_substrate.eval.tasks.item import Item
from unicode_substrate.eval.tasks.registry import TASKS, get_task, owners
from unicode_substrate.eval.tasks.task import Task


def resolve(task: str | Task) -> Task:
    return task if isinstance(task, Task) else get_task(task)


def check_split(task: Task, split: str | None) -> str:
    """The split evaluated: ``split``, or the task's default; one the task has with answers."""
    split = split or task.split
    if split not in task.splits:
        raise SubstrateError(f"{task.name} is not evaluated on a {split} split (its evaluated splits: "
                             f"{', '.join(task.splits)}; the others are released without answers or are not "
                             "part of the benchmark)")
    return split


def check_fewshot(task: str | Task, fewshot: int) -> None:
    """Few-shot counts are whole numbers from 0; only a task with a few-shot split takes K > 0."""
    task = resolve(task)
    if isinstance(fewshot, bool) or not isinstance(fewshot, int) or fewshot < 0:
        raise SubstrateError(f"few-shot count must be a whole number of at least 0, got {fewshot!r}")
    if fewshot > 0 and task.fewshot_split is None:
        raise SubstrateError(f"few-shot {fewshot} asked for {task.name}: only mmlu has a dev split for few-shot examples here")


def read_split(task: Task, data_dir: Path | None, split: str, task_path: Path | None = None,
               extra: tuple[Task, ...] = ()) -> tuple[list[Item], list[Path]]:
    """Every item of ``task``'s ``split`` and the files read; two units holding the same part of the
    split (the same MMLU subject, language pair, or the whole split) are refused, naming both."""
    if task.listed_files and task_path is None:
        missing = [f for f in task.listed_files if not f.is_file()]
        if missing:
            raise SubstrateError(f"{task.task_file}: file {missing[0]} does not exist")
        found = [(f,) for f in task.listed_files]
    else:
        found = locate(task, data_dir, split, owners(extra), task_path)
    items: list[Item] = []
    files: list[Path] = []
    seen: dict[object, Path] = {}
    for unit in found:
        got = task.reader(unit, split)
        if TASKS.get(task.name) is not task:  # a task file's task: its items carry it
            got = [replace(it, spec=task) for it in got]
        for part in dict.fromkeys(task.part(it) for it in got):
            if part in seen:
                raise SubstrateError(f"two files could be the {task.name} {split} split"
                                     + (f" ({task.group_kind} {part})" if part is not None else "")
                                     + f": {seen[part]} and {unit[0]}; give a task path {task.name}=PATH to one",
                                     param="task_path")
            seen[part] = unit[0]
        items += got
        files += unit
    return items, files


def load_task(task: str | Task, data_dir: str | Path | None = None, seed: int = 0, limit: int | None = None,
              fewshot: int = 0, split: str | None = None, task_path: str | Path | None = None,
              extra: tuple[Task, ...] = ()) -> tuple[list[Item], list[Path]]:
    """The evaluated items of ``task`` (selected as the paper does, shuffled with ``seed``, at most
    ``limit`` per task or translation direction) and the files they came from. ``split`` defaults
    to the task's; ``task_path`` (a file or folder) replaces the search below ``data_dir``. With
    ``fewshot`` K > 0 every item carries the first K rows of its group from the few-shot split."""
    task = resolve(task)
    split = check_split(task, split)
    check_fewshot(task, fewshot)
    data_dir = None if data_dir is None else Path(data_dir)
    task_path = None if task_path is None else Path(task_path)
    items, files = read_split(task, data_dir, split, task_path, extra)
    if not items:
        raise SubstrateError(f"the {task.name} files ({', '.join(str(f) for f in files)}) hold no items")
    items = select(task, items, seed, limit)
    if fewshot > 0:
        items, dev_files = attach_shots(task, items, data_dir, task_path, fewshot, files, extra)
        files = sorted(set(files) | set(dev_files))
    return items, files


def select(task: str | Task, items: list[Item], seed: int = 0, limit: int | None = None) -> list[Item]:
    """The paper's selection, with the shuffle it left unseeded seeded by ``seed``."""
    task = resolve(task)
    rng = random.Random(f"{seed}/{task.name}")  # str seeds hash with sha512: the same order on every machine
    return task.select(task, items, rng, limit)


def attach_shots(task: Task, items: list[Item], data_dir: Path | None, task_path: Path | None, k: int,
                 test_files: list[Path], extra: tuple[Task, ...] = ()) -> tuple[list[Item], list[Path]]:
    """Every item with the first ``k`` few-shot rows of its group (MMLU: subject), in file order.

    The rows come from the few-shot split's files found where the test files were, and from rows
    of the test files whose ``split`` column names the few-shot split."""
    split = task.fewshot_split
    shots: dict[str | None, list[Item]] = {}
    used: list[Path] = []
    folder = task_path if task_path is not None and task_path.is_dir() else None
    found: list[Item] = []
    if task_path is None or folder is not None:
        try:  # the few-shot split's own files, with the same refusal of two copies
            found, used = read_split(task, data_dir, split, folder, extra)
        except NoFiles:
            pass
    for f in test_files:  # rows of a file holding several splits, told apart by a split column
        if f.suffix.lower() != ".csv" and not task.files.splits_named(f.stem):
            got = task.reader((f,), split)
            found += got
            used += [f] if got else []
    for it in found:
        shots.setdefault(it.group, []).append(it)
    if not used:
        where = task_path or data_dir
        raise SubstrateError(f"few-shot needs the {task.name} {split} split: {where} has no {split} file "
                             f"({task.files.hint.get(split, '')}) and no rows whose split column is {split}")
    out = []
    for it in items:
        mine = tuple(shots.get(it.group, ())[:k])
        if len(mine) < k:
            raise SubstrateError(f"few-shot {k} needs {k} {split} rows of {task.group_kind} {it.group!r}, found "
                                 f"{len(mine)} in {', '.join(str(f) for f in sorted(set(used)))}")
        out.append(replace(it, shots=mine))
    return out, sorted(set(used))
