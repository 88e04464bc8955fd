"""Tiny benchmark files in every supported format, written here (invented questions, no copied data),
and a tiny trained run with a real tokenizer to evaluate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

SUBJECTS = {
    "toy_math": [("What is two plus two?", "3", "4", "5", "6", "B"),
                 ("What is ten minus one?", "9", "8", "7", "6", "A")],
    "toy_colors": [("Which is a color?", "dog", "run", "red", "ten", "C"),
                   ("Mix of blue and yellow?", "pink", "gray", "black", "green", "D"),
                   ("Color of snow?", "white", "blue", "red", "green", "A")],
}
DEV = {  # few-shot examples (MMLU dev split), one more per subject than the tests ask for
    "toy_math": [("What is one plus one?", "1", "2", "3", "4", "B"),
                 ("What is three times one?", "3", "0", "1", "9", "A"),
                 ("What is five minus five?", "5", "2", "1", "0", "D")],
    "toy_colors": [("Color of grass?", "green", "red", "blue", "gray", "A"),
                   ("Color of the sky?", "pink", "brown", "blue", "white", "C"),
                   ("Color of coal?", "white", "black", "red", "blue", "B")],
}
ARC = [
    {"id": "q1", "stem": "Which tool cuts paper?", "labels": ["A", "B", "C", "D"],
     "texts": ["spoon", "scissors", "cup", "rope"], "answerKey": "B"},
    {"id": "q2", "stem": "Water freezes into what?", "labels": ["1", "2", "3", "4"],
     "texts": ["steam", "sand", "ice", "salt"], "answerKey": "3"},
    {"id": "q3", "stem": "Plants need which gas?", "labels": ["A", "B", "C"],
     "texts": ["carbon dioxide", "helium", "neon"], "answerKey": "A"},
]
CSQA = [
    {"id": "c1", "stem": "Where do you keep milk cold?", "labels": list("ABCDE"),
     "texts": ["oven", "fridge", "desk", "car", "bag"], "answerKey": "B"},
    {"id": "c2", "stem": "What do you sit on?", "labels": list("ABCDE"),
     "texts": ["chair", "lamp", "wall", "sky", "tree"], "answerKey": "A"},
]
SQUAD = [  # (id, context, question, answers); the second has a long answer, the third none
    ("s1", "The cat sat on the mat in Paris.", "Where did the cat sit?", ["the mat", "mat"]),
    ("s2", "Bob wrote a very long letter to his aunt.", "What did Bob write?", ["a very long letter"]),
    ("s3", "The sky was grey.", "Who owns the moon?", []),
    ("s4", "Ann is nine years old.", "How old is Ann?", ["nine"]),
]
BOOLQ = [("is the sun hot", "The sun is a hot star.", True), ("is ice hot", "Ice is frozen water.", False)]
PAIRS = [("the cat", "кошка"), ("a red house", "красный дом"), ("good morning", "доброе утро")]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def write_csv(path: Path, rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(ln + "\n" for ln in lines).encode("utf-8"))


def arc_rows(tag: str, n: int, first: str | None = None) -> list[dict]:
    """ARC release rows; ``first`` replaces the first question's stem."""
    return [{"id": f"{tag}{i}", "question": {"stem": first if first and i == 0 else f"{tag} question {i}?", "choices": [
        {"text": t, "label": lab} for t, lab in zip(("one", "two", "three", "four"), "ABCD")]}, "answerKey": "B"}
        for i in range(n)]


def unpack_releases(root: Path, passages: dict[str, str] | None = None) -> Path:
    """Every benchmark as its official download unpacks, side by side under ``root``: the MMLU
    tarball's ``data/``, ``ARC-V1-Feb2018-2/``, ``csqa/``, ``squad/``, ``boolq/`` and
    ``opus-100-corpus/``. ``passages`` (task -> text) puts a text into the first item of the split
    eval scores: MMLU's question, ARC's and CommonsenseQA's stem, SQuAD's context, BoolQ's passage,
    the first English sentence of OPUS en-ru."""
    p = passages or {}
    for split, n in (("test", 3), ("dev", 2), ("val", 1), ("auxiliary_train", 4)):
        write_csv(root / "data" / split / f"toy_{split}.csv",
                  [(p["mmlu"] if split == "test" and i == 0 and "mmlu" in p else f"{split} question {i}?",
                    "a", "b", "c", "d", "ABCD"[i % 4]) for i in range(n)])
    arc = root / "ARC-V1-Feb2018-2"
    for s, tag in (("Easy", "e"), ("Challenge", "c")):
        for split, n in (("Train", 5), ("Dev", 3 if s == "Easy" else 2), ("Test", 4)):
            first = p.get(f"arc-{s.lower()}") if split == "Dev" else None
            write_jsonl(arc / f"ARC-{s}" / f"ARC-{s}-{split}.jsonl", arc_rows(f"{tag}{split}", n, first))
    csqa = [{"answerKey": "A", "id": "c1", "question": {"question_concept": "x", "stem": p.get("csqa", "Where?"), "choices": [
        {"label": lab, "text": t} for lab, t in zip("ABCDE", ("home", "sea", "sky", "car", "bag"))]}}]
    write_jsonl(root / "csqa" / "dev_rand_split.jsonl", csqa)
    write_jsonl(root / "csqa" / "train_rand_split.jsonl", csqa * 3)
    write_jsonl(root / "csqa" / "test_rand_split_no_answers.jsonl", [{k: v for k, v in csqa[0].items() if k != "answerKey"}])
    for name in ("dev-v2.0.json", "train-v2.0.json"):
        context = p["squad"] if name.startswith("dev") and "squad" in p else "Ann is nine."
        squad = {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": context, "qas": [
            {"id": "q1", "question": "Age?", "answers": [{"text": "nine", "answer_start": 7}], "is_impossible": False}]}]}]}
        (root / "squad").mkdir(exist_ok=True)
        (root / "squad" / name).write_text(json.dumps(squad), encoding="utf-8")
    boolq = [{"question": "is it", "title": "t", "answer": True, "passage": "It is."}]
    write_jsonl(root / "boolq" / "dev.jsonl", [{**boolq[0], "passage": p.get("boolq", "It is.")}])
    write_jsonl(root / "boolq" / "train.jsonl", boolq * 2)
    sup = root / "opus-100-corpus" / "v1.0" / "supervised"
    for pair, other in (("en-ru", ["кот", "дом"]), ("en-zh", ["猫", "房子"]), ("de-en", ["Katze", "Haus"])):
        a, b = pair.split("-")
        for split in ("train", "dev", "test"):
            en = [f"{split} cat", f"{split} house"]
            if pair == "en-ru" and split == "dev" and "translation" in p:
                en[0] = p["translation"]
            write_lines(sup / pair / f"opus.{pair}-{split}.en", en)
            write_lines(sup / pair / f"opus.{pair}-{split}.{a if b == 'en' else b}", [f"{split} {w}" for w in other])
    return root


def write_original(root: Path) -> Path:
    """Every task in the form its authors released it."""
    for subject, rows in SUBJECTS.items():
        p = root / "mmlu" / "test" / f"{subject}_test.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    # the dev split beside it is not evaluated; it gives the few-shot examples
    for subject, rows in DEV.items():
        p = root / "mmlu" / "dev" / f"{subject}_dev.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    for task, rows in (("arc-easy", ARC), ("arc-challenge", ARC[::-1]), ("csqa", CSQA)):
        write_jsonl(root / task / "Dev.jsonl", [
            {"id": r["id"], "question": {"stem": r["stem"], "choices": [{"label": l, "text": t}
                                                                         for l, t in zip(r["labels"], r["texts"])]},
             "answerKey": r["answerKey"]} for r in rows])
    (root / "csqa" / "train_rand_split.jsonl").write_text("{broken\n", encoding="utf-8")  # other split: not read
    squad = {"version": "v2.0", "data": [{"title": "t", "paragraphs": [
        {"context": ctx, "qas": [{"id": i, "question": q, "answers": [{"text": a, "answer_start": 0} for a in ans],
                                  "is_impossible": not ans}]} for i, ctx, q, ans in SQUAD]}]}
    (root / "squad").mkdir(parents=True)
    (root / "squad" / "dev-v2.0.json").write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    write_jsonl(root / "boolq" / "dev.jsonl", [{"question": q, "passage": p, "answer": a} for q, p, a in BOOLQ])
    (root / "translation").mkdir(parents=True)
    (root / "translation" / "opus.en-ru-dev.en").write_text("".join(e + "\n" for e, _ in PAIRS), encoding="utf-8")
    (root / "translation" / "opus.en-ru-dev.ru").write_text("".join(r + "\n" for _, r in PAIRS), encoding="utf-8")
    return root


def write_export(root: Path, fmt: str = "parquet", dev: bool = False) -> Path:
    """Every task in the form of the common Parquet (or JSONL) exports (MMLU's dev split too with ``dev``)."""
    write = _parquet if fmt == "parquet" else write_jsonl
    ext = "parquet" if fmt == "parquet" else "jsonl"
    write(root / "mmlu" / "all" / f"test-00000-of-00001.{ext}",
          [{"question": r[0], "subject": s, "choices": list(r[1:5]), "answer": "ABCD".index(r[5])}
           for s, rows in SUBJECTS.items() for r in rows])
    if dev:
        write(root / "mmlu" / "all" / f"dev-00000-of-00001.{ext}",
              [{"question": r[0], "subject": s, "choices": list(r[1:5]), "answer": "ABCD".index(r[5])}
               for s, rows in DEV.items() for r in rows])
    for task, rows in (("arc-easy", ARC), ("arc-challenge", ARC[::-1]), ("csqa", CSQA)):
        write(root / task / f"validation-00000-of-00001.{ext}",
              [{"id": r["id"], "question": r["stem"], "choices": {"label": r["labels"], "text": r["texts"]},
                "answerKey": r["answerKey"]} for r in rows])
    write(root / "squad" / f"validation.{ext}",
          [{"id": i, "title": "t", "context": ctx, "question": q,
            "answers": {"text": ans, "answer_start": [0] * len(ans)}} for i, ctx, q, ans in SQUAD])
    write(root / "boolq" / f"validation.{ext}", [{"question": q, "passage": p, "answer": a} for q, p, a in BOOLQ])
    _parquet(root / "translation" / "en-ru" / "validation.parquet",
             [{"translation": {"en": e, "ru": r}} for e, r in PAIRS])
    return root


def all_text() -> str:
    """Every character the fixtures and the prompt templates use (for a tokenizer without unknowns)."""
    parts = [json.dumps([SUBJECTS, DEV, ARC, CSQA, SQUAD, BOOLQ, PAIRS], ensure_ascii=False)]
    parts.append("Question: Options: Answer: Context: Translate from English to Russian: (True/False)\n")
    parts.append("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,?!:;()-/")
    return "".join(parts)


def make_run(root: Path) -> tuple[Path, Path]:
    """A tiny frozen-table run (3 steps) with a character tokenizer covering the fixtures: (run, tokenizer)."""
    from click.testing import CliRunner

    from _train_helpers import make_char_tokenizer, make_table
    from unicode_substrate.cli import main
    from unicode_substrate.tokenizer import Tokenizer

    text = all_text()
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": text[i:i + 200]}) + "\n" for i in range(0, len(text), 50)) * 2,
                      encoding="utf-8")
    tok_dir = make_char_tokenizer(root / "tok", text)
    tok = Tokenizer.load(tok_dir)
    table = make_table(root / "table", dim=8, vocab=tok.vocab_size, tokenizer_sha=tok.manifest_sha256)
    run = CliRunner().invoke
    res = run(main, ["prepare", "--corpus", str(corpus), "--tokenizer", str(tok_dir), "--out", str(root / "data"),
                     "--val-every", "5"])
    assert res.exit_code == 0, res.output
    model = ["--set", f"vocab_size={tok.vocab_size}", "--set", "d_model=16", "--set", "n_layer=1", "--set", "n_head=2",
             "--set", "context=32", "--set", "n_embed=8"]
    res = run(main, ["train", "--preset", "tiny-glyph", *model, "--data", str(root / "data"), "--table", str(table),
                     "--out", str(root / "run"), "--steps", "3", "--batch-size", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return root / "run", tok_dir
