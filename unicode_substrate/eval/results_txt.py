"""``results.txt``: the paper-protocol scores in the line format of the author's released result files.

The author's benchmarking notebook (``_models_benchmarking.code.ipynb`` beside
``_models_benchmarking.py`` in the AVBochkov/Embeddings repository) appends one line per score
to ``results/_models_benchmarking_{model}.txt``:

    {model} Total parameters:     {p:.1f}B
    {model} MMLU [{subject}]: {mean:.2f}% ± {ci95:.2f}% (σ={sd:.2f}%)     (each subject, then)
    {model} MMLU: ...   ARC-e   ARC-c   C-SENSE   SQUAD   BLEU [en-ru]   BLEU [ru-en] ...

with mean, σ (numpy's population standard deviation) and 1.96σ/√runs over the runs. We write
the same lines from an eval directory's paper protocol, and read such files back (ours and the
released ones). Ours differ only where the author's file cannot say what ours holds: a model
under 0.1 B parameters is given in millions (``0.0421M``: ``.1f`` billions would read 0.0B;
the notebook's own regex accepts ``M``), and BoolQ, never reported by the author, is ``BOOLQ``.
The log-likelihood protocol has no line in this format (it is in results.json and results.md).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks import TASKS

RESULTS_TXT = "results.txt"
# Our task name -> the author's label: each built-in Task's own ``paper_name`` (one source of truth,
# so a new benchmark is never silently left out). The author's files' order, BLEU last.
LABELS = {name: t.paper_name for name, t in sorted(TASKS.items(), key=lambda kv: kv[1].paper_name == "BLEU")
          if t.paper_name}
TASK_OF = {label: task for task, label in LABELS.items()}
_ORDER = {label: i for i, label in enumerate(lb for lb in LABELS.values() if lb != "BLEU")}
DIRECTION_ORDER = ("en-ru", "ru-en", "en-zh", "zh-en")
_NUM = r"(\d+(?:\.\d+)?)"
_PARAMS = re.compile(rf"^(\S+) Total parameters:\s*{_NUM}([MB])$")
# the author's labels are letters and '-'; a user task's label (its name) may hold digits, '_' and '.'
_SCORE = re.compile(rf"^(\S+) ([A-Za-z0-9_.\-]+)(?: \[([^\]]+)\])?: {_NUM}% ± {_NUM}% \(σ={_NUM}%\)$")
MAX_SCORE = 100.0  # every score here is a percentage or BLEU: both at most 100


def format_parameters(n: int) -> str:
    """``1.3B`` as the author prints it; a model under 0.1 B in millions with three significant digits."""
    if n >= 1e8:
        return f"{n / 1e9:.1f}B"
    import numpy as np

    return np.format_float_positional(n / 1e6, precision=3, unique=False, fractional=False, trim="-") + "M"


def check_label(label: str, what: str = "label", param: str = "label") -> str:
    """A model's name in result lines and tables: one word of printable characters (the author's
    lines are ``{model} {TASK}: ...``, split at spaces)."""
    if not isinstance(label, str) or not label or any(c.isspace() or not c.isprintable() for c in label):
        raise SubstrateError(f"{what} {label!r} must be a non-empty word of printable characters (no spaces)", param=param)
    return label


def _growth_name(path: Path) -> str:
    """A run folder's name made distinct by what the folder layouts say: ``NAME/seed-S`` for a
    variant's seed (compare, study), ``GROWTH/stage-K``, ``GROWTH/final``, ``GROWTH/monolithic``
    (grow; ``GROWTH/seed-S/final`` with seeds)."""
    parts = [p for p in path.parts if p not in ("", ".", "/")]
    if len(parts) >= 2 and parts[-2] == "stages":
        parts = [*parts[:-2], f"stage-{parts[-1]}"]
    name = parts[-1:] if parts else ["model"]
    keep = {"final", "monolithic"}
    if name[0] in keep or name[0].startswith(("seed-", "stage-")):
        for p in reversed(parts[:-1]):  # climb past seed-S and stage folders to the variant or growth
            name.insert(0, p)
            if not p.startswith("seed-") and p != "runs":
                break
    return "/".join(p for p in name if p != "runs")


def model_name(results: dict) -> str:
    """The model's name in result lines: the eval's ``label`` if it was given one, else its run or
    model folder's name, with the variant and seed or the growth stage for a folder that names only
    those (``frozen/seed-1``, ``grown/stage-2``); whitespace made '_'."""
    model = results.get("model") if isinstance(results.get("model"), dict) else {}
    if isinstance(results.get("label"), str) and results["label"]:
        return results["label"]
    where = model.get("run") or model.get("hf_model") or "model"
    return re.sub(r"\s+", "_", _growth_name(Path(str(where)))) or "model"


def label_of(task: str, r: dict) -> str:
    """The author's label of a task's result: recorded with it (its Task's ``paper_name``), else the
    built-in task's, else the task's own name (a user's task file)."""
    recorded = r.get("paper_name") if isinstance(r, dict) else None
    label = recorded if isinstance(recorded, str) and recorded else LABELS.get(task, task)
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", label)  # one word of the line format, whatever the task's name


def _line(name: str, label: str, entry: dict) -> str:
    runs = entry.get("runs") or [entry["score"]]
    mean = sum(runs) / len(runs)
    sd = math.sqrt(sum((r - mean) ** 2 for r in runs) / len(runs))
    return f"{name} {label}: {entry['score']:.2f}% ± {entry['ci95']:.2f}% (σ={sd:.2f}%)"


def direction_key(d: str) -> tuple:
    """Sort key of a translation direction: the author's order (en-ru, ru-en, en-zh, zh-en), then by name."""
    return (DIRECTION_ORDER.index(d), d) if d in DIRECTION_ORDER else (len(DIRECTION_ORDER), d)


def label_key(label: str) -> tuple:
    """Sort key of a label: the author's order (MMLU, ARC-e, ARC-c, C-SENSE, SQUAD, BOOLQ), then
    other tasks by name, BLEU last."""
    if label in _ORDER:
        return 0, _ORDER[label], ""
    return (2, 0, "") if label == "BLEU" else (1, 0, label)


def lines(results: dict) -> list[str]:
    """The result lines of an eval's results.json (paper protocol only), in the author's order:
    a task's groups (MMLU subjects), then the task; BLEU per direction only, as the author writes it."""
    name = model_name(results)
    params = results["model"].get("parameters")
    out = [f"{name} Total parameters:     {format_parameters(params)}"] if params is not None else []
    res = {t: r for t, r in results["results"].items() if isinstance(r, dict) and r.get("paper")}
    for task in sorted(res, key=lambda t: label_key(label_of(t, res[t]))):
        r, label = res[task], label_of(task, res[task])
        groups = r.get("groups") or {}
        keys = sorted(groups, key=direction_key) if label == "BLEU" else list(groups)
        out += [_line(name, f"{label} [{g}]", groups[g]["paper"]) for g in keys if groups[g].get("paper")]
        if label != "BLEU":
            out.append(_line(name, label, r["paper"]))
    return out


def text(results: dict) -> str:
    """results.txt as the author's notebook writes it: UTF-8 lines, each ending in a newline."""
    return "".join(f"{ln}\n" for ln in lines(results))


def parse(path: str | Path) -> dict:
    """A result file in the author's format: {"model", "parameters" (text or None), "scores":
    {(label, group or None): {"mean", "ci95", "sd"}}}; a line in another form is an error."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SubstrateError(f"{path} is not UTF-8 text (byte {e.start})") from None
    model, params, scores = None, None, {}
    for i, line in enumerate(raw.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        m = _PARAMS.match(line) or _SCORE.match(line)
        if m is None:
            raise SubstrateError(f"{path} line {i} is not a result line of the author's format: {line[:80]!r}")
        if model is not None and m.group(1) != model:
            raise SubstrateError(f"{path} line {i} names model {m.group(1)!r}, the file's earlier lines {model!r}")
        model = m.group(1)
        if m.re is _PARAMS:
            params = m.group(2) + m.group(3)
            continue
        key = (m.group(2), m.group(3))
        if key in scores:
            raise SubstrateError(f"{path} line {i} repeats {m.group(2)}{f' [{m.group(3)}]' if m.group(3) else ''}")
        values = [float(m.group(k)) for k in (4, 5, 6)]
        if not all(math.isfinite(v) and v <= MAX_SCORE for v in values):
            raise SubstrateError(f"{path} line {i}: a score, interval or σ above {MAX_SCORE:g} %: {line[:80]!r}")
        scores[key] = dict(zip(("mean", "ci95", "sd"), values))
    if not scores:
        raise SubstrateError(f"{path} holds no result line of the author's format")
    return {"model": model, "parameters": params, "scores": scores}
