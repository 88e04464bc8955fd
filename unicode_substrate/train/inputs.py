"""The one check of a training job's inputs: data, model, context and frozen table agree.

Training, comparison and growth all call :func:`check_inputs` before anything is written, so
a bad table or a data set too short for the context is refused in a second, with the same
message, whichever command was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig
from unicode_substrate.train.config import TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unicode_substrate.tokens import TokenData


@dataclass(frozen=True)
class Inputs:
    """A job's verified inputs: the data, the model configuration, the context and the frozen table."""

    data: "TokenData"
    model: ModelConfig
    context: int
    table: "torch.Tensor | None"
    table_sha256: str | None
    table_method: str | None


def check_inputs(cfg: TrainConfig, data: "str | Path | TokenData", table: str | Path | None) -> Inputs:
    """Verify that ``data`` and ``table`` fit the model of ``cfg``; a mismatch is a one-line error."""
    from unicode_substrate.artifacts import read_manifest
    from unicode_substrate.run import load_frozen_table
    from unicode_substrate.tokens import TokenData

    d = data if isinstance(data, TokenData) else TokenData.load(data)
    mcfg = cfg.model_config()
    context = cfg.context or mcfg.context
    if context > mcfg.context:
        raise SubstrateError(f"context {context} exceeds the model's {mcfg.context}", param="context")
    if d.vocab_size != mcfg.vocab_size:
        raise SubstrateError(
            f"the data's tokenizer has {d.vocab_size} ids but preset {cfg.preset} has a vocabulary of {mcfg.vocab_size}; "
            "pick a matching preset or set model vocab_size", param="preset")
    d.check_context(context)
    if table is not None and not Path(table).is_dir():
        raise SubstrateError(f"table {table} is not a directory", param="table")
    weight, sha = load_frozen_table(table, mcfg, tokenizer_sha256=d.tokenizer_sha256)
    method = read_manifest(table).get("method") if table is not None else None
    return Inputs(d, mcfg, context, weight, sha, method)
