"""What the protocols need from a model, and that interface over a trained run.

A language model for evaluation is anything with ``context``, ``encode``/``decode``,
``generate`` and ``logits``; ``LanguageModel`` turns those into the two things the protocols
ask: sampled continuations of a prompt, and summed log-probabilities of continuations.
``RunModel`` wraps a run of this toolkit, ``hf.HFModel`` a Hugging Face causal LM directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from unicode_substrate.artifacts import manifest_sha256
from unicode_substrate.choices import BOS
from unicode_substrate.errors import SubstrateError


def item_seed(seed: int, *parts: str) -> int:
    """A 63-bit seed from ``seed`` and names (task, item id): independent of item order and limits."""
    digest = hashlib.sha256("/".join([str(seed), *parts]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class LanguageModel:
    """Base: subclasses give ``context``, ``device``, ``encode``, ``decode``, ``_logits``, ``_generate``."""

    context: int
    device: str
    description: dict
    bos: bool | None = None  # both protocols' prompts: None as the tokenizer encodes by default, or force

    def encode(self, text: str) -> list[int]:
        """``text`` as token ids, no special tokens added."""
        raise NotImplementedError

    def encode_default(self, text: str) -> list[int]:
        """``text`` as the tokenizer encodes it by default (special tokens it adds included)."""
        return self.encode(text)

    def bos_id(self) -> int | None:
        """The tokenizer's beginning-of-sequence id, None when it has none."""
        return None

    def encode_prompt(self, text: str) -> list[int]:
        """A paper-protocol prompt: as the author's script encodes it (``tokenizer.encode(prompt)``,
        the tokenizer's default), or with exactly one BOS / none when ``bos`` says so."""
        if self.bos is None:
            return self.encode_default(text)
        ids = self.encode(text)
        if self.bos:
            bos = self.bos_id()
            if bos is None:
                raise SubstrateError("a beginning-of-sequence token was asked for, but the tokenizer has none", param="bos")
            ids = [bos] + ids
        return ids

    def encode_loglik(self, text: str) -> list[int]:
        """A log-likelihood context or context + continuation, as lm-evaluation-harness 0.4's
        ``tok_encode``: the tokenizer's default special tokens (a BOS where it adds one), except
        for a text that already starts with the BOS's own text; ``bos`` forces one BOS or none."""
        if self.bos is None:
            bos = self.bos_id()
            if bos is not None and text.startswith(self.decode([bos])):
                return self.encode(text)
        return self.encode_prompt(text)

    def adds_bos(self) -> bool:
        """Whether paper-protocol prompts start with a BOS token (recorded in results.json)."""
        bos = self.bos_id()
        ids = self.encode_prompt("a")
        return bos is not None and bool(ids) and ids[0] == bos

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` with special tokens kept (the paper drops only ``<s>``, and cuts at ``</s>``)."""
        raise NotImplementedError

    def _logits(self, ids):  # [B, T] -> [B, T, V]
        raise NotImplementedError

    def _generate(self, ids, n_new: int, temperature: float, top_k: int | None, generator):  # [B, T] -> [B, T + n_new]
        raise NotImplementedError

    def generate(self, prompt_ids: list[int], n_new: int, n_samples: int, temperature: float, top_k: int | None,
                 seed: int) -> tuple[list[list[int]], int]:
        """``n_samples`` continuations of ``n_new`` tokens (one batch, one seeded generator) and how
        many prompt tokens were dropped from the left so that prompt and answer fit the context."""
        import torch

        keep = max(1, self.context - n_new)
        dropped = max(0, len(prompt_ids) - keep)
        ids = torch.tensor([prompt_ids[dropped:]] * n_samples, dtype=torch.long, device=self.device)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        with torch.no_grad():
            out = self._generate(ids, n_new, temperature, top_k, gen)
        return [row[ids.size(1):].tolist() for row in out], dropped

    def logliks(self, requests: list[tuple[list[int], list[int]]], batch_size: int = 16) -> list[float]:
        """Summed log-probability of each continuation given its context; contexts are cut from the left to fit.

        A position's logits depend only on the tokens up to it (causal attention), so a request whose
        input is a prefix of another's is read from that one's row: the choices of an item whose
        continuations differ only in their last token (one-letter answers) share one row, and each
        shared position gets the head once. Rows run in batches of ``batch_size``, right-padded,
        longest first; the head is applied only at the scored positions.
        """
        import torch

        inputs, targets = [], []
        for ctx, cont in requests:
            if not cont:
                raise SubstrateError("an answer continuation encodes to no tokens")
            if not ctx:
                raise SubstrateError("a prompt encodes to no tokens")
            if len(cont) > self.context:
                raise SubstrateError(f"an answer of {len(cont)} tokens does not fit the model context {self.context}")
            seq = (ctx + cont)[-(self.context + 1):]
            inputs.append(tuple(seq[:-1]))
            targets.append(seq[-len(cont):])
        # In lexicographic order a sequence that is a prefix of others sits right before one of them.
        lex = sorted(range(len(inputs)), key=lambda i: (inputs[i], i))
        row_of = [0] * len(inputs)
        rows: list[tuple[int, ...]] = []
        for k in range(len(lex) - 1, -1, -1):
            i = lex[k]
            if k + 1 < len(lex):
                nxt = lex[k + 1]
                if inputs[nxt][:len(inputs[i])] == inputs[i]:
                    row_of[i] = row_of[nxt]
                    continue
            row_of[i] = len(rows)
            rows.append(inputs[i])
        members: list[list[int]] = [[] for _ in rows]
        for i in range(len(inputs)):
            members[row_of[i]].append(i)
        order = sorted(range(len(rows)), key=lambda r: (-len(rows[r]), members[r][0]))
        out = [0.0] * len(inputs)
        step = max(1, batch_size)
        for start in range(0, len(order), step):
            chunk = order[start:start + step]
            x = torch.zeros(len(chunk), len(rows[chunk[0]]), dtype=torch.long)
            where: dict[tuple[int, int], int] = {}  # (row in batch, position) -> index of its logits
            pick_pos, pick_tok, pick_req = [], [], []
            for b, r in enumerate(chunk):
                x[b, :len(rows[r])] = torch.tensor(rows[r])
                for i in members[r]:
                    end = len(inputs[i])
                    for j, tok in enumerate(targets[i]):
                        pick_pos.append(where.setdefault((b, end - len(targets[i]) + j), len(where)))
                        pick_tok.append(tok)
                        pick_req.append(i)
            at = torch.tensor(list(where), dtype=torch.long).view(-1, 2)
            with torch.inference_mode():
                logits = self._logits_at(x.to(self.device), at[:, 0].to(self.device), at[:, 1].to(self.device))
                logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            picked = logp[torch.tensor(pick_pos), torch.tensor(pick_tok)].double()
            req = torch.tensor(pick_req)
            ids, slot = torch.unique(req, return_inverse=True)
            sums = torch.zeros(len(ids), dtype=torch.float64).index_add_(0, slot, picked)
            for i, value in zip(ids.tolist(), sums.tolist()):
                out[i] = value
        return out

    def _logits_at(self, ids, rows, cols):  # logits [len(rows), V] at positions (rows[j], cols[j]) of ids [B, T]
        return self._logits(ids)[rows, cols]


class RunModel(LanguageModel):
    """A trained run of this toolkit at a checkpoint, with its verified tokenizer and table."""

    def __init__(self, run: str | Path, checkpoint: str | Path | None = None, tokenizer: str | Path | None = None,
                 table: str | Path | None = None, device: str = "cpu"):
        from unicode_substrate.run import TABLE_KEY, TOKENIZER_KEY, Run

        r = Run.load(run)
        if checkpoint is None and not r.checkpoints():
            raise SubstrateError(f"run {run} has no checkpoint to evaluate")
        ckpt_path = r.checkpoint(checkpoint)
        self.tok = r.tokenizer(tokenizer)
        self.model = r.model(ckpt_path, device=device, table=table)
        self.context = r.model_config.context
        self.device = device
        self.description = {
            "kind": "run",
            "run": str(run),
            "checkpoint": str(ckpt_path),
            "checkpoint_manifest_sha256": manifest_sha256(ckpt_path),
            TABLE_KEY: r.table_sha256,
            TOKENIZER_KEY: self.tok.manifest_sha256,
            "model": dict(r.identity["model"]),
            "context": self.context,
        }
        if checkpoint is None and (why := r.unfinished()) is not None:  # e.g. a run still training, or one stopped
            self.description["unfinished"] = why

    def encode(self, text: str) -> list[int]:
        return list(self.tok.encode(text))  # the toolkit's tokenizers add no special tokens

    def bos_id(self) -> int | None:
        return self.tok.token_to_id(BOS)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=False)

    def _logits(self, ids):
        logits, _ = self.model(ids)
        return logits

    def _logits_at(self, ids, rows, cols):
        if not hasattr(self.model, "hidden"):  # a fusion mixes whole logits: no single head to apply
            return super()._logits_at(ids, rows, cols)
        return self.model.head(self.model.hidden(ids)[rows, cols])

    def _generate(self, ids, n_new, temperature, top_k, generator):
        return self.model.generate(ids, n_new, temperature=temperature, top_k=top_k, generator=generator)
