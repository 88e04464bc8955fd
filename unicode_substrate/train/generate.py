"""Sampling from a trained run: rebuild the model from its run record and newest checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from unicode_substrate.errors import SubstrateError
from unicode_substrate.model import GPT, ModelConfig
from unicode_substrate.train import checkpoint as ckpt
from unicode_substrate.train.trainer import RUN_FILE, load_frozen_table


def load_model(run: str | Path, checkpoint: str | Path | None = None, table: str | Path | None = None,
               device: str = "cpu") -> tuple[GPT, dict]:
    """The model of a run at its newest (or the given) checkpoint, with its verified frozen table; and the run record."""
    run = Path(run)
    if not (run / RUN_FILE).is_file():
        raise SubstrateError(f"{run} is not a training run (no {RUN_FILE})")
    record = json.loads((run / RUN_FILE).read_text(encoding="utf-8"))
    identity = record["identity"]
    mcfg = ModelConfig(**identity["model"])
    path = Path(checkpoint) if checkpoint is not None else ckpt.latest_checkpoint(run)
    weights, _, manifest = ckpt.load_checkpoint(path)
    if manifest.get("model") != identity["model"]:
        raise SubstrateError(f"checkpoint {path} does not belong to run {run}")
    table = table if table is not None else record.get("table")
    weight, table_sha = load_frozen_table(table, mcfg, tokenizer_sha256=identity["tokenizer_manifest_sha256"])
    if table_sha != identity["table_manifest_sha256"]:
        raise SubstrateError(f"table {table} is not the one run {run} was trained with (manifest hashes differ)")
    model = GPT(mcfg, table=weight)
    model.load_state_dict(weights, strict=True)
    return model.to(device).eval(), record


def generate(run: str | Path, prompt: str = "", max_new_tokens: int = 100, temperature: float = 0.8,
             top_k: int | None = 50, seed: int = 0, samples: int = 1, checkpoint: str | Path | None = None,
             tokenizer: str | Path | None = None, table: str | Path | None = None, device: str = "cpu") -> list[str]:
    """Continue ``prompt`` ``samples`` times with the run's model; returns the decoded texts (prompt included)."""
    from unicode_substrate.tokenizer import Tokenizer

    model, record = load_model(run, checkpoint, table, device)
    tok_dir = tokenizer if tokenizer is not None else record.get("tokenizer")
    if not tok_dir:
        raise SubstrateError(f"run {run} does not record its tokenizer; pass --tokenizer")
    tok = Tokenizer.load(tok_dir)
    if tok.manifest_sha256 != record["identity"]["tokenizer_manifest_sha256"]:
        raise SubstrateError(f"tokenizer {tok_dir} is not the one run {run} was trained with (manifest hashes differ)")
    ids = tok.encode(prompt)
    if not ids:  # an empty prompt starts where a document starts: after the separator
        sep = tok.token_to_id("</s>")
        if sep is None:
            raise SubstrateError("give a non-empty --prompt (this tokenizer has no </s> to start from)")
        ids = [sep]
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.tensor([ids] * samples, dtype=torch.long, device=device)
    out = model.generate(x, max_new_tokens, temperature=temperature, top_k=top_k, generator=gen)
    return [tok.decode(row.tolist(), skip_special_tokens=True) for row in out]
