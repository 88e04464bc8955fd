"""Experiment loggers beside ``metrics.jsonl``: TensorBoard event files, a CSV file, Weights & Biases.

``metrics.jsonl`` stays the source of truth (reports, plots and resume read it); these are
copies in the formats other tools read, chosen with ``log = "tensorboard,csv"`` (TOML) or
``--log tensorboard,csv``. Each receives exactly the records written to metrics.jsonl.

- ``tensorboard``: ``tensorboard/events.out.tfevents.<start time>.substrate`` in the run, scalars
  ``train/loss``, ``train/lr``, ``train/grad_norm``, ``train/tokens_per_s``, ``val/loss``,
  ``val/bpb`` by step. Written with the ``tensorboard`` package's record writer (what
  ``torch.utils.tensorboard`` uses underneath) so the file name holds no host name.
- ``csv``: ``metrics.csv``, one row per record, the columns of :data:`CSV_COLUMNS`.
- ``wandb``: only when the ``wandb`` package is installed; offline unless ``WANDB_MODE`` says
  otherwise (no network may be assumed), files under the run's ``wandb/``.
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

from unicode_substrate.choices import LOGGERS
from unicode_substrate.errors import SubstrateError
from unicode_substrate.metrics import family

TENSORBOARD_DIR = "tensorboard"
CSV_FILE = "metrics.csv"
WANDB_DIR = "wandb"
_VALIDATION = tuple(m.name for m in family("validation"))  # val_loss, val_bpb: registered where they are computed
CSV_COLUMNS = ("type", "step", "tokens", "loss", "lr", "grad_norm", "tokens_per_s", "step_s",
               *_VALIDATION, "val_tokens", "val_bytes")
# metrics.jsonl key -> TensorBoard tag, per record type
_TB_TAGS = {
    "train": {"loss": "train/loss", "lr": "train/lr", "grad_norm": "train/grad_norm", "tokens_per_s": "train/tokens_per_s"},
    "val": {name: "val/" + name.removeprefix("val_") for name in _VALIDATION},
}


def parse_loggers(spec: str | None) -> tuple[str, ...]:
    """``"tensorboard,csv"`` -> ("tensorboard", "csv"); an unknown name is a one-line error."""
    names = tuple(dict.fromkeys(n.strip() for n in (spec or "").split(",") if n.strip()))
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise SubstrateError(f"unknown logger {', '.join(unknown)}; choose from {', '.join(LOGGERS)} (comma-separated)")
    return names


def check_loggers(spec: str | None) -> tuple[str, ...]:
    """The loggers named in ``spec``, refused before a run starts when their package is missing."""
    import importlib.util

    names = parse_loggers(spec)
    for name in names:
        if name in ("tensorboard", "wandb") and importlib.util.find_spec(name) is None:
            raise SubstrateError(f"the {name} logger needs the {name} package (pip install {name}); it is not installed")
    return names


class _TensorBoard:
    def __init__(self, out: Path):
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter

        self._Event = Event
        folder = out / TENSORBOARD_DIR
        folder.mkdir(exist_ok=True)
        now = time.time()
        # One file per (re)start: on resume TensorBoard drops the old file's steps past the first new one.
        self._file = open(folder / f"events.out.tfevents.{int(now):010d}.substrate", "ab")
        self._writer = RecordWriter(self._file)
        self._write(Event(wall_time=now, file_version="brain.Event:2"))

    def _write(self, event) -> None:
        self._writer.write(event.SerializeToString())
        self._file.flush()  # a TensorBoard watching the run sees each step as it is logged

    def write(self, record: dict) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        tags = _TB_TAGS.get(record.get("type"), {})
        values = [Summary.Value(tag=tag, simple_value=float(record[k])) for k, tag in tags.items() if k in record]
        if values:
            self._write(self._Event(wall_time=time.time(), step=int(record["step"]), summary=Summary(value=values)))

    def close(self) -> None:
        self._file.close()


class _CSV:
    def __init__(self, out: Path, resume_step: int | None):
        self.path = out / CSV_FILE
        keep: list[dict] = []
        if resume_step is not None and self.path.exists():  # as metrics.jsonl: rows past the checkpoint go
            try:
                with open(self.path, newline="", encoding="utf-8") as f:
                    keep = [r for r in csv.DictReader(f) if str(r.get("step", "")).isdecimal() and r["step"].isascii()
                            and int(r["step"]) <= resume_step]
            except (csv.Error, UnicodeDecodeError) as e:  # an edited or torn log: say so, and leave it as it is
                raise SubstrateError(f"{self.path} cannot be read to resume it ({e}); move it aside to start "
                                     "a new one") from None
        buf = io.StringIO()
        w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(keep)
        self.path.write_text(buf.getvalue(), encoding="utf-8")

    def write(self, record: dict) -> None:
        row = {k: record[k] for k in CSV_COLUMNS if k in record}
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, CSV_COLUMNS, lineterminator="\n").writerow(row)

    def close(self) -> None:
        pass


class _WandB:
    def __init__(self, out: Path, config: dict):
        import wandb

        os.environ.setdefault("WANDB_MODE", "offline")  # no network may be assumed; `wandb sync` uploads later
        (out / WANDB_DIR).mkdir(exist_ok=True)
        self._run = wandb.init(dir=str(out), name=out.name, config=config, reinit=True)

    def write(self, record: dict) -> None:
        prefix = "train" if record.get("type") == "train" else "val"
        self._run.log({f"{prefix}/{k}": v for k, v in record.items() if k not in ("type", "step")}, step=int(record["step"]))

    def close(self) -> None:
        self._run.finish()


class Loggers:
    """The loggers a run asked for; ``write`` gets each metrics.jsonl record, ``close`` at the end."""

    def __init__(self, backends: list):
        self.backends = backends

    def write(self, record: dict) -> None:
        for b in self.backends:
            b.write(record)

    def close(self) -> None:
        for b in self.backends:
            b.close()


def open_loggers(spec: str | None, out: Path, enabled: bool = True, resume_step: int | None = None,
                 config: dict | None = None) -> Loggers:
    """The loggers named in ``spec`` writing into run directory ``out`` (none on non-main processes)."""
    names = check_loggers(spec)
    if not enabled or not names:
        return Loggers([])
    made = {"tensorboard": lambda: _TensorBoard(out), "csv": lambda: _CSV(out, resume_step),
            "wandb": lambda: _WandB(out, config or {})}
    return Loggers([made[n]() for n in names])
