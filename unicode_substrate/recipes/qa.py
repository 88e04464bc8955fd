"""Question-answering training sets in their release formats, as instruction documents.

Each item becomes one document: the prompt ``substrate eval`` shows for that kind of task
(:func:`unicode_substrate.eval.prompts.prompt`, the one source of the templates), a space and
the answer; the data writer puts the end-of-document token after it. The space is the one the
eval few-shot layout puts between a prompt and its answer.

* ``squad``: SQuAD v2 ``train-v2.0.json`` (``data[].paragraphs[].qas[]``); unanswerable
  questions (``is_impossible`` or no answer) are skipped; the answer is the first one.
* ``boolq``: ``train.jsonl`` (``question``, ``passage``, ``answer`` true/false) -> ``True``/``False``.
* ``csqa``: CommonsenseQA ``train_rand_split.jsonl``; ``arc``: ARC ``*-Train.jsonl``
  (``question.stem``, ``question.choices[{label, text}]``, ``answerKey``) -> the label.
* ``triviaqa``: ``*-train.json`` (``Data[].Question``, ``Data[].Answer.Value``).
* ``nq-open``: ``NQ-open.train.jsonl`` (``question``, ``answer`` list) -> the first answer.
* ``hotpotqa``: ``hotpot_train_v1.1.json`` (a list of ``question``, ``answer``,
  ``context[[title, [sentences]]]``) -> the SQuAD template with the paragraphs as context.

TriviaQA and NQ-open have no passage and eval has no template of their own: they take the SQuAD
template without its context line (``"Question: {q}\\nAnswer:"``), derived from the eval prompt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

from unicode_substrate.corpus import COMPRESSIONS, base_suffix, iter_lines, open_binary, resolve_files
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.prompts import prompt
from unicode_substrate.eval.tasks import Item

# Release file suffix of each format (a compressed copy of the file is read too).
SUFFIX = {"squad": ".json", "boolq": ".jsonl", "csqa": ".jsonl", "arc": ".jsonl", "triviaqa": ".json",
          "nq-open": ".jsonl", "hotpotqa": ".json"}


class _Bad(ValueError):
    """A malformed record: turned into one line naming the file and the record."""


def instruction(item: Item) -> str:
    """The instruction document of ``item``: its eval prompt, a space and its answer."""
    return f"{_prompt(item)} {item.answer}"


def _prompt(item: Item) -> str:
    if item.task != "open":
        return prompt(item)
    # The SQuAD template minus its context line: eval's wording, for questions that come without a passage.
    head, sep, rest = prompt(Item("squad", item.id, item.question, item.answer, context="")).partition("\n")
    if not sep or head.strip() != "Context:":
        raise SubstrateError(f"the eval SQuAD prompt no longer starts with a context line ({head!r}); "
                             "recipes/qa.py must be taught the open-question prompt")
    return rest


def qa_files(path: str | Path, fmt: str) -> list[Path]:
    """The release files of ``fmt`` named by ``path`` (a file, folder or glob); an error when none."""
    suffix = SUFFIX[fmt]

    def accept(p: Path) -> bool:
        return base_suffix(p) == suffix and (p.suffix.lower() == suffix or p.suffix.lower() in COMPRESSIONS)

    files = resolve_files(path, accept)
    for f in files:
        if not accept(f):
            raise SubstrateError(f"{f}: a {fmt} source reads {suffix} files (optionally {', '.join(COMPRESSIONS)})")
    if not files:
        raise SubstrateError(f"no {suffix} file of {fmt} under {path}")
    return files


def qa_items(path: Path, fmt: str) -> Iterator[Item]:
    """The items of one release file, streamed; a malformed record is one line naming file and record."""
    reader = _READERS[fmt]
    for where, rec in (_json_items(path, _JSON_PREFIX[fmt]) if SUFFIX[fmt] == ".json" else _jsonl(path)):
        try:
            yield from reader(rec, where)
        except _Bad as e:
            raise SubstrateError(f"{path} {where}: {e}") from None


def qa_documents(files: list[Path], fmt: str) -> Iterator[str]:
    """Every item of ``files`` (in order) as an instruction document."""
    for f in files:
        for item in qa_items(f, fmt):
            yield instruction(item)


# --- streaming the records --------------------------------------------------------------------
def _jsonl(path: Path) -> Iterator[tuple[str, object]]:
    for lineno, _, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            yield f"line {lineno}", json.loads(line.decode("utf-8-sig" if lineno == 1 else "utf-8"))
        except UnicodeDecodeError as e:
            raise SubstrateError(f"{path} line {lineno}: not UTF-8 (byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise SubstrateError(f"{path} line {lineno}: not valid JSON ({e.msg})") from None


_JSON_PREFIX = {"squad": "data.item", "triviaqa": "Data.item", "hotpotqa": "item"}
_JSON_TOP = {"squad": "an object with a data list", "triviaqa": "an object with a Data list", "hotpotqa": "a list"}


def _json_items(path: Path, prefix: str) -> Iterator[tuple[str, object]]:
    """The elements of the release's one big list, parsed one at a time (the files reach gigabytes)."""
    import ijson

    n = -1
    try:
        with open_binary(path) as f:
            for n, rec in enumerate(ijson.items(f, prefix, use_float=True)):
                yield f"{prefix.replace('.item', '')}[{n}]" if prefix != "item" else f"[{n}]", rec
    except ijson.JSONError as e:
        raise SubstrateError(f"{path}: not valid JSON after record {n + 1} ({str(e).splitlines()[0][:120]})") from None
    except (OSError, EOFError) as e:
        raise SubstrateError(f"cannot read {path}: {e}") from None
    if n < 0:
        fmt = next(k for k, v in _JSON_PREFIX.items() if v == prefix)
        raise SubstrateError(f"{path}: no {fmt} records (expected {_JSON_TOP[fmt]} of records)")


# --- one record -> items ----------------------------------------------------------------------
def _s(rec, key: str, what: str | None = None) -> str:
    v = rec.get(key) if isinstance(rec, dict) else None
    if not isinstance(v, str) or not v.strip():
        raise _Bad(f"no {what or key} (a non-empty string)")
    return v


def _obj(rec) -> dict:
    if not isinstance(rec, dict):
        raise _Bad("not an object")
    return rec


def _squad(rec, where: str) -> Iterator[Item]:
    rec = _obj(rec)
    paragraphs = rec.get("paragraphs")
    if not isinstance(paragraphs, list):
        raise _Bad("no paragraphs list")
    for p, para in enumerate(paragraphs):
        if not isinstance(para, dict) or not isinstance(para.get("qas"), list):
            raise _Bad(f"paragraphs[{p}] has no qas list")
        context = _s(para, "context", f"paragraphs[{p}].context")
        for q, qa in enumerate(para["qas"]):
            at = f"paragraphs[{p}].qas[{q}]"
            if not isinstance(qa, dict):
                raise _Bad(f"{at} is not an object")
            answers = qa.get("answers", [])
            if not isinstance(answers, list) or not all(isinstance(a, dict) and isinstance(a.get("text"), str) for a in answers):
                raise _Bad(f"{at}.answers is not a list of {{text}}")
            if qa.get("is_impossible") is True or not answers:
                continue  # unanswerable: nothing to teach as an answer
            question = _s(qa, "question", f"{at}.question")
            yield Item("squad", str(qa.get("id") or at), question, answers[0]["text"], context=context,
                       answers=tuple(a["text"] for a in answers))


def _boolq(rec, where: str) -> Iterator[Item]:
    rec = _obj(rec)
    answer = rec.get("answer")
    if not isinstance(answer, bool):
        raise _Bad(f"answer {answer!r} is not true or false")
    yield Item("boolq", where, _s(rec, "question"), "True" if answer else "False",
               (("True", "True"), ("False", "False")), context=_s(rec, "passage"))


def _choices(task: str) -> Callable:
    def parse(rec, where: str) -> Iterator[Item]:
        rec = _obj(rec)
        q = rec.get("question")
        if not isinstance(q, dict):
            raise _Bad("no question object (question.stem, question.choices)")
        stem = _s(q, "stem", "question.stem")
        raw = q.get("choices")
        if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(c, dict) for c in raw):
            raise _Bad("question.choices is not a list of at least two {label, text}")
        labels = [c.get("label") for c in raw]
        texts = [c.get("text") for c in raw]
        if not all(isinstance(x, str) and x for x in labels + texts):
            raise _Bad("a choice has no label or text")
        answer = _s(rec, "answerKey")
        if answer not in labels:
            raise _Bad(f"answerKey {answer!r} is not one of the labels {', '.join(labels)}")
        yield Item(task, str(rec.get("id") or where), stem, answer, tuple(zip(labels, texts)))
    return parse


def _triviaqa(rec, where: str) -> Iterator[Item]:
    rec = _obj(rec)
    answer = rec.get("Answer")
    if not isinstance(answer, dict):
        raise _Bad("no Answer object")
    yield Item("open", str(rec.get("QuestionId") or where), _s(rec, "Question"), _s(answer, "Value", "Answer.Value"))


def _nq_open(rec, where: str) -> Iterator[Item]:
    rec = _obj(rec)
    answers = rec.get("answer")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
        raise _Bad("answer is not a non-empty list of strings")
    yield Item("open", where, _s(rec, "question"), answers[0])


def _hotpotqa(rec, where: str) -> Iterator[Item]:
    rec = _obj(rec)
    context = rec.get("context")
    if not isinstance(context, list) or not context:
        raise _Bad("context is not a list of [title, sentences]")
    paragraphs = []
    for i, entry in enumerate(context):
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or not isinstance(entry[1], list) or not all(isinstance(x, str) for x in entry[1])):
            raise _Bad(f"context[{i}] is not [title, [sentences]]")
        # The release keeps each sentence's leading space, so joining with "" gives the paragraph back.
        paragraphs.append(f"{entry[0]}: {''.join(entry[1]).strip()}")
    yield Item("squad", str(rec.get("_id") or where), _s(rec, "question"), _s(rec, "answer"),
               context="\n".join(paragraphs))


_READERS = {"squad": _squad, "boolq": _boolq, "csqa": _choices("csqa"), "arc": _choices("arc-easy"),
            "triviaqa": _triviaqa, "nq-open": _nq_open, "hotpotqa": _hotpotqa}
