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

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from unicode_substrate.artifacts import (PACKAGE, atomic_output_dir, atomic_write_bytes, canonical_json, read_json_object,
                                         resolve_recorded)
from unicode_substrate.choices import ARCH_FUSED, ARCH_GPT, ARCH_GPT_LORA
from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig
from unicode_substrate import checkpoint as ckpt

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unicode_substrate.tokenizer import Tokenizer

RUN_KIND = "run"
# 2: run.json names its schema, kind and architecture; 1: the records written before (no such keys), still read.
RUN_SCHEMA = 2


@dataclass(frozen=True)
class RunFiles:
    """Every file a run directory consists of, named once."""

    record: str = "run.json"
    metrics: str = "metrics.jsonl"
    summary: str = "summary.json"
    checkpoints: str = ckpt.CHECKPOINTS_DIR


FILES = RunFiles()
RUN_FILE, METRICS_FILE, SUMMARY_FILE, CHECKPOINTS_DIR = FILES.record, FILES.metrics, FILES.summary, FILES.checkpoints

# The keys every run identity holds, named once; a checkpoint, table or tokenizer belongs to a run
# only if they agree (recipes add their own keys, e.g. architecture, experts, growth, init, which count too).
MODEL_KEY = "model"
DATA_KEY = "data_manifest_sha256"
TABLE_KEY = "table_manifest_sha256"
TOKENIZER_KEY = "tokenizer_manifest_sha256"
IDENTITY_KEYS: tuple[str, ...] = (MODEL_KEY, DATA_KEY, TABLE_KEY, TOKENIZER_KEY)


def run_identity(model: ModelConfig | dict, data_sha256: str | None, table_sha256: str | None,
                 tokenizer_sha256: str | None, **extra: Any) -> dict:
    """A run identity: the model configuration, the manifest hashes of its inputs, and a recipe's keys."""
    model = model.to_dict() if isinstance(model, ModelConfig) else model
    return {MODEL_KEY: model, DATA_KEY: data_sha256, TABLE_KEY: table_sha256, TOKENIZER_KEY: tokenizer_sha256, **extra}


@dataclass(frozen=True)
class RunRecord:
    """What ``run.json`` holds: the identity, where the inputs were, how the run was trained.

    ``identity`` is what the run *is* (model configuration and the manifest hashes of data, table
    and tokenizer, plus any recipe's keys); the paths only say where those inputs were found and
    are stored relative to the run when they share a root with it, so a moved or copied folder
    still opens. ``sections`` carries a recipe's own record (``fuse``, ``changes`` on resume).
    """

    identity: dict
    context: int
    train: dict | None = None
    world_size: int = 1
    data: str | None = None
    table: str | None = None
    tokenizer: str | None = None
    table_method: str | None = None
    sections: dict = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return self.identity.get("architecture", ARCH_GPT)

    def to_dict(self) -> dict:
        return {"schema": RUN_SCHEMA, "kind": RUN_KIND, "package": PACKAGE, "architecture": self.architecture,
                "identity": self.identity, "context": self.context, "train": self.train, "world_size": self.world_size,
                "data": self.data, "table": self.table, "tokenizer": self.tokenizer, "table_method": self.table_method,
                **self.sections}

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "RunRecord":
        """Parse a run.json of this schema or an older one; anything else is a one-line error."""
        if not isinstance(d, dict) or not isinstance(d.get("identity"), dict) or not isinstance(d["identity"].get("model"), dict):
            raise SubstrateError(f"{where} is not a unicode-substrate run record (no identity)")
        schema = d.get("schema", 1)
        if not isinstance(schema, int) or isinstance(schema, bool) or schema > RUN_SCHEMA:
            raise SubstrateError(f"{where} has run schema {schema!r}, newer than this version reads ({RUN_SCHEMA}); upgrade unicode-substrate")
        if d.get("kind", RUN_KIND) != RUN_KIND:
            raise SubstrateError(f"{where} holds a {d.get('kind')!r} record, not a run")
        known = {"schema", "kind", "package", "architecture", "identity", "context", "train", "world_size", "data",
                 "table", "tokenizer", "table_method"}
        return cls(identity=d["identity"], context=d.get("context") or d["identity"]["model"].get("context", 0),
                   train=d.get("train"), world_size=int(d.get("world_size") or 1), data=d.get("data"), table=d.get("table"),
                   tokenizer=d.get("tokenizer"), table_method=d.get("table_method"),
                   sections={k: v for k, v in d.items() if k not in known})

    def replace(self, **changes) -> "RunRecord":
        return dataclasses.replace(self, **changes)


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


def _build_gpt_lora_from_identity(identity: dict, table, backend: str):
    """A growth stage with low-rank adapters over its frozen blocks (weights stored unmerged)."""
    from unicode_substrate.model.lora import add_lora, lora_targets

    growth = identity.get("growth") or {}
    lora, new_blocks = growth.get("lora"), growth.get("new_blocks")
    if not isinstance(lora, dict) or not isinstance(new_blocks, list) or len(new_blocks) != 2:
        raise SubstrateError("a gpt-lora run records its adapters (growth.lora) and new blocks (growth.new_blocks); this one does not")
    model = build_gpt(ModelConfig(**identity["model"]), table, backend)
    # the blocks a schedule named (1-based), else every frozen block
    blocks = [i - 1 for i in lora["blocks"]] if "blocks" in lora else range(new_blocks[0])
    add_lora(model, lora_targets(blocks), lora["rank"], lora["alpha"])
    return model


def _build_fused_from_identity(identity: dict, table, backend: str):
    from unicode_substrate.model.fused import build_fused  # a fusion of experts (experiments/fuse.py)

    return build_fused(identity, table, backend)


MODEL_BUILDERS[ARCH_GPT] = _build_gpt_from_identity
MODEL_BUILDERS[ARCH_GPT_LORA] = _build_gpt_lora_from_identity
MODEL_BUILDERS[ARCH_FUSED] = _build_fused_from_identity


def build_model(identity: dict, table: "torch.Tensor | None", backend: str = "auto") -> "torch.nn.Module":
    """The network a run identity describes (its ``architecture``, "gpt" when absent)."""
    arch = identity.get("architecture", ARCH_GPT)
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
            raise SubstrateError("this model trains its own embedding; it takes no frozen table", param="table")
        return None, None
    if table is None:
        raise SubstrateError("a frozen-embedding model needs a table (a directory from substrate render)", param="table")
    t = load_table(table)
    check_table_method(mcfg.table_method, t.manifest.get("method"), table)
    if tokenizer_sha256 is not None and t.manifest.get("tokenizer_manifest_sha256") != tokenizer_sha256:
        raise SubstrateError(
            f"table {table} was rendered for tokenizer {str(t.manifest.get('tokenizer_manifest_sha256'))[:12]}..., "
            f"but the data was tokenized with {tokenizer_sha256[:12]}...", param="table"
        )
    if t.vocab_size != mcfg.vocab_size or t.dim != mcfg.n_embed:
        raise SubstrateError(
            f"table {table} is [{t.vocab_size}, {t.dim}] but the model needs [{mcfg.vocab_size}, {mcfg.n_embed}] "
            f"(vocab_size, n_embed): the table's width {t.dim} does not fit n_embed {mcfg.n_embed}"
            if t.vocab_size == mcfg.vocab_size else
            f"table {table} is [{t.vocab_size}, {t.dim}] but the model needs [{mcfg.vocab_size}, {mcfg.n_embed}] "
            f"(vocab_size, n_embed): the table has {t.vocab_size} rows for a vocabulary of {mcfg.vocab_size}", param="table"
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


def _runs_inside_hint(path: Path) -> str:
    """A growth, comparison or study folder given where a run is wanted: name the runs inside it."""
    if not path.is_dir():
        return ""
    found = sorted(p.parent for depth in range(1, 5) for p in path.glob("*/" * depth + RUN_FILE))
    if not found:
        return ""
    shown = ", ".join(str(p) for p in found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return f"; it holds runs: give one of them, e.g. {shown}"


@dataclass(frozen=True)
class Run:
    """A run directory and its parsed ``run.json``; the one writer and the one reader of runs."""

    path: Path
    record: RunRecord

    FILES: ClassVar[RunFiles] = FILES
    RUN_FILE: ClassVar[str] = RUN_FILE
    METRICS_FILE: ClassVar[str] = METRICS_FILE
    SUMMARY_FILE: ClassVar[str] = SUMMARY_FILE
    CHECKPOINTS_DIR: ClassVar[str] = CHECKPOINTS_DIR

    def __fspath__(self) -> str:
        """A run stands for its directory wherever a path is expected (``Path(run)``, ``open``)."""
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @classmethod
    def load(cls, path: "str | Path | Run") -> "Run":
        """Open a run directory; a folder that is not a run is a one-line error."""
        path = Path(path)
        file = path / RUN_FILE
        if not file.is_file():
            raise SubstrateError(f"{path} is not a training run (no {RUN_FILE}){_runs_inside_hint(path)}")
        return cls(path, RunRecord.from_dict(read_json_object(file, "run record"), str(file)))

    @staticmethod
    def write(directory: str | Path, record: RunRecord, summary: dict | None = None) -> None:
        """Write a run's own files into ``directory`` (inside an atomic output): run.json, an empty metrics log, the summary."""
        directory = Path(directory)
        atomic_write_bytes(directory / RUN_FILE, canonical_json(record.to_dict()))
        atomic_write_bytes(directory / METRICS_FILE, b"")
        if summary is not None:
            atomic_write_bytes(directory / SUMMARY_FILE, canonical_json(summary))

    @classmethod
    def create(cls, out: str | Path, record: RunRecord, force: bool = False, inputs=()) -> "Run":
        """A new run at ``out``; with ``force`` an existing run there is replaced only once the new one is written.

        ``inputs`` are the paths the run reads: ``out`` may be none of them nor hold one.
        """
        out = Path(out)
        with atomic_output_dir(out, force=force, kind=RUN_KIND, inputs=inputs) as tmp:
            cls.write(tmp, record)
        return cls(out, record)

    def update(self, record: RunRecord) -> "Run":
        """Rewrite ``run.json`` (a resume that changed allowed options records them)."""
        atomic_write_bytes(self.path / RUN_FILE, canonical_json(record.to_dict()))
        return Run(self.path, record)

    # --- what the run is ------------------------------------------------------------------
    @property
    def identity(self) -> dict:
        """Model configuration and the manifest hashes of data, table and tokenizer."""
        return self.record.identity

    @property
    def architecture(self) -> str:
        return self.record.architecture

    @property
    def data_sha256(self) -> str | None:
        return self.identity.get(DATA_KEY)

    @property
    def table_sha256(self) -> str | None:
        return self.identity.get(TABLE_KEY)

    @property
    def tokenizer_sha256(self) -> str | None:
        return self.identity.get(TOKENIZER_KEY)

    @property
    def model_config(self) -> ModelConfig:
        try:
            return ModelConfig(**self.identity["model"])
        except (TypeError, ValueError, SubstrateError) as e:
            raise SubstrateError(f"{self.path / RUN_FILE} holds a model configuration this version cannot build: {e}") from None

    def _input(self, recorded: str | None) -> Path | None:
        return resolve_recorded(recorded, self.path)

    @property
    def tokenizer_path(self) -> Path | None:
        return self._input(self.record.tokenizer)

    @property
    def table_path(self) -> Path | None:
        return self._input(self.record.table)

    @property
    def data_path(self) -> Path | None:
        return self._input(self.record.data)

    def reads(self) -> list[Path]:
        """The folders a command that loads this run reads: the run and the table and tokenizer it records.

        A command names them as its inputs, so its output never replaces or lies inside any of them.
        """
        return [p for p in (self.path, self.table_path, self.tokenizer_path) if p is not None]

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
        return read_json_object(file, "run summary")

    def unfinished(self, steps: int | None = None) -> str | None:
        """Why this run is not a finished training, in words; None when it is. The one rule every reader uses.

        Finished means: ``summary.json`` is there; the newest checkpoint is the one after the last
        step (``steps``, else the step the summary names); that checkpoint's manifest hashes verify
        (an edited, flipped or deleted weight file fails); and the summary agrees with the metrics
        (its step, and the final validation figures of the last ``val`` record of metrics.jsonl).
        A run a recipe assembled without training (empty metrics: a fusion, a growth's final model)
        is finished when its checkpoint verifies.
        """
        found = self.checkpoints()
        metrics = self._metrics_or_empty()
        if found and not metrics and steps is None:  # assembled by a recipe (a fusion, a growth's final model), not trained here
            try:
                ckpt.verify_checkpoint(found[-1][1])
            except SubstrateError as e:
                return f"its final checkpoint does not verify ({e})"
            return None
        at = found[-1][0] if found else self._last_logged_step()
        try:
            summary = self.summary()
        except SubstrateError as e:
            return f"its summary cannot be read ({e})"
        want = steps if steps is not None else (summary or {}).get("steps", (self.record.train or {}).get("steps"))
        if summary is None or not found or found[-1][0] != want:
            return f"unfinished at step {at}" + (f" of {want}" if isinstance(want, int) else "")
        if summary.get("steps", want) != want:
            return f"its summary names step {summary.get('steps')!r}, its last checkpoint step {want}"
        try:
            ckpt.verify_checkpoint(found[-1][1])
        except SubstrateError as e:
            return f"its final checkpoint does not verify ({e})"
        vals = [r for r in metrics if r.get("type") == "val"]
        if vals:
            last = {k: v for k, v in vals[-1].items() if k not in ("type", "step")}
            off = sorted(k for k, v in last.items() if summary.get(k) != v)
            if off or vals[-1].get("step") != want:
                return f"its summary disagrees with its metrics ({', '.join(off) or 'step'}): edited or torn"
        return None

    @staticmethod
    def unfinished_label(why: str | None) -> str:
        """What a legend or a table column adds to the name of a run that is not finished ("" when it is)."""
        if why is None:
            return ""
        return f" ({why})" if why.startswith("unfinished") else " (not verified)"

    def _last_logged_step(self) -> int:
        steps = [r.get("step") for r in self._metrics_or_empty()]
        return max((s for s in steps if isinstance(s, int) and not isinstance(s, bool)), default=0)

    def _metrics_or_empty(self) -> list[dict[str, Any]]:
        return read_metrics(self.path) if (self.path / METRICS_FILE).is_file() else []

    # --- what callers load ----------------------------------------------------------------
    def tokenizer(self, path: str | Path | None = None) -> "Tokenizer":
        """The run's tokenizer (or ``path``), verified to be the one it was trained with."""
        from unicode_substrate.tokenizer import Tokenizer

        tok_dir = path if path is not None else self._recorded(self.tokenizer_path, "tokenizer")
        tok = Tokenizer.load(tok_dir)
        if tok.manifest_sha256 != self.tokenizer_sha256:
            raise SubstrateError(f"tokenizer {tok_dir} is not the one run {self.path} was trained with (manifest hashes differ)")
        return tok

    def table(self, path: str | Path | None = None) -> "torch.Tensor | None":
        """The frozen table (None for a trainable embedding), verified to be the run's own."""
        table = path
        if path is None and self.model_config.embedding == "frozen":
            table = self._recorded(self.table_path, "table")
        weight, sha = load_frozen_table(table, self.model_config, tokenizer_sha256=self.tokenizer_sha256)
        if sha != self.table_sha256:
            raise SubstrateError(f"table {table} is not the one run {self.path} was trained with (manifest hashes differ)")
        return weight

    def weights(self, checkpoint: str | Path | None = None) -> tuple[dict, Path]:
        """The checkpoint's weights (verified, and verified to belong to this run) and its path."""
        path = self.checkpoint(checkpoint)
        weights, _, manifest = ckpt.load_checkpoint(path)
        check_identity(self.identity, manifest, f"checkpoint {path} does not belong to run {self.path}")
        return weights, path

    def _recorded(self, path: Path | None, what: str) -> Path:
        """A recorded input that must exist; when it is gone, say which parameter points elsewhere."""
        if path is None:
            raise SubstrateError(f"run {self.path} does not record its {what}; give its directory", param=what)
        if not path.is_dir():
            raise SubstrateError(f"the {what} recorded by run {self.path} is gone ({path}); give its directory", param=what)
        return path

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
