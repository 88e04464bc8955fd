"""What a valid value is, defined once: names that become paths, and the fields of configuration files.

Import-light on purpose (no torch). Every reader of a TOML configuration (training, study, data
recipe, growth) and every configuration dataclass (``ModelConfig``, ``TrainConfig``) checks its
values here: :func:`check_table` refuses a value that is not a table, an unknown key (listing
the valid ones), a wrong type, a value out of range or not among its choices, each in one line
before any work starts. A field is described by a :class:`Spec`; :func:`dataclass_specs`
derives the specs of a frozen dataclass from its annotations, its ``metadata`` and
:data:`options.RANGES`, so the dataclass, its TOML file and its ``--help`` text cannot drift apart.
(Frozen dataclasses with this one validator rather than pydantic: the configurations are frozen
dataclasses already, and every numeric range is declared once in ``options.RANGES``, which the
CLI's option types read too; a second declaration in pydantic models would be a second owner.)

Every name that becomes a file or folder name (compare and study variants, growth and fusion
runs, recipe sources, task names, labels) goes through :func:`check_name`, so no name reaches
outside the folder it names something in; and a seed's folder is named by :func:`seed_dir` only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from unicode_substrate.errors import SubstrateError
from unicode_substrate.options import NAME_RULE, RANGES, Range, check_name  # noqa: F401  (re-exported)

# --- names that become paths: the one check lives in options (below this floor); re-exported here


SEED_PREFIX = "seed-"


def seed_dir(seed: int) -> str:
    """The folder name of one seed's run or growth (``seed-S``), written out here only."""
    return f"{SEED_PREFIX}{int(seed)}"


def is_seed_dir(name: str) -> bool:
    """Whether ``name`` is a folder :func:`seed_dir` names."""
    return name.startswith(SEED_PREFIX) and name[len(SEED_PREFIX):].isdecimal() and name.isascii()


# --- fields of configuration files -------------------------------------------------------------
KINDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
         "table": "a table", "list": "a list", "name": "a name", "any": "a value"}


@dataclass(frozen=True)
class Spec:
    """One field: its kind (a key of :data:`KINDS`), range, choices, whether None is allowed, and help."""

    kind: str
    range: Range | None = None
    choices: tuple | None = None
    optional: bool = False
    help: str = ""

    def describe(self) -> str:
        """In words, for an error and for help text."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        if self.range is not None:
            return self.range.describe()
        return KINDS[self.kind]

    def check(self, name: str, value: Any, where: str) -> Any:
        """``value`` if it fits; else one line ``{where} {name} must be ...``."""
        if value is None and self.optional:
            return value
        at = f"{where} " if where else ""
        if self.kind == "name":
            return check_name(value, f"{at}{name}")
        if not _fits(value, self.kind):
            raise SubstrateError(f"{at}{name} must be {KINDS[self.kind]}, got {value!r}")
        if self.kind == "float" and not math.isfinite(value):
            raise SubstrateError(f"{at}{name} must be a finite number, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise SubstrateError(f"{at}{name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.range is not None and not self.range.contains(value):
            raise SubstrateError(f"{at}{name} must be {self.range.describe(value)}, got {value!r}")
        return value


def _fits(value: Any, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return {"int": lambda v: isinstance(v, int), "float": lambda v: isinstance(v, (int, float)),
            "str": lambda v: isinstance(v, str), "table": lambda v: isinstance(v, dict),
            "list": lambda v: isinstance(v, (list, tuple))}[kind](value)


def check_keys(values: Any, known: Any, where: str, param: str | None = None) -> dict:
    """``values`` if it is a table whose keys are all ``known``; else one line listing the valid keys
    (``param``: the function parameter the file came from, for the CLI's option hint)."""
    if not isinstance(values, dict):
        raise SubstrateError(f"{where} must be a table, got {values!r}", param=param)
    extra = sorted(set(values) - set(known), key=str)
    if extra:
        raise SubstrateError(f"{where}: unknown key{'s' if len(extra) > 1 else ''}: {', '.join(map(str, extra))} "
                             f"(valid: {', '.join(sorted(known)) or 'none'})", param=param)
    return values


def check_table(values: Any, specs: dict[str, Spec], where: str) -> dict:
    """``values`` checked against ``specs``: a table, known keys only, every value of its kind and range."""
    check_keys(values, specs, where)
    for key, value in values.items():
        specs[key].check(key, value, f"{where}:")
    return values


def dataclass_specs(cls: type) -> dict[str, Spec]:
    """The :class:`Spec` of every field of a dataclass: kind from its annotation, range from ``RANGES``
    (or ``metadata["range"]``), choices and help from ``metadata``."""
    specs = {}
    for f in dataclasses.fields(cls):
        annotation = str(f.type).replace(" ", "")
        optional = annotation.endswith("|None")
        base = annotation.removesuffix("|None")
        kind = base if base in KINDS else "table" if base.startswith("dict") else "any"
        r = f.metadata.get("range", RANGES.get(f.name) if kind in ("int", "float") else None)
        specs[f.name] = Spec(kind, r, f.metadata.get("choices"), optional, f.metadata.get("help", ""))
    return specs


def check_dataclass(obj: Any, what: str) -> None:
    """Check every field of a dataclass instance against :func:`dataclass_specs` (``what`` names it)."""
    for name, spec in dataclass_specs(type(obj)).items():
        spec.check(name, getattr(obj, name), what)


def fields_help(cls: type) -> str:
    """``name (what it must be)`` for every field of a dataclass, for help texts and errors."""
    return "; ".join(f"{n} ({s.describe()})" for n, s in dataclass_specs(cls).items())
