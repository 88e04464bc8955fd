"""The built-in benchmarks by name, and the names users know them by (lm-evaluation-harness's)."""

from __future__ import annotations

from unicode_substrate.choices import EVAL_TASKS
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks.arc import ARC_CHALLENGE, ARC_EASY
from unicode_substrate.eval.tasks.boolq import BOOLQ
from unicode_substrate.eval.tasks.csqa import CSQA
from unicode_substrate.eval.tasks.item import Item
from unicode_substrate.eval.tasks.mmlu import MMLU
from unicode_substrate.eval.tasks.squad import SQUAD
from unicode_substrate.eval.tasks.task import Task
from unicode_substrate.eval.tasks.translation import TRANSLATION

# In the order of choices.EVAL_TASKS (the CLI's import-light list; a test holds the two equal).
TASKS: dict[str, Task] = {t.name: t for t in (MMLU, ARC_EASY, ARC_CHALLENGE, CSQA, SQUAD, TRANSLATION, BOOLQ)}
TASKS = {name: TASKS[name] for name in EVAL_TASKS}
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
