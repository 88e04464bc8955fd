"""Translation, OPUS-100 en-ru and en-zh, both directions: the release's line-aligned
``opus-100-corpus/v1.0/supervised/en-ru/opus.en-ru-dev.{en,ru}`` (``--split test``: ``-test``), or
Parquet with a ``translation`` struct (``{"en": ..., "ru": ...}``, the Hugging Face export
``en-ru/validation-00000-of-00001.parquet``) in a folder named for the task. Lines are split only
at ``\\n`` (and ``\\r\\n``): U+2028, U+0085 and form feeds are characters of a sentence.

Sentences are kept as the author's data path has them (``load_dataset("Helsinki-NLP/opus-100")``,
whose loader splits the files at ``\\n`` and changes nothing else): spaces at either end stay in
the prompt, the reference and N, and an empty sentence is an item like any other (its direction
generates ``min(0, 100)`` = 0 tokens and scores BLEU 0)."""

from __future__ import annotations

import random
from pathlib import Path

from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks.item import Item
from unicode_substrate.eval.tasks.read import read_text, records, text_lines
from unicode_substrate.eval.tasks.score import BLEU, by_answer, score_bleu
from unicode_substrate.eval.tasks.task import ANSWER_LENGTH, Files, Task, exports

LANGUAGES = {"en": "English", "ru": "Russian", "zh": "Chinese"}  # the names the paper's prompt uses
TRANSLATION_PAIRS = 128  # sentence pairs per direction (SPEC E)
_CODE = "(?:" + "|".join(LANGUAGES) + ")"


def pair_items(pairs: list[tuple[str, str, str]], a: str, b: str) -> list[Item]:
    """Both directions of every (id, text_a, text_b) pair, the direction as group ("en-ru")."""
    for lang in (a, b):
        if lang not in LANGUAGES:
            raise SubstrateError(f"translation language {lang!r} has no name for the prompt (known: {', '.join(LANGUAGES)})")
    items = []
    for pid, ta, tb in pairs:
        items.append(Item("translation", f"{a}-{b}:{pid}", ta, tb, group=f"{a}-{b}"))
        items.append(Item("translation", f"{b}-{a}:{pid}", tb, ta, group=f"{b}-{a}"))
    return items


def read_pair(unit: tuple[Path, ...]) -> list[Item]:
    """Two line-aligned files ``NAME.xx`` and ``NAME.yy``; English first."""
    stem = unit[0].with_suffix("")
    langs = {p.suffix[1:].lower(): p for p in unit}
    if len(langs) != 2 or len(unit) != 2:
        raise SubstrateError(f"{stem}.*: expected two line-aligned files (e.g. .en and .ru), found "
                             f"{', '.join(p.name for p in unit)}")
    (a, fa), (b, fb) = sorted(langs.items(), key=lambda kv: (kv[0] != "en", kv[0]))
    la, lb = text_lines(read_text(fa)), text_lines(read_text(fb))
    if len(la) != len(lb):
        raise SubstrateError(f"{fa} has {len(la)} lines but {fb} has {len(lb)}: not line-aligned")
    return pair_items([(f"{stem.name}:{i}", x, y) for i, (x, y) in enumerate(zip(la, lb), 1)], a, b)


def read_parquet(path: Path) -> list[Item]:
    pairs, langs = [], None
    for where, rec in records(path):
        t = rec.get("translation") if isinstance(rec, dict) else None
        if not isinstance(t, dict) or len(t) != 2 or not all(isinstance(v, str) for v in t.values()):
            raise SubstrateError(f"{path} {where}: translation is not a struct of two sentences")
        keys = tuple(sorted(t, key=lambda k: (k != "en", k)))
        if langs is not None and keys != langs:
            raise SubstrateError(f"{path} {where}: languages {', '.join(keys)} differ from the file's {', '.join(langs)}")
        langs = keys
        pairs.append((f"{path.name}:{where.split()[-1]}", t[keys[0]], t[keys[1]]))
    return pair_items(pairs, *langs) if langs else []


def read(unit: tuple[Path, ...], split: str) -> list[Item]:
    if unit[0].suffix.lower() in (".parquet", ".jsonl"):
        return [it for path in unit for it in read_parquet(path)]
    return read_pair(unit)


def prompt(item: Item) -> str:
    """``Translate from English to Russian:\\n{src}\\nAnswer:``"""
    src, tgt = item.group.split("-")
    return f"Translate from {LANGUAGES[src]} to {LANGUAGES[tgt]}:\n{item.question}\nAnswer:"


def select(task: Task, items: list[Item], rng: random.Random, limit: int | None) -> list[Item]:
    """Per direction: shuffled, the first 128 pairs, then at most ``limit``."""
    groups: dict[str, list[Item]] = {}
    for it in items:
        groups.setdefault(it.group, []).append(it)
    out = []
    for g in sorted(groups):
        chosen = groups[g][:]
        rng.shuffle(chosen)
        out += chosen[:TRANSLATION_PAIRS][:limit]
    return out


def _opus(split: str) -> str:
    return rf"(^|/)opus\.{_CODE}-{_CODE}-{split}\.{_CODE}$"


TRANSLATION = Task(
    name="translation",
    files=Files(
        release={"validation": (_opus("dev"),), "test": (_opus("test"),)},
        generic={"validation": exports(("validation", "valid", "val", "dev"), "parquet"),
                 "test": exports(("test",), "parquet")},
        folders=("opus-100", "opus100", "opus-100-corpus", "opus"),
        suffixes=(".parquet", *(f".{c}" for c in LANGUAGES)),
        exclude=(r"^opus\.",),  # OPUS files of other language pairs (opus.de-en-dev.en) are not the task's
        paired=tuple(LANGUAGES),
        hint={"validation": "opus.en-ru-dev.{en,ru} / opus.en-zh-dev.{en,zh}, or validation*.parquet in a folder "
                            "named translation",
              "test": "opus.en-ru-test.{en,ru} / opus.en-zh-test.{en,zh}, or test*.parquet in a folder named translation"},
    ),
    reader=read,
    prompt=prompt,
    tokens=ANSWER_LENGTH,
    scorer=by_answer(score_bleu),
    metric=BLEU.label,
    choices=None,
    splits=("validation", "test"),
    select=select,
    percent=BLEU.percent,
    group_kind="direction",
    part=lambda item: "-".join(sorted(item.group.split("-"))),
    paper_name="BLEU",
    order=6,
    protocols=("paper",),
    description="OPUS-100 translation, both directions",
)
