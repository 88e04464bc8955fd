"""The valid range of every numeric option and the device check, each defined once.

Import-light on purpose (no torch at import): the CLI builds its click types from
:data:`RANGES` (cli/options.py) so a bad value is refused while the command line is read,
and the library functions behind the commands (training configuration, eval, generate)
call :func:`check_range` on the same entries, so a Python caller meets the same bounds.
A name means one thing wherever it appears (``seed``, ``temperature``, ``top_k``, ...);
an option whose meaning differs gets its own name (ngrams' ``--top-k`` is ``top_grams``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from unicode_substrate.errors import SubstrateError

INT_MAX = 2**63 - 1  # every integer option fits a signed 64-bit integer (torch, numpy, Parquet)


@dataclass(frozen=True)
class Range:
    """An integer or finite float option's bounds; ``low_open`` / ``high_open`` exclude the bound itself."""

    integer: bool
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __post_init__(self) -> None:
        if self.integer and self.high is None:
            object.__setattr__(self, "high", INT_MAX)

    def describe(self, value: Any = None) -> str:
        """In words, e.g. "an integer at least 1"; the 64-bit ceiling is named only to a value beyond it."""
        kind = "an integer" if self.integer else "a finite number"
        lo = None if self.low is None else f"{'above' if self.low_open else 'at least'} {_num(self.low)}"
        hi = None if self.high is None else f"{'below' if self.high_open else 'at most'} {_num(self.high)}"
        if self.high == INT_MAX and not (isinstance(value, int) and value > INT_MAX):
            hi = None
        return " ".join([kind, " and ".join(b for b in (lo, hi) if b)]).strip()

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not self.integer and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        return True


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 2**64 else repr(x)


def _int(low: int = 0, high: int | None = None) -> Range:
    return Range(True, low, high)


def _float(low: float | None = 0.0, high: float | None = None, low_open: bool = False, high_open: bool = False) -> Range:
    return Range(False, low, high, low_open, high_open)


# option name (the click parameter's name) -> its valid values. Every numeric option of every
# command has an entry here (tests/test_faults_generated.py checks it and tries each bound).
RANGES: dict[str, Range] = {
    # tokenizers
    "max_n": _int(2, 8),  # ngrams: the longest gram
    "top_grams": _int(1),  # ngrams --top-k: grams kept per (language, n)
    "top_cnt": _int(1),  # build-tokenizer: n-grams kept per (language, n)
    # tables
    "dim": _int(1),
    "threshold": _float(0.0, 1.0, high_open=True),  # cosine above which rows are near duplicates
    "count": _int(1),  # preview: sample size
    # data
    "val_every": _int(2),
    # training (TrainConfig fields)
    "steps": _int(1),
    "batch_size": _int(1),
    "grad_accum": _int(1),
    "context": _int(1),
    "lr": _float(0.0, low_open=True),
    "min_lr": _float(0.0),
    "warmup": _int(0),
    "weight_decay": _float(0.0),
    "beta1": _float(0.0, 1.0, high_open=True),
    "beta2": _float(0.0, 1.0, high_open=True),
    "grad_clip": _float(0.0),  # 0 = off
    "seed": _int(0),
    "eval_every": _int(0),  # 0 = only at the end
    "eval_tokens": _int(0),  # 0 = all
    "eval_batch_size": _int(1),
    "ckpt_every": _int(0),  # 0 = only at the end
    "keep_last": _int(1),
    "log_every": _int(1),
    # sampling and evaluation
    "max_new_tokens": _int(1),
    "temperature": _float(0.0),  # 0 = greedy
    "top_k": _int(0),  # 0 = all tokens
    "samples": _int(1),
    "runs": _int(1),
    "eval_runs": _int(1),
    "limit": _int(1),
    "eval_limit": _int(1),
    "data_tokens": _int(0),  # 0 = all
    "fewshot": _int(0),
    # semantics
    "permutations": _int(200),  # label relabellings behind each chance level and p-value
    "neighbours": _int(1),  # k of the leave-one-out k-nearest-neighbour accuracy
}


def check_range(name: str, value: Any, what: str = "option") -> Any:
    """Return ``value`` if it lies in ``RANGES[name]``; else one line naming the option and its range.

    ``None`` passes (an option left unset).
    """
    if value is None:
        return value
    r = RANGES[name]
    if not r.contains(value):
        raise SubstrateError(f"{what} {name} must be {r.describe(value)}, got {value!r}")
    return value


_NAME = re.compile(r"[A-Za-z0-9_.-]+")
NAME_RULE = "letters, digits, -, _ and . (not . or .. alone)"


def check_name(name: Any, what: str = "name", param: str | None = None) -> str:
    """``name`` if it is safe as one path component: a variant, source, task, label or tokenizer name.

    Such names become folder names, file names and table headers, so one that could escape a
    folder (``..``, ``a/b``), break a line or a table (spaces, newlines, ``|``) or is empty is refused;
    this is the only place that says what such a name may hold.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        shown = "empty" if name == "" else repr(name)
        raise SubstrateError(f"{what} must be a non-empty name of {NAME_RULE}, got {shown}", param=param)
    return name


def parse_named(specs: Any, what: str, param: str | None = None) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` (or a dict) as an ordered dict; a bad name, a missing ``=`` or a name given twice is
    refused, naming ``what`` (and the function parameter ``param``, for the CLI's option hint)."""
    if isinstance(specs, dict):
        specs = [f"{k}={v}" for k, v in specs.items()]
    elif isinstance(specs, str):
        specs = [specs]
    out: dict[str, str] = {}
    for spec in specs or ():
        name, sep, value = str(spec).partition("=")
        if not sep or not name or not value:
            raise SubstrateError(f"{what} {spec!r} is not NAME=PATH", param=param)
        check_name(name, f"{what} name", param)
        if name in out:
            raise SubstrateError(f"{what} name {name!r} is given twice; names must be distinct", param=param)
        out[name] = value
    return out


_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


def check_device(device: Any) -> str:
    """A device string this toolkit understands: auto, cpu, mps, cuda or cuda:N (torch-free check)."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise SubstrateError(f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    return device


def device_available(device: str) -> None:
    """Refuse a CUDA or MPS device this torch build or machine does not have (one line, no traceback)."""
    import torch

    check_device(device)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise SubstrateError(f"device {device!r} is not available: {build}; use the cpu", param="device")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise SubstrateError(f"device {device!r} is not available: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise SubstrateError("device 'mps' is not available on this machine; use the cpu", param="device")
