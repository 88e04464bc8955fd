"""Sampling from a trained run: its model at the newest (or a given) checkpoint, its tokenizer."""

from __future__ import annotations

from pathlib import Path

import torch

from unicode_substrate.choices import GENERATE_MAX_NEW_TOKENS, GENERATE_TEMPERATURE, GENERATE_TOP_K, SEPARATOR
from unicode_substrate.errors import SubstrateError
from unicode_substrate.options import check_range, device_available
from unicode_substrate.run import Run


def generate(run: str | Path, prompt: str = "", max_new_tokens: int = GENERATE_MAX_NEW_TOKENS,
             temperature: float = GENERATE_TEMPERATURE, top_k: int | None = GENERATE_TOP_K, seed: int = 0, samples: int = 1, checkpoint: str | Path | None = None,
             tokenizer: str | Path | None = None, table: str | Path | None = None, device: str = "cpu") -> list[str]:
    """Continue ``prompt`` ``samples`` times with the run's model; returns the decoded texts (prompt included)."""
    for name, value in (("max_new_tokens", max_new_tokens), ("temperature", temperature), ("top_k", top_k),
                        ("seed", seed), ("samples", samples)):
        check_range(name, value)
    device_available(device)
    r = Run.load(run)
    model = r.model(checkpoint, device=device, table=table)
    tok = r.tokenizer(tokenizer)
    ids = tok.encode(prompt)
    if not ids:  # an empty prompt starts where a document starts: after the separator
        sep = tok.token_to_id(SEPARATOR)
        if sep is None:
            raise SubstrateError(f"give a non-empty prompt (this tokenizer has no {SEPARATOR} to start from)")
        ids = [sep]
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.tensor([ids] * samples, dtype=torch.long, device=device)
    out = model.generate(x, max_new_tokens, temperature=temperature, top_k=top_k, generator=gen)
    return [tok.decode(row.tolist(), skip_special_tokens=True) for row in out]
