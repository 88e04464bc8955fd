"""A trained run: the one place a run directory is named, opened and verified.

A run directory holds

* ``run.json`` - the training configuration and the run's *identity*: the model configuration
  and the manifest hashes of the token data, the frozen table and the tokenizer;
* ``metrics.jsonl`` - one JSON record per logged step (``train``) and validation (``val``);
* ``summary.json`` - parameter counts, optimizer-state bytes, throughput and the final
  validation figures, written when training reaches its last step;
* ``checkpoints/step-NNNNNNNN/`` - weights, optimizer state and RNG (see ``checkpoint.py``).

``Run.load(dir)`` reads ``run.json`` once; ``.model()``, ``.tokenizer()``, ``.table()`` and
``.metrics()`` give what generation, comparison, evaluation, export, growth and fusion need,
each verified against the identity so that a table or tokenizer that does not belong to the
run is refused instead of silently loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig
from unicode_substrate import checkpoint as ckpt

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unicode_substrate.tokenizer import Tokenizer

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINTS_DIR = "checkpoints"

# Builds the network of a run from its identity and frozen table: architecture name -> builder.
# "gpt" is the plain model; other architectures (e.g. a fusion of experts) register their own.
ModelBuilder = Callable[[dict, "torch.Tensor | None", str], "torch.nn.Module"]
MODEL_BUILDERS: dict[str, ModelBuilder] = {}


def check_identity(expected: dict, found: dict, what: str) -> None:
    """Refuse ``what`` unless every key of ``expected`` has the same value in ``found``."""
    for key, value in expected.items():
        if found.get(key) != value:
            raise SubstrateError(f"{what}: its {key} differs ({found.get(key)!r} vs {value!r})")


def build_gpt(mcfg: ModelConfig, table: "torch.Tensor | None", backend: str = "auto") -> "torch.nn.Module":
    """The plain GPT for ``mcfg``; a configuration the model cannot take is a one-line error."""
    from unicode_substrate.model.gpt import GPT

    try:
        return GPT(mcfg, table=table, backend=backend)
    except ValueError as e:
        raise SubstrateError(f"cannot build the model: {e}") from None


def _build_gpt_from_identity(identity: dict, table, backend: str):
    return build_gpt(ModelConfig(**identity["model"]), table, backend)


MODEL_BUILDERS["gpt"] = _build_gpt_from_identity


def _build_fused_from_identity(identity: dict, table, backend: str):
    from unicode_substrate.model.fused import build_fused  # a fusion of experts (train/fuse.py)

    return build_fused(identity, table, backend)


MODEL_BUILDERS["fused"] = _build_fused_from_identity


def build_model(identity: dict, table: "torch.Tensor | None", backend: str = "auto") -> "torch.nn.Module":
    """The network a run identity describes (its ``architecture``, "gpt" when absent)."""
    arch = identity.get("architecture", "gpt")
    if arch not in MODEL_BUILDERS:
        raise SubstrateError(f"unknown model architecture {arch!r}; this version builds {', '.join(MODEL_BUILDERS)}")
    return MODEL_BUILDERS[arch](identity, table, backend)


def load_frozen_table(table: str | Path | None, mcfg: ModelConfig,
                      tokenizer_sha256: str | None = None) -> tuple["torch.Tensor | None", str | None]:
    """The frozen table as a tensor plus its manifest sha256, checked against the model and tokenizer."""
    import numpy as np
    import torch

    from unicode_substrate.artifacts import manifest_sha256
    from unicode_substrate.table import check_table_method, load_table

    if mcfg.embedding != "frozen":
        if table is not None:
            raise SubstrateError("this model trains its own embedding; it takes no frozen table")
        return None, None
    if table is None:
        raise SubstrateError("a frozen-embedding model needs a table (a directory from substrate render)")
    t = load_table(table)
    check_table_method(mcfg.table_method, t.manifest.get("method"), table)
    if tokenizer_sha256 is not None and t.manifest.get("tokenizer_manifest_sha256") != tokenizer_sha256:
        raise SubstrateError(
            f"table {table} was rendered for tokenizer {str(t.manifest.get('tokenizer_manifest_sha256'))[:12]}..., "
            f"but the data was tokenized with {tokenizer_sha256[:12]}..."
        )
    if t.vocab_size != mcfg.vocab_size or t.dim != mcfg.n_embed:
        raise SubstrateError(
            f"table {table} is [{t.vocab_size}, {t.dim}] but the model needs [{mcfg.vocab_size}, {mcfg.n_embed}] "
            f"(vocab_size, n_embed): the table's width {t.dim} does not fit n_embed {mcfg.n_embed}"
            if t.vocab_size == mcfg.vocab_size else
            f"table {table} is [{t.vocab_size}, {t.dim}] but the model needs [{mcfg.vocab_size}, {mcfg.n_embed}] "
            f"(vocab_size, n_embed): the table has {t.vocab_size} rows for a vocabulary of {mcfg.vocab_size}"
        )
    return torch.from_numpy(np.array(t.weight)), manifest_sha256(table)


def parse_metrics_line(line: str) -> dict | None:
    """A metrics record, or None for a blank or torn line (a process killed mid-write)."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """Every record of a run's metrics.jsonl."""
    path = Path(run) / METRICS_FILE
    if not path.is_file():
        raise SubstrateError(f"{run} has no {METRICS_FILE}")
    text = path.read_text(encoding="utf-8", errors="replace")
    return [r for ln in text.splitlines() if (r := parse_metrics_line(ln)) is not None]


@dataclass(frozen=True)
class Run:
    """A run directory and its parsed ``run.json``; every file of a run is named here."""

    path: Path
    record: dict

    RUN_FILE: ClassVar[str] = RUN_FILE
    METRICS_FILE: ClassVar[str] = METRICS_FILE
    SUMMARY_FILE: ClassVar[str] = SUMMARY_FILE
    CHECKPOINTS_DIR: ClassVar[str] = CHECKPOINTS_DIR

    @classmethod
    def load(cls, path: str | Path) -> "Run":
        """Open a run directory; a folder that is not a run is a one-line error."""
        path = Path(path)
        file = path / RUN_FILE
        if not file.is_file():
            raise SubstrateError(f"{path} is not a training run (no {RUN_FILE})")
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise SubstrateError(f"{file} is not valid JSON: {e}") from None
        except OSError as e:
            raise SubstrateError(f"cannot read {file}: {e.strerror or e}") from None
        if not isinstance(record, dict) or not isinstance(record.get("identity"), dict) \
                or not isinstance(record["identity"].get("model"), dict):
            raise SubstrateError(f"{file} is not a unicode-substrate run record (no identity)")
        return cls(path, record)

    # --- what the run is ------------------------------------------------------------------
    @property
    def identity(self) -> dict:
        """Model configuration and the manifest hashes of data, table and tokenizer."""
        return self.record["identity"]

    @property
    def model_config(self) -> ModelConfig:
        try:
            return ModelConfig(**self.identity["model"])
        except (TypeError, ValueError) as e:
            raise SubstrateError(f"{self.path / RUN_FILE} holds a model configuration this version cannot build: {e}") from None

    @property
    def tokenizer_path(self) -> Path | None:
        return Path(self.record["tokenizer"]) if self.record.get("tokenizer") else None

    @property
    def table_path(self) -> Path | None:
        return Path(self.record["table"]) if self.record.get("table") else None

    # --- its files ------------------------------------------------------------------------
    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, path) of every finished checkpoint, oldest first."""
        return ckpt.list_checkpoints(self.path)

    def checkpoint(self, checkpoint: str | Path | None = None) -> Path:
        """The given checkpoint, or the newest one; a clear error when there is none."""
        return Path(checkpoint) if checkpoint is not None else ckpt.latest_checkpoint(self.path)

    def metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.path)

    def summary(self) -> dict | None:
        """The final summary, or None while the run has not reached its last step."""
        file = self.path / SUMMARY_FILE
        if not file.is_file():
            return None
        return json.loads(file.read_text(encoding="utf-8"))

    # --- what callers load ----------------------------------------------------------------
    def tokenizer(self, path: str | Path | None = None) -> "Tokenizer":
        """The run's tokenizer (or ``path``), verified to be the one it was trained with."""
        from unicode_substrate.tokenizer import Tokenizer

        tok_dir = path if path is not None else self.tokenizer_path
        if not tok_dir:
            raise SubstrateError(f"run {self.path} does not record its tokenizer; give its directory")
        tok = Tokenizer.load(tok_dir)
        if tok.manifest_sha256 != self.identity["tokenizer_manifest_sha256"]:
            raise SubstrateError(f"tokenizer {tok_dir} is not the one run {self.path} was trained with (manifest hashes differ)")
        return tok

    def table(self, path: str | Path | None = None) -> "torch.Tensor | None":
        """The frozen table (None for a trainable embedding), verified to be the run's own."""
        table = path if path is not None else self.table_path
        weight, sha = load_frozen_table(table, self.model_config, tokenizer_sha256=self.identity["tokenizer_manifest_sha256"])
        if sha != self.identity["table_manifest_sha256"]:
            raise SubstrateError(f"table {table} is not the one run {self.path} was trained with (manifest hashes differ)")
        return weight

    def weights(self, checkpoint: str | Path | None = None) -> tuple[dict, Path]:
        """The checkpoint's weights (verified, and verified to belong to this run) and its path."""
        path = self.checkpoint(checkpoint)
        weights, _, manifest = ckpt.load_checkpoint(path)
        check_identity({"model": self.identity["model"]}, manifest, f"checkpoint {path} does not belong to run {self.path}")
        return weights, path

    def model(self, checkpoint: str | Path | None = None, device: str = "cpu", table: str | Path | None = None,
              backend: str = "auto") -> "torch.nn.Module":
        """The network at its newest (or the given) checkpoint, in eval mode on ``device``."""
        weights, _ = self.weights(checkpoint)
        model = build_model(self.identity, self.table(table), backend)
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as e:
            raise SubstrateError(f"the checkpoint's weights do not fit the model of run {self.path}: {str(e).splitlines()[0]}") from None
        return model.to(device).eval()
