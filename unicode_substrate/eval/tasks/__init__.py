"""The benchmarks: one module per family, each a frozen ``Task`` record in one registry.

``item`` is the record every reader produces, ``read`` reads files exactly, ``find`` finds a
task's files where the official downloads were unpacked, ``task`` defines the ``Task`` record,
``mmlu``, ``arc``, ``csqa``, ``squad``, ``boolq`` and ``translation`` are the built-in
benchmarks, ``registry`` names them (with lm-evaluation-harness's names as aliases), ``load``
reads a task's evaluated items, and ``taskfile`` builds a ``Task`` from a user's TOML file.
Adding a benchmark is one module here: ``registry`` finds every ``Task`` its modules define.
"""

from __future__ import annotations

from pathlib import Path

from unicode_substrate.eval.tasks import boolq as _boolq_module
from unicode_substrate.eval.tasks import choice as _choice
from unicode_substrate.eval.tasks import mmlu as _mmlu
from unicode_substrate.eval.tasks import squad as _squad
from unicode_substrate.eval.tasks.item import Item, RowError
from unicode_substrate.eval.tasks.load import check_fewshot, check_split, load_task, read_split, select
from unicode_substrate.eval.tasks.registry import ALIASES, TASKS, canonical, get_task, parse_tasks, task_of
from unicode_substrate.eval.tasks.squad import SQUAD_ITEMS, SQUAD_MAX_ANSWER_CHARS
from unicode_substrate.eval.tasks.task import Files, Task
from unicode_substrate.eval.tasks.translation import LANGUAGES, TRANSLATION_PAIRS

__all__ = ["Item", "RowError", "Task", "Files", "TASKS", "ALIASES", "LANGUAGES", "MC_TASKS", "SQUAD_ITEMS",
           "SQUAD_MAX_ANSWER_CHARS", "TRANSLATION_PAIRS", "canonical", "check_fewshot", "check_split", "get_task",
           "load_task", "parse_tasks", "read_split", "select", "task_of"]

# The multiple-choice tasks (those the log-likelihood protocol scores).
MC_TASKS = tuple(name for name, t in TASKS.items() if t.has_loglik)


def _all_items(name: str):
    def load(data_dir: Path) -> tuple[list[Item], list[Path]]:
        """Every item of the task's default split below ``data_dir`` (no selection), and the files."""
        task = TASKS[name]
        return read_split(task, Path(data_dir), task.split)
    return load


# The readers under the names they had before the package (other modules build on them).
load_mmlu, load_squad, load_boolq, load_translation = (_all_items(n) for n in ("mmlu", "squad", "boolq", "translation"))
LOADERS = {name: _all_items(name) for name in TASKS}
_choice_parser = _choice.parse_choice_record
_mmlu_csv = _mmlu.read_csv
_mmlu_answer = _mmlu.answer_letter
_squad_json = _squad.read_json
_squad_export = _squad.export_row
_squad_answers = _squad.answers
_boolq = _boolq_module.parse
