"""TrainConfig: every training hyper-parameter in one frozen dataclass, readable from TOML."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig, get_preset
from unicode_substrate.options import RANGES, check_device, check_range, device_available  # noqa: F401 (re-exported)
from unicode_substrate.schema import check_dataclass, check_keys

from unicode_substrate.choices import KERNEL_BACKENDS as KERNELS
from unicode_substrate.choices import PARALLEL_MODES as PARALLEL
from unicode_substrate.choices import PRECISIONS


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the model preset (plus overrides), optimisation, schedule, evaluation, checkpoints.

    Every field is checked on construction, by the one validator of configurations
    (``schema.check_dataclass``: type, and range from ``options.RANGES`` or choices), and the
    preset with its model overrides is built, so a bad value is one line before any work.
    """

    preset: str = "tiny-glyph"  # a name of model.config.PRESETS (checked by model_config(), so added presets count)
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
    precision: str = field(default="auto", metadata={"choices": PRECISIONS})  # auto = bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False
    parallel: str = field(default="ddp", metadata={"choices": PARALLEL})  # how torchrun processes share the model: ddp or fsdp
    # Input stage (frozen-table gather + lift, rotary embeddings): "auto" = the Triton kernels on
    # CUDA when they support the shapes, the PyTorch reference otherwise; "triton" or "torch" force one.
    kernels: str = field(default="auto", metadata={"choices": KERNELS})
    device: str = "auto"

    def __post_init__(self) -> None:
        check_dataclass(self, "training option")
        if self.min_lr > self.lr:
            raise SubstrateError(f"need min_lr <= lr, got lr {self.lr}, min_lr {self.min_lr}")
        check_device(self.device)
        from unicode_substrate.train.loggers import parse_loggers

        parse_loggers(self.log)
        self.model_config()  # the preset with the model overrides: every model field checked now

    def model_config(self) -> ModelConfig:
        """The preset with this configuration's model overrides applied."""
        try:
            return get_preset(self.preset, **self.model)
        except (TypeError, ValueError) as e:
            raise SubstrateError(str(e)) from None

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed; unknown names are an error."""
        _check_keys(changes, "training options")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
    check_keys(d, {f.name for f in dataclasses.fields(TrainConfig)}, what)


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
        _check_keys(values, str(path))
    given = {k: v for k, v in overrides.items() if v is not None}
    _check_keys(given, "training options")
    if "model" in given:  # model overrides merge key by key
        if not isinstance(values.get("model", {}), dict):
            raise SubstrateError(f"the [model] section of {path} must be a table of ModelConfig fields")
        given["model"] = {**values.get("model", {}), **given["model"]}
    try:
        return TrainConfig(**{**values, **given})
    except TypeError as e:
        raise SubstrateError(f"bad training configuration: {e}") from None
