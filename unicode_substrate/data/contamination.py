"""Benchmark contamination: 13-gram overlaps between training documents and benchmark items.

As GPT-3 and lm-evaluation-harness define it: text is lower-cased, punctuation removed, split
into words, and an item counts as found in a document when the two share a 13-gram of words.
Scripts written without spaces (Chinese, Japanese, Thai, ...) have no words to split: each of
their characters is one unit, so the 13-grams there are of characters. An item's fields
(question, passage, every choice's text, a translation's reference) are n-grammed one by one,
so no n-gram spans two fields; a field shorter than 13 units has no 13-gram and is never found.

Benchmark items are found and read by ``substrate eval``'s own discovery and readers
(:func:`unicode_substrate.eval.tasks.read_split`): every item of every split eval can score, not
only the sample a run scores, wherever ``eval --data-dir`` would find it.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from unicode_substrate.artifacts import canonical_json
from unicode_substrate.errors import SubstrateError

N = 13
# Characters of scripts written without spaces between words: each is its own unit.
_NO_SPACE = re.compile(
    "([\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0003134f])")


def _strip_punctuation(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c)[0] != "P")


# Deleted, not replaced by a space, as lm-evaluation-harness's janitor does (string.punctuation).
_ASCII_PUNCT = str.maketrans("", "", string.punctuation)


def units(text: str) -> list[str]:
    """Lower-cased words without punctuation, with each character of a script written without spaces its own unit."""
    text = text.lower().translate(_ASCII_PUNCT)
    if not text.isascii():
        text = _strip_punctuation(text)
        text = _NO_SPACE.sub(r" \1 ", text)
    return text.split()


def ngrams(text: str, n: int = N) -> set[str]:
    """The ``n``-grams of ``text``'s units, joined by spaces."""
    u = units(text)
    return {" ".join(u[i:i + n]) for i in range(len(u) - n + 1)}


def _item_grams(fields: list[str], n: int = N) -> set[str]:
    # A field shorter than n units has no n-gram and cannot be found, as in the definition we follow.
    return set().union(*(ngrams(f, n) for f in fields))


@dataclass
class Index:
    """Every benchmark 13-gram, the items that hold it, and what was found."""

    n: int = N
    grams: dict[str, list[int]] = field(default_factory=dict)
    items: list[tuple[str, str, str, str]] = field(default_factory=list)  # (task, split, id, question)
    files: dict[str, list[str]] = field(default_factory=dict)  # task checked -> the files read
    splits: dict[str, list[str]] = field(default_factory=dict)  # task checked -> the splits read
    not_found: dict[str, str] = field(default_factory=dict)  # task with no file -> why (eval's words)
    hits: dict[int, list[dict]] = field(default_factory=dict)  # item -> documents holding it
    documents: list[dict] = field(default_factory=list)  # every document found, once
    dropped: bool = True


def item_fields(item) -> list[str]:
    """The texts of an eval item that training data must not contain: its question, context and
    choices, and the answer of a generative item (a reference translation; a SQuAD span lies in its
    context anyway). A multiple-choice answer is only a label."""
    fields = [item.question, item.context, *(text for _, text in item.choices)]
    if not item.choices:
        fields.append(item.answer)
    return [f for f in fields if f]


def build_index(bench_dir: str | Path, tasks: list[str] | None = None, n: int = N) -> Index:
    """The items of ``tasks`` (None = every task) found below ``bench_dir`` as ``substrate eval`` finds them.

    Every split eval can score is read. A task named in ``tasks`` with no file is an error; with
    ``tasks`` None it is listed in ``Index.not_found``, and no file of any task is an error."""
    from unicode_substrate.eval.tasks import TASKS, parse_tasks, read_split
    from unicode_substrate.eval.tasks.find import NoFiles

    bench = Path(bench_dir)
    if not bench.is_dir():
        raise SubstrateError(f"benchmark folder {bench} is not a directory")
    names = list(TASKS) if tasks is None else parse_tasks(tasks)
    index = Index(n=n)
    for name in names:
        task = TASKS[name]
        read: dict[str, tuple] = {}
        missing: dict[str, NoFiles] = {}
        for split in task.splits:
            try:
                read[split] = read_split(task, bench, split)
            except NoFiles as e:
                missing[split] = e
        if not read:
            first = missing[task.split]
            if tasks is not None:
                raise first
            index.not_found[name] = str(first)
            continue
        index.splits[name] = list(read)
        index.files[name] = [str(f) for _, files in read.values() for f in files]
        for split, (items, _) in read.items():
            for it in items:
                k = len(index.items)
                index.items.append((name, split, it.id, it.question))
                for g in _item_grams(item_fields(it), n):
                    index.grams.setdefault(g, []).append(k)
    if not index.files:
        raise SubstrateError(f"no benchmark file below {bench}: no file of {', '.join(names)} where substrate eval "
                             "looks (eval --list-files --data-dir shows what it finds)")
    return index


def screen(index: Index, source: str, ordinal: int, text: str) -> bool:
    """Record the benchmark items whose 13-grams ``text`` holds; True when it holds any (the document is dropped)."""
    u = units(text)
    n = index.n
    found: dict[int, str] = {}
    grams = index.grams
    for i in range(len(u) - n + 1):
        g = " ".join(u[i:i + n])
        ks = grams.get(g)
        if ks:
            for k in ks:
                found.setdefault(k, g)
    if not found:
        return False
    doc = {"source": source, "document": ordinal, "items": len(found)}
    index.documents.append(doc)
    for k, g in found.items():
        index.hits.setdefault(k, []).append({"source": source, "document": ordinal, "ngram": g})
    return index.dropped


def report(index: Index) -> dict:
    """The contamination report: per task, the items found and the documents holding them."""
    tasks: dict[str, dict] = {t: {"items": 0, "found": [], "splits": index.splits[t], "files": f}
                              for t, f in index.files.items()}
    for task, _, _, _ in index.items:
        tasks[task]["items"] += 1
    for k in sorted(index.hits):
        task, split, item_id, question = index.items[k]
        tasks[task]["found"].append({"id": item_id, "split": split, "question": question, "documents": index.hits[k]})
    return {"n": index.n, "normalisation": "lower-case, punctuation removed, words; characters of scripts without spaces",
            "dropped": index.dropped, "checked": list(tasks), "not_found": dict(index.not_found), "tasks": tasks,
            "documents": sorted(index.documents, key=lambda d: (d["source"], d["document"]))}


def write_reports(out: Path, rep: dict) -> None:
    """``contamination.json`` and ``contamination.md`` in ``out``."""
    (out / "contamination.json").write_bytes(canonical_json(rep))
    lines = ["# Contamination report", "",
             f"{rep['n']}-grams over lower-cased words without punctuation (characters for scripts without spaces). "
             + ("Documents holding an item were dropped from the data." if rep["dropped"]
                else "Report only: no document was dropped."), "",
             f"Checked: {', '.join(rep['checked'])}.", "",
             "| task | splits | items | found in training data |", "|---|---|---:|---:|"]
    for task, t in rep["tasks"].items():
        lines.append(f"| {task} | {', '.join(t['splits'])} | {t['items']:,} | {len(t['found']):,} |")
    lines.append("")
    if rep["not_found"]:
        lines += ["Not checked, no file found:", ""]
        lines += [f"- {task}: {why}" for task, why in rep["not_found"].items()]
        lines.append("")
    for task, t in rep["tasks"].items():
        if not t["found"]:
            continue
        lines += [f"## {task}", ""]
        for f in t["found"]:
            where = ", ".join(f"{d['source']} #{d['document']}" for d in f["documents"][:10])
            more = f" and {len(f['documents']) - 10} more" if len(f["documents"]) > 10 else ""
            q = f["question"].replace("\n", " ").replace("|", "\\|")
            lines.append(f"- `{f['id']}` ({f['split']}) {q[:120]}: {where}{more} (`{f['documents'][0]['ngram']}`)")
        lines.append("")
    (out / "contamination.md").write_text("\n".join(lines), encoding="utf-8")

