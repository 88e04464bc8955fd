"""Question-answering training sets in their release formats, as instruction documents.

Each item becomes one document: the prompt ``substrate eval`` shows for that kind of task
(:func:`unicode_substrate.eval.prompts.prompt`, the one source of the templates), a space and
the answer; the data writer puts the end-of-document token after it. The space is the one the
eval few-shot layout puts between a prompt and its answer.

Records are read by eval's own readers wherever eval reads the same format
(``unicode_substrate.eval.tasks``): JSON and JSONL decoding (``read.records``, ``read.json_list``),
and the SQuAD, BoolQ, ARC and CommonsenseQA record parsers, so training and eval accept and
refuse the same records.

* ``squad``: SQuAD v2 ``train-v2.0.json`` (``data[].paragraphs[].qas[]``); unanswerable
  questions (``is_impossible``, no answer, or an empty first answer) are skipped, as eval skips
  them; the answer is the first one.
* ``boolq``: ``train.jsonl`` (``question``, ``passage``, ``answer`` true/false) -> ``True``/``False``.
* ``csqa``: CommonsenseQA ``train_rand_split.jsonl``; ``arc``: ARC ``*-Train.jsonl``
  (``question.stem``, ``question.choices[{label, text}]``, ``answerKey``) -> the label.
* ``triviaqa``: ``*-train.json`` (``Data[].Question``, ``Data[].Answer.Value``).
* ``nq-open``: ``NQ-open.train.jsonl`` (``question``, ``answer`` list) -> the first answer.
* ``hotpotqa``: ``hotpot_train_v1.1.json`` (a list of ``question``, ``answer``,
  ``context[[title, [sentences]]]``) -> the SQuAD template with the paragraphs as context.

TriviaQA and NQ-open have no passage and eval has no template of their own: they are SQuAD items
without a context, which eval's SQuAD prompt shows without its context line
(``"Question: {q}\\nAnswer:"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from unicode_substrate.corpus import COMPRESSIONS, base_suffix, resolve_files
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.prompts import prompt
from unicode_substrate.eval.tasks import Item, RowError
from unicode_substrate.eval.tasks.boolq import parse as boolq_record
from unicode_substrate.eval.tasks.choice import parse_choice_record
from unicode_substrate.eval.tasks.read import iter_parsed, json_list, text_field
from unicode_substrate.eval.tasks.squad import answerable, article_items


def instruction(item: Item) -> str:
    """The instruction document of ``item``: its eval prompt, a space and its answer."""
    return f"{prompt(item)} {item.answer}"


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
    if fmt in _JSONL:
        yield from iter_parsed(path, _JSONL[fmt])
        return
    key, parse = _JSON[fmt]
    n = -1
    for n, rec in json_list(path, key):
        where = f"{key}[{n}]" if key else f"[{n}]"
        try:
            yield from parse(rec, where)
        except RowError as e:
            raise SubstrateError(f"{path} {e}" if fmt == "squad" else f"{path} {where}: {e}") from None
    if n < 0:
        raise SubstrateError(f"{path}: no {fmt} records (an empty {f'{key} list' if key else 'list'})")


def qa_documents(files: list[Path], fmt: str) -> Iterator[str]:
    """Every item of ``files`` (in order) as an instruction document."""
    for f in files:
        for item in qa_items(f, fmt):
            yield instruction(item)


# --- one record -> items ------------------------------------------------------------------
def _obj(rec) -> dict:
    if not isinstance(rec, dict):
        raise RowError("not an object")
    return rec


def _squad(article, where: str) -> Iterator[Item]:
    # eval's reader of a release article; its RowError names the place from the article down
    yield from (it for it in article_items(article, where) if answerable(it))  # no answer: nothing to teach


def _triviaqa(rec, where: str) -> Iterator[Item]:
    rec = _obj(rec)
    answer = rec.get("Answer")
    if not isinstance(answer, dict):
        raise RowError("no Answer object")
    yield Item("squad", str(rec.get("QuestionId") or where), text_field(rec, "Question"),
               text_field(answer, "Value", "Answer.Value"))


def _nq_open(rec: dict, where: str) -> Item:
    answers = rec.get("answer")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
        raise RowError("answer is not a non-empty list of strings")
    return Item("squad", where, text_field(rec, "question"), answers[0])


def _hotpotqa(rec, where: str) -> Iterator[Item]:
    rec = _obj(rec)
    context = rec.get("context")
    if not isinstance(context, list) or not context:
        raise RowError("context is not a list of [title, sentences]")
    paragraphs = []
    for i, entry in enumerate(context):
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or not isinstance(entry[1], list) or not all(isinstance(x, str) for x in entry[1])):
            raise RowError(f"context[{i}] is not [title, [sentences]]")
        # The release keeps each sentence's leading space, so joining with "" gives the paragraph back.
        paragraphs.append(f"{entry[0]}: {''.join(entry[1]).strip()}")
    yield Item("squad", str(rec.get("_id") or where), text_field(rec, "question"), text_field(rec, "answer"),
               context="\n".join(paragraphs))


# JSONL formats: a record parser as eval's readers take it. JSON formats: the big list's key and a parser.
_JSONL: dict[str, Callable] = {"boolq": boolq_record, "csqa": parse_choice_record("csqa"),
                               "arc": parse_choice_record("arc-easy"), "nq-open": _nq_open}
_JSON: dict[str, tuple[str | None, Callable]] = {"squad": ("data", _squad), "triviaqa": ("Data", _triviaqa),
                                                 "hotpotqa": (None, _hotpotqa)}
# Release file suffix of each format (a compressed copy of the file is read too), and the formats a recipe's
# ``format`` key accepts: a format is its parser above, nothing else lists it.
SUFFIX = {**{fmt: ".json" for fmt in _JSON}, **{fmt: ".jsonl" for fmt in _JSONL}}
FORMATS = tuple(SUFFIX)
