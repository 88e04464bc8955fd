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

RESULTS_TXT = "results.txt"
# our task name -> the author's label; the order is the author's files' order
LABELS = {"mmlu": "MMLU", "arc-easy": "ARC-e", "arc-challenge": "ARC-c", "csqa": "C-SENSE", "squad": "SQUAD",
          "boolq": "BOOLQ", "translation": "BLEU"}
TASK_OF = {label: task for task, label in LABELS.items()}
DIRECTION_ORDER = ("en-ru", "ru-en", "en-zh", "zh-en")
_PARAMS = re.compile(r"^(\S+) Total parameters:\s*([0-9.]+)([MB])$")
_SCORE = re.compile(r"^(\S+) ([A-Za-z\-]+)(?: \[([^\]]+)\])?: ([0-9.]+)% ± ([0-9.]+)% \(σ=([0-9.]+)%\)$")


def format_parameters(n: int) -> str:
    """``1.3B`` as the author prints it; a model under 0.1 B in millions with three significant digits."""
    if n >= 1e8:
        return f"{n / 1e9:.1f}B"
    import numpy as np

    return np.format_float_positional(n / 1e6, precision=3, unique=False, fractional=False, trim="-") + "M"


def model_name(results: dict) -> str:
    """The model's name in result lines: its run or model folder's name, whitespace made '_'."""
    where = results["model"].get("run") or results["model"].get("hf_model") or "model"
    return re.sub(r"\s+", "_", Path(where).name) or "model"


def _line(name: str, label: str, entry: dict) -> str:
    runs = entry.get("runs") or [entry["score"]]
    mean = sum(runs) / len(runs)
    sd = math.sqrt(sum((r - mean) ** 2 for r in runs) / len(runs))
    return f"{name} {label}: {entry['score']:.2f}% ± {entry['ci95']:.2f}% (σ={sd:.2f}%)"


def direction_key(d: str) -> tuple:
    """Sort key of a translation direction: the author's order (en-ru, ru-en, en-zh, zh-en), then by name."""
    return (DIRECTION_ORDER.index(d), d) if d in DIRECTION_ORDER else (len(DIRECTION_ORDER), d)


def lines(results: dict) -> list[str]:
    """The result lines of an eval's results.json (paper protocol only), in the author's order."""
    name = model_name(results)
    params = results["model"].get("parameters")
    out = [f"{name} Total parameters:     {format_parameters(params)}"] if params is not None else []
    res = results["results"]
    for task in LABELS:
        r = res.get(task)
        if not r or not r.get("paper"):
            continue
        groups = r.get("groups") or {}
        if task == "mmlu":
            out += [_line(name, f"MMLU [{g}]", gr["paper"]) for g, gr in groups.items() if gr.get("paper")]
            out.append(_line(name, "MMLU", r["paper"]))
        elif task == "translation":
            out += [_line(name, f"BLEU [{d}]", groups[d]["paper"])
                    for d in sorted(groups, key=direction_key) if groups[d].get("paper")]
        else:
            out.append(_line(name, LABELS[task], r["paper"]))
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
        scores[key] = {"mean": float(m.group(4)), "ci95": float(m.group(5)), "sd": float(m.group(6))}
    if not scores:
        raise SubstrateError(f"{path} holds no result line of the author's format")
    return {"model": model, "parameters": params, "scores": scores}
