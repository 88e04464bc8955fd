"""TrainConfig: every training hyper-parameter in one frozen dataclass, readable from TOML."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig, get_preset
from unicode_substrate.options import RANGES, check_device, check_range, device_available  # noqa: F401 (re-exported)

from unicode_substrate.choices import KERNEL_BACKENDS as KERNELS
from unicode_substrate.choices import PARALLEL_MODES as PARALLEL
from unicode_substrate.choices import PRECISIONS


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the model preset (plus overrides), optimisation, schedule, evaluation, checkpoints."""

    preset: str = "tiny-glyph"
    # ModelConfig fields that differ from the preset, e.g. {"n_layer": 2}; unknown names are an error.
    model: dict[str, Any] = field(default_factory=dict)
    steps: int = 200
    # Sequences per micro-batch on each process; one optimizer step sees
    # batch_size * grad_accum * world_size sequences of ``context`` tokens.
    batch_size: int = 8
    grad_accum: int = 1
    context: int | None = None  # None = the model's context length
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 20
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 disables clipping
    seed: int = 1337
    eval_every: int = 50  # 0 = only at the end
    # Validation tokens per evaluation, rounded down to whole documents (0 = the whole split).
    eval_tokens: int = 0
    eval_batch_size: int = 8
    ckpt_every: int = 100  # 0 = only at the end
    keep_last: int = 2
    log_every: int = 1
    # Experiment loggers beside metrics.jsonl, comma-separated: tensorboard, csv, wandb ("" = none).
    log: str = ""
    precision: str = "auto"  # auto = bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False
    parallel: str = "ddp"  # how torchrun processes share the model: ddp or fsdp
    # Input stage (frozen-table gather + lift, rotary embeddings): "auto" = the Triton kernels on
    # CUDA when they support the shapes, the PyTorch reference otherwise; "triton" or "torch" force one.
    kernels: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_types(self)
        for f in dataclasses.fields(self):  # every numeric option's range, defined once in options.RANGES
            if f.name in RANGES:
                check_range(f.name, getattr(self, f.name), "training option")
        if self.min_lr > self.lr:
            raise SubstrateError(f"need min_lr <= lr, got lr {self.lr}, min_lr {self.min_lr}")
        if self.precision not in PRECISIONS:
            raise SubstrateError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.kernels not in KERNELS:
            raise SubstrateError(f"kernels must be one of {', '.join(KERNELS)}, got {self.kernels!r}")
        if self.parallel not in PARALLEL:
            raise SubstrateError(f"parallel must be one of {', '.join(PARALLEL)}, got {self.parallel!r}")
        check_device(self.device)
        from unicode_substrate.train.loggers import parse_loggers

        parse_loggers(self.log)

    def model_config(self) -> ModelConfig:
        """The preset with this configuration's model overrides applied."""
        try:
            return get_preset(self.preset, **self.model)
        except (TypeError, ValueError) as e:
            raise SubstrateError(str(e)) from None

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed; unknown names are an error."""
        _check_keys(changes, "training option")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The type every option must have in a TOML file or a Python call (bool is not an int here).
_INT, _FLOAT, _BOOL, _STR = "an integer", "a number", "true or false", "a string"


def _kind(annotation: str) -> str | None:
    return {"int": _INT, "float": _FLOAT, "bool": _BOOL, "str": _STR, "int | None": _INT}.get(annotation)


def _fits(value: Any, kind: str) -> bool:
    if kind == _BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == _INT:
        return isinstance(value, int)
    if kind == _FLOAT:
        return isinstance(value, (int, float))
    return isinstance(value, str)


def _check_types(cfg: "TrainConfig") -> None:
    """Refuse a value of the wrong type (``steps = "ten"``) with one line naming the option."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "model":
            if not isinstance(value, dict):
                raise SubstrateError("the [model] section must be a table of ModelConfig fields")
            _check_model_types(value)
            continue
        if f.name == "context" and value is None:
            continue
        kind = _kind(str(f.type))
        if kind is not None and not _fits(value, kind):
            raise SubstrateError(f"training option {f.name} must be {kind}, got {value!r}")
    for name in ("lr", "min_lr", "weight_decay", "beta1", "beta2", "grad_clip"):
        if not math.isfinite(getattr(cfg, name)):
            raise SubstrateError(f"training option {name} must be a finite number, got {getattr(cfg, name)!r}")


def _check_model_types(overrides: dict) -> None:
    """Model overrides must name ModelConfig fields and have the type of the field's default."""
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise SubstrateError(f"unknown model config keys: {', '.join(unknown)}")
    for key, value in overrides.items():
        default = defaults[key]
        if default is None:  # table_method: a string or nothing
            ok = value is None or isinstance(value, str)
            kind = _STR
        else:
            kind = {bool: _BOOL, int: _INT, float: _FLOAT, str: _STR}[type(default)]
            ok = _fits(value, kind)
        if not ok:
            raise SubstrateError(f"model field {key} must be {kind}, got {value!r}")


# Options that may change when a run is resumed: they change when it validates, saves and logs,
# and how fast or on what it runs, not what it learns (precision only by rounding). ``steps``
# may grow or shrink: the cosine schedule is recomputed from the resume step. A per-process
# batch_size or grad_accum may change when the global batch (x world size) stays the same,
# since batches are drawn by (seed, step) from the global batch. Everything else is refused.
RESUME_MAY_CHANGE: tuple[str, ...] = (
    "steps", "eval_every", "eval_tokens", "eval_batch_size", "ckpt_every", "keep_last", "log_every", "log",
    "precision", "compile", "parallel", "kernels", "device",
)


def resume_changes(old: dict, new: "TrainConfig", old_world: int, new_world: int) -> dict[str, list]:
    """``{option: [before, after]}`` of what a resume changes; a change that alters the run is an error."""
    now = new.to_dict()
    changed = {k: [old[k], now[k]] for k in now if k in old and old[k] != now[k]}
    if old_world != new_world:
        changed["world_size"] = [old_world, new_world]
    batch = {"batch_size", "grad_accum", "world_size"}
    refused = [k for k in changed if k not in RESUME_MAY_CHANGE and k not in batch]
    if refused:
        what = ", ".join(f"{k} {changed[k][0]!r} -> {changed[k][1]!r}" for k in refused)
        raise SubstrateError(
            f"cannot resume with changed {what}: the run would no longer be the run it started as; "
            f"resume with the original values, or start a new run (only {', '.join(RESUME_MAY_CHANGE)} may change)"
        )
    if batch & set(changed):
        before = old.get("batch_size", now["batch_size"]) * old.get("grad_accum", now["grad_accum"]) * old_world
        after = now["batch_size"] * now["grad_accum"] * new_world
        if before != after:
            raise SubstrateError(
                f"cannot resume with a global batch of {after} sequences (batch_size x grad_accum x processes); "
                f"the run was trained with {before}"
            )
    return changed


def _check_keys(d: dict, what: str) -> None:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise SubstrateError(f"unknown {what}{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; unreadable or invalid files are one-line errors."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise SubstrateError(f"cannot read config {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise SubstrateError(f"config {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise SubstrateError(f"config {path} is not valid TOML: {e}") from None


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a TOML file (unknown keys are an error) with ``overrides`` on top (None = unset)."""
    values: dict[str, Any] = {}
    if path is not None:
        values = read_toml(path)
        _check_keys(values, f"key in {path}")
    given = {k: v for k, v in overrides.items() if v is not None}
    _check_keys(given, "training option")
    if "model" in given:  # model overrides merge key by key
        if not isinstance(values.get("model", {}), dict):
            raise SubstrateError(f"the [model] section of {path} must be a table of ModelConfig fields")
        given["model"] = {**values.get("model", {}), **given["model"]}
    try:
        return TrainConfig(**{**values, **given})
    except TypeError as e:
        raise SubstrateError(f"bad training configuration: {e}") from None
