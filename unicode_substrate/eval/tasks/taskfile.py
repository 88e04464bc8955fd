"""A user's own benchmark as a TOML file (``substrate eval --task-file TASK.toml``).

```toml
name = "my-arc"                    # how --tasks and the results call it
kind = "multiple-choice"           # or "generative"
files = ["ARC-Easy-Dev.jsonl"]     # JSONL, CSV (with a header row) or Parquet; relative to this file
# or --task-path my-arc=PATH on the command line
[fields]                           # dotted paths into each record
id = "id"
question = "question.stem"
choices = "question.choices"       # a list of {label, text}, {label: [...], text: [...]}, or a list
                                   # of strings; or a list of field names (["A", "B", "C", "D"])
answer = "answerKey"               # a label, or a 0-based index into the choices
context = "passage"                # optional, as {context} in the template
[prompt]
template = "Question: {question}\nOptions:\n{options}Answer:"
option = "{label}) {text}\n"       # each choice, joined into {options}
labels = "native"                  # native (the record's), letters (A, B, ...) or numbers (1, 2, ...)
tokens = 2                         # tokens generated, or "answer" (min(answer characters, 100))
scorer = "first-character"         # first-character, contains or bleu
protocols = ["paper", "loglik"]
chance = 25.0                      # optional, percent
```

Unknown keys are an error. A generative task has no ``choices``; its ``answer`` is the reference
text (or a list, whose first entry is scored).
"""

from __future__ import annotations

import re
import string
import tomllib
from pathlib import Path

from unicode_substrate.errors import SubstrateError
from unicode_substrate.schema import check_keys, check_name
from unicode_substrate.eval.tasks.item import Item, RowError
from unicode_substrate.eval.tasks.read import csv_rows, labelled_choices, parse_records
from unicode_substrate.eval.tasks.registry import ALIASES, TASKS
from unicode_substrate.eval.tasks.score import by_answer
from unicode_substrate.metrics import family
from unicode_substrate.eval.tasks.task import ANSWER_LENGTH, Files, Task

KINDS = ("multiple-choice", "generative")
TOP_KEYS = {"name", "kind", "files", "fields", "prompt", "description"}
FIELD_KEYS = {"id", "question", "choices", "answer", "context", "group"}
PROMPT_KEYS = {"template", "option", "labels", "tokens", "scorer", "protocols", "chance", "option_separator"}
LABEL_STYLES = ("native", "letters", "numbers")


def _dig(rec, path):
    if isinstance(path, list):
        return [_dig(rec, p) for p in path]
    for key in str(path).split("."):
        if not isinstance(rec, dict) or key not in rec:
            raise RowError(f"no {path}")
        rec = rec[key]
    return rec


def _choices(value, style: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        labels, texts = value.get("label"), value.get("text")
        if not isinstance(labels, list) or not isinstance(texts, list) or len(labels) != len(texts):
            raise RowError("choices.label and choices.text are not lists of one length")
    elif isinstance(value, list) and value and all(isinstance(c, dict) for c in value):
        labels, texts = [c.get("label") for c in value], [c.get("text") for c in value]
    elif isinstance(value, list) and all(isinstance(c, str) for c in value):
        labels, texts = [None] * len(value), list(value)
    else:
        raise RowError("choices is not a list of {label, text}, {label: [...], text: [...]} nor a list of strings")
    if style == "letters":
        labels = [chr(ord("A") + i) for i in range(len(texts))]
    elif style == "numbers":
        labels = [str(i + 1) for i in range(len(texts))]
    elif any(label is None for label in labels):
        raise RowError("the choices carry no labels; set labels = \"letters\" or \"numbers\"")
    return labelled_choices(labels, texts)


class _Template:
    def __init__(self, where: str, template: str, option: str, fields: set[str]):
        self.template, self.option = template, option
        for text, allowed in ((template, fields), (option, {"label", "text"})):
            fields_of = ", ".join("{" + k + "}" for k in sorted(allowed))
            try:
                parts = list(string.Formatter().parse(text))
            except ValueError as e:
                raise SubstrateError(f"{where}: template {text!r} does not format ({e}); its fields are {fields_of}") from None
            for _, name, spec, conversion in parts:
                # Plain named fields only: an attribute or index ({question.__class__}, {label.upper}) would
                # reach Python internals and print memory addresses, so samples would not be reproducible.
                if name is not None and (name not in allowed or spec or conversion):
                    shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
                    raise SubstrateError(f"{where}: template {text!r} holds {shown}; only the plain fields "
                                         f"{fields_of} may appear") from None

    def __call__(self, item: Item) -> str:
        opts = "".join(self.option.format(label=label, text=text) for label, text in item.choices)
        return self.template.format(question=item.question, context=item.context, options=opts,
                                    group=item.group or "", answer_labels=", ".join(l for l, _ in item.choices))


def load_task_file(path: str | Path) -> Task:
    """The Task a TOML task file defines; one line naming the file and key for anything wrong."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise SubstrateError(f"cannot read task file {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SubstrateError(f"task file {path} is not valid TOML: {str(e).splitlines()[0]}") from None
    check_keys(doc, TOP_KEYS, str(path))
    name = doc.get("name")
    check_name(name, f"{path}: name")  # it names the task's files in reports and caches
    if name in TASKS or name in ALIASES:
        raise SubstrateError(f"{path}: name {name!r} is a built-in task's; choose another")
    kind = doc.get("kind", "multiple-choice")
    if kind not in KINDS:
        raise SubstrateError(f"{path}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    fields = doc.get("fields") or {}
    prompt = doc.get("prompt") or {}
    if not isinstance(fields, dict) or not isinstance(prompt, dict):
        raise SubstrateError(f"{path}: [fields] and [prompt] must be tables")
    check_keys(fields, FIELD_KEYS, f"{path} [fields]")
    check_keys(prompt, PROMPT_KEYS, f"{path} [prompt]")
    for key in ("question", "answer"):
        if key not in fields:
            raise SubstrateError(f"{path} [fields]: {key} is required")
    mc = kind == "multiple-choice"
    if mc != ("choices" in fields):
        raise SubstrateError(f"{path} [fields]: a {kind} task {'needs' if mc else 'has no'} choices")
    style = prompt.get("labels", "native")
    if style not in LABEL_STYLES:
        raise SubstrateError(f"{path} [prompt]: labels must be one of {', '.join(LABEL_STYLES)}, got {style!r}")
    tokens = prompt.get("tokens", 2 if mc else ANSWER_LENGTH)
    if not (tokens == ANSWER_LENGTH or (isinstance(tokens, int) and not isinstance(tokens, bool) and 1 <= tokens <= 1000)):
        raise SubstrateError(f"{path} [prompt]: tokens must be a count from 1 to 1000 or \"answer\", got {tokens!r}")
    scorer = prompt.get("scorer", "first-character" if mc else "contains")
    scorers = {m.name: m for m in family("paper")}
    if scorer not in scorers:
        raise SubstrateError(f"{path} [prompt]: scorer must be one of {', '.join(scorers)}, got {scorer!r}")
    protocols = prompt.get("protocols", ["paper", "loglik"] if mc else ["paper"])
    if (not isinstance(protocols, list) or not protocols or not set(protocols) <= {"paper", "loglik"}
            or ("loglik" in protocols and not mc)):
        raise SubstrateError(f"{path} [prompt]: protocols must be a list of paper and (multiple-choice only) loglik")
    chance = prompt.get("chance")
    if chance is not None and (isinstance(chance, bool) or not isinstance(chance, (int, float)) or not 0 <= chance <= 100):
        raise SubstrateError(f"{path} [prompt]: chance must be a percentage, got {chance!r}")
    template = prompt.get("template")
    if not isinstance(template, str) or not template:
        raise SubstrateError(f"{path} [prompt]: template (a string) is required")
    option = prompt.get("option", "{label}) {text}\n")
    render = _Template(f"{path} [prompt]", template, option, {"question", "context", "options", "group", "answer_labels"})
    files = doc.get("files", [])
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise SubstrateError(f"{path}: files must be a list of paths")
    file_paths = tuple((path.parent / f) for f in files)

    def parse(rec: dict, where: str) -> Item:
        question = _dig(rec, fields["question"])
        if not isinstance(question, str) or not question.strip():
            raise RowError(f"{fields['question']} is not a non-empty string")
        context = _dig(rec, fields["context"]) if "context" in fields else ""
        if not isinstance(context, str):
            raise RowError(f"{fields['context']} is not a string")
        group = _dig(rec, fields["group"]) if "group" in fields else None
        ident = _dig(rec, fields["id"]) if "id" in fields else where
        answer = _dig(rec, fields["answer"])
        choices: tuple[tuple[str, str], ...] = ()
        if mc:
            choices = _choices(_dig(rec, fields["choices"]), style)
            labels = [label for label, _ in choices]
            if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(choices):
                answer = labels[answer]
            elif isinstance(answer, str) and answer.strip() in labels:
                answer = answer.strip()
            else:
                raise RowError(f"answer {answer!r} is not one of the labels {', '.join(labels)} nor an index")
        else:
            if isinstance(answer, list) and answer and all(isinstance(a, str) for a in answer):
                answer = answer[0]
            if not isinstance(answer, str):
                raise RowError(f"answer {answer!r} is not a string (or a list of strings)")
            if not answer.strip():  # "" is in every generation: an empty reference would always score 100 %
                raise RowError("answer is empty; a generative reference must hold text")
        return Item(name, str(ident), question, answer, choices, context=context,
                    group=None if group is None else str(group))

    def read(unit: tuple[Path, ...], split: str) -> list[Item]:
        items = []
        for f in unit:
            if f.suffix.lower() == ".csv":
                rows = list(csv_rows(f))
                if not rows:
                    continue
                (_, header), body = rows[0], rows[1:]
                for line, row in body:
                    if not row:
                        continue
                    if len(row) != len(header):
                        raise SubstrateError(f"{f} line {line}: {len(row)} fields, the header has {len(header)}")
                    try:
                        items.append(parse(dict(zip(header, row)), f"{f.name}:{line}"))
                    except RowError as e:
                        raise SubstrateError(f"{f} line {line}: {e}") from None
            else:
                items += parse_records(f, parse)
        return items

    # The listed files are the task's; a --task-path folder is searched for these suffixes.
    suffixes = r"\.(?:jsonl|csv|parquet)$"
    release = tuple(rf"(^|/){re.escape(Path(f).name)}$" for f in files) or (suffixes,)
    return Task(
        name=name,
        files=Files(release={"validation": release}, generic={"validation": (suffixes,)}, suffixes=(),
                    hint={"validation": ", ".join(files) or "JSONL, CSV or Parquet files"}),
        reader=read,
        prompt=render,
        tokens=tokens,
        scorer=by_answer(scorers[scorer].fn),
        metric=scorers[scorer].label,
        choices=(lambda item: [f" {text}" for _, text in item.choices]) if mc else None,
        chance=None if chance is None else float(chance),
        percent=scorers[scorer].percent,
        protocols=tuple(protocols),
        description=str(doc.get("description", "")),
        task_file=path,
        listed_files=file_paths,
    )
