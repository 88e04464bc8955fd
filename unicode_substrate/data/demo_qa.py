"""A small question-answering set made from the built-in corpus, in SQuAD v2 and BoolQ release formats.

It lets the demo recipe (``mixes/demo-mix.toml``) mix instruction documents with no download:
every standard-library module's first docstring paragraph of a usable length becomes a SQuAD
paragraph with one answerable question (which word follows a quoted pair of words) and one
unanswerable one, and a BoolQ row (does the passage mention a word: a word of its own, or one of
another module that it lacks). The questions are mechanical; they exercise the formats, not a
model's knowledge.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from unicode_substrate.artifacts import atomic_output_dir, check_output, write_manifest

DEMO_QA_SCHEMA = 1
_WORD = re.compile(r"[A-Za-z]{4,}")


def _paragraphs(docs) -> list[str]:
    out = []
    for d in docs:
        para = d.split("\n\n")[0].replace("\n", " ").strip()
        if 80 <= len(para) <= 600 and len(para.split()) >= 8:
            out.append(para)
    return out


def make_demo_qa(out: str | Path, seed: int = 0, force: bool = False) -> Path:
    """Write ``train-v2.0.json`` (SQuAD v2) and ``train.jsonl`` (BoolQ) from the built-in corpus into ``out``."""
    from unicode_substrate.corpus import builtin_documents

    check_output(out, force=force, kind="demo-qa")  # refused before the corpus is read
    rng = random.Random(f"demo-qa/{seed}")
    paras = _paragraphs(builtin_documents())
    squad, boolq = [], []
    for i, ctx in enumerate(paras):
        words = ctx.split()
        j = rng.randrange(len(words) - 2)
        answer = words[j + 2]
        start = len(" ".join(words[:j + 2])) + 1
        qas = [{"question": f'Which word follows "{words[j]} {words[j + 1]}" in the text?', "id": f"demo{i}",
                "answers": [{"text": answer, "answer_start": start}], "is_impossible": False},
               {"plausible_answers": [{"text": words[0], "answer_start": 0}], "question": "Who wrote this text?",
                "id": f"demo{i}x", "answers": [], "is_impossible": True}]
        squad.append({"title": f"module {i}", "paragraphs": [{"qas": qas, "context": ctx}]})
        own = _WORD.findall(ctx)
        other = [w for w in _WORD.findall(paras[(i + 1) % len(paras)]) if w.lower() not in ctx.lower()]
        yes = bool(own) and (not other or rng.random() < 0.5)
        word = rng.choice(own) if yes else (rng.choice(other) if other else "zebra")
        boolq.append({"question": f"does the text mention {word.lower()}", "title": f"module {i}",
                      "answer": yes, "passage": ctx})
    with atomic_output_dir(out, force=force, kind="demo-qa") as tmp:
        (tmp / "train-v2.0.json").write_text(json.dumps({"version": "v2.0", "data": squad}), encoding="utf-8")
        (tmp / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in boolq), encoding="utf-8")
        write_manifest(tmp, "demo-qa", DEMO_QA_SCHEMA, seed=seed, squad_items=len(squad), boolq_items=len(boolq))
    return Path(out)
