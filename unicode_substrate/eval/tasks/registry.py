"""The built-in benchmarks by name, and the names users know them by (lm-evaluation-harness's)."""

from __future__ import annotations

import importlib
import pkgutil

from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks.item import Item
from unicode_substrate.eval.tasks.task import Task

# The modules of this package that read the registry (importing them here would be a circle).
_USERS = frozenset({"registry", "load", "taskfile"})


def discover(package: str = __name__.rpartition(".")[0]) -> dict[str, Task]:
    """Every ``Task`` defined at the top of a module of ``package`` (this one), in ``Task.order`` (then name).

    A built-in benchmark is therefore one module here: nothing else lists it."""
    found: dict[str, Task] = {}
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if module.name in _USERS or module.name.startswith("_"):
            continue
        for value in vars(importlib.import_module(f"{package}.{module.name}")).values():
            if isinstance(value, Task):
                if found.get(value.name, value) is not value:
                    raise RuntimeError(f"two built-in tasks are named {value.name!r}")
                found[value.name] = value
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


TASKS: dict[str, Task] = discover()
ALIASES: dict[str, str] = {alias: t.name for t in TASKS.values() for alias in t.aliases}


def owners(extra: tuple[Task, ...] = ()) -> dict[str, str]:
    """Folder name (lower case) -> the task whose files a folder of that name holds."""
    out: dict[str, str] = {}
    for t in (*TASKS.values(), *extra):
        for name in t.folder_names():
            out.setdefault(name, t.name)
    return out


def canonical(name: str) -> str:
    """A task name or alias as the task's name; unknown names are an error."""
    name = name.strip()
    if name in TASKS:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise SubstrateError(f"unknown task {name!r}; the tasks are {', '.join(TASKS)} "
                         f"(also known as {', '.join(f'{a}={n}' for a, n in ALIASES.items())})")


def get_task(name: str) -> Task:
    """The built-in task of that name or alias."""
    return TASKS[canonical(name)]


def task_of(item: Item) -> Task:
    """The Task an item belongs to: its task file's, or the built-in one of its name."""
    return item.spec if isinstance(item.spec, Task) else TASKS[item.task]


def parse_tasks(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"mmlu,arc_easy"`` (or a list) as task names in the given order, aliases resolved;
    unknown names are an error."""
    names = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    if not names:
        raise SubstrateError(f"no task given; the tasks are {', '.join(TASKS)}")
    return list(dict.fromkeys(canonical(t) for t in names))
