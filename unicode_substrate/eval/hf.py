"""A Hugging Face causal LM directory as an evaluation model, loaded offline (nothing is downloaded)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from unicode_substrate.artifacts import sha256_file
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.models import LanguageModel


class HFModel(LanguageModel):
    """``AutoModelForCausalLM`` and ``AutoTokenizer`` from a local directory, with a key/value cache."""

    def __init__(self, path: str | Path, device: str = "cpu"):
        path = Path(path)
        if not (path / "config.json").is_file():
            raise SubstrateError(f"{path} is not a Hugging Face model directory (no config.json)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub, whatever the directory says
        import pickle

        import transformers
        from safetensors import SafetensorError
        from transformers import AutoModelForCausalLM, AutoTokenizer

        transformers.logging.set_verbosity_error()
        if not sys.stderr.isatty():  # its loading bar would write \r frames into a log; ours prints plain lines there
            transformers.logging.disable_progress_bar()
        try:
            self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device).eval()
        except (OSError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError, SafetensorError) as e:
            # a pickle is refused by torch.load(weights_only=True) without running it: one line, not a traceback
            first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            raise SubstrateError(f"cannot load the Hugging Face model in {path}: {first}") from None
        cfg = self.model.config
        self.context = int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 2048)
        self.device = device
        self.description = {
            "kind": "hf",
            "hf_model": str(path),
            "architecture": type(self.model).__name__,
            "context": self.context,
            # every file of the directory: weights, configuration and tokenizer
            "files_sha256": {p.relative_to(path).as_posix(): sha256_file(p)
                             for p in sorted(path.rglob("*")) if p.is_file()},
        }

    def encode(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def encode_default(self, text: str) -> list[int]:
        # tokenizer.encode(prompt) in the author's script: the tokenizer's own special tokens (a BOS for
        # Llama-style tokenizers, none for GPT-2's or the bvv241 ones)
        return list(self.tok(text)["input_ids"])

    def bos_id(self) -> int | None:
        return self.tok.bos_token_id

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _logits(self, ids):
        return self.model(input_ids=ids).logits

    def _generate(self, ids, n_new, temperature, top_k, generator):
        import inspect

        import torch

        from unicode_substrate.model.gpt import sample_next_token

        # The key/value cache is the forward's ``cache`` argument in current transformers (passing
        # ``past_key_values`` there raises a FutureWarning); older releases name it ``past_key_values``.
        name = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        past, step = None, ids
        for _ in range(n_new):
            if ids.size(1) > self.context:  # outgrown: recompute the window, as GPT.generate does
                past, step = None, ids[:, -self.context:]
            out = self.model(input_ids=step, use_cache=True, **{name: past})
            past = getattr(out, name)
            nxt = sample_next_token(out.logits[:, -1, :], temperature, top_k, generator)
            ids = torch.cat((ids, nxt), dim=1)
            step = nxt
        return ids
