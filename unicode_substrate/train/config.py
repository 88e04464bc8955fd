"""TrainConfig: every training hyper-parameter in one frozen dataclass, readable from TOML."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig, get_preset

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
    precision: str = "auto"  # auto = bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False
    parallel: str = "ddp"  # how torchrun processes share the model: ddp or fsdp
    # Input stage (frozen-table gather + lift, rotary embeddings): "auto" = the Triton kernels on
    # CUDA when they support the shapes, the PyTorch reference otherwise; "triton" or "torch" force one.
    kernels: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "grad_accum", "eval_batch_size", "keep_last", "log_every")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise SubstrateError(f"training option {name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup", "eval_every", "eval_tokens", "ckpt_every"):
            if int(getattr(self, name)) < 0:
                raise SubstrateError(f"training option {name} must not be negative, got {getattr(self, name)}")
        if self.context is not None and self.context < 1:
            raise SubstrateError(f"training option context must be at least 1, got {self.context}")
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise SubstrateError(f"need lr > 0 and 0 <= min_lr <= lr, got lr {self.lr}, min_lr {self.min_lr}")
        if self.precision not in PRECISIONS:
            raise SubstrateError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.kernels not in KERNELS:
            raise SubstrateError(f"kernels must be one of {', '.join(KERNELS)}, got {self.kernels!r}")
        if self.parallel not in PARALLEL:
            raise SubstrateError(f"parallel must be one of {', '.join(PARALLEL)}, got {self.parallel!r}")
        if not isinstance(self.model, dict):
            raise SubstrateError("the [model] section must be a table of ModelConfig fields")

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


def _check_keys(d: dict, what: str) -> None:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise SubstrateError(f"unknown {what}{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a TOML file (unknown keys are an error) with ``overrides`` on top (None = unset)."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise SubstrateError(f"cannot read config {path}: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise SubstrateError(f"config {path} is not valid TOML: {e}") from None
        _check_keys(values, f"key in {path}")
    given = {k: v for k, v in overrides.items() if v is not None}
    _check_keys(given, "training option")
    if "model" in given:  # model overrides merge key by key
        given["model"] = {**values.get("model", {}), **given["model"]}
    try:
        return TrainConfig(**{**values, **given})
    except TypeError as e:
        raise SubstrateError(f"bad training configuration: {e}") from None
