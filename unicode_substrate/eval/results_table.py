"""``results-table``: the author's released result files and our eval directories in one table.

Every input is either an eval directory of ``substrate eval`` (read from its results.json: the
paper protocol and, where it was run, the log-likelihood ``acc`` and ``acc_norm``) or a result
file in the author's line format (``results_txt``). Rows are the tasks under the author's labels
(MMLU, ARC-e, ARC-c, C-SENSE, SQUAD, BOOLQ, BLEU [direction]; with ``groups`` also every MMLU
subject), columns the models (one per protocol and metric for our directories), each cell the
score with its 95 % interval: ± 1.96σ/√runs for the paper protocol, as the author reports it, and
the Wilson interval over items for log-likelihood. The chance level is beside every task that has
one. Written atomically and deterministically: table.md, table.csv, table.png and a manifest.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from unicode_substrate.artifacts import atomic_output_dir, read_manifest, write_manifest
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval import results_txt
from unicode_substrate.eval.report import CHANCE, RESULTS_JSON

TABLE_MD, TABLE_CSV, TABLE_PNG = "table.md", "table.csv", "table.png"
TABLE_SCHEMA = 1
CHANCE_BY_LABEL = {results_txt.LABELS[t]: c for t, c in CHANCE.items()}


@dataclass(frozen=True)
class Score:
    """One cell: the score and its interval's bounds, and how the interval was made."""

    value: float
    low: float
    high: float
    symmetric: bool  # ± (paper protocol) rather than [low, high] (Wilson)


@dataclass(frozen=True)
class Column:
    """One model under one protocol: its name, where it came from, and its scores by row."""

    name: str
    source: str  # "author file" or "eval directory"
    parameters: str | None
    scores: dict  # (label, group or None) -> Score


def _paper_score(mean: float, ci: float) -> Score:
    return Score(mean, mean - ci, mean + ci, True)


def read_author_file(path: Path) -> list[Column]:
    """The one column of an author-format result file (ours or the released ones)."""
    p = results_txt.parse(path)
    scores = {k: _paper_score(v["mean"], v["ci95"]) for k, v in p["scores"].items()}
    return [Column(p["model"], "author file", p["parameters"], scores)]


def _rows_of(task: str, r: dict, proto: str, pick) -> dict:
    label = results_txt.LABELS.get(task, task.upper())
    out = {}
    if r.get(proto) and task != "translation":
        out[(label, None)] = pick(r[proto])
    for g, gr in (r.get("groups") or {}).items():
        if gr.get(proto):
            out[(label, g)] = pick(gr[proto])
    return out


def read_eval_dir(path: Path) -> list[Column]:
    """Columns of one eval directory: ``NAME`` (paper protocol), ``NAME loglik acc``, ``NAME loglik acc_norm``."""
    try:
        kind = read_manifest(path).get("kind")
    except (SubstrateError, OSError, ValueError):
        kind = None
    if kind != "eval" or not (path / RESULTS_JSON).is_file():
        raise SubstrateError(f"{path} is not an eval directory of substrate eval (no eval manifest and results.json)")
    results = json.loads((path / RESULTS_JSON).read_text(encoding="utf-8"))
    name = results_txt.model_name(results)
    if isinstance(results.get("model"), dict) and results["model"].get("unfinished"):  # eval recorded it (RunModel)
        from unicode_substrate.run import Run

        name += Run.unfinished_label(str(results["model"]["unfinished"]))
    params = results["model"].get("parameters")
    params = results_txt.format_parameters(params) if params is not None else None
    picks = [(name, "paper", lambda e: _paper_score(e["score"], e["ci95"]))]
    for metric in ("acc", "acc_norm"):
        picks.append((f"{name} loglik {metric}", "loglik",
                      lambda e, m=metric: Score(e[m], e.get(f"{m}_low", e[m]), e.get(f"{m}_high", e[m]), False)))
    cols = []
    for col_name, proto, pick in picks:
        scores = {}
        for task, r in results["results"].items():
            scores.update(_rows_of(task, r, proto, pick))
        if scores:
            cols.append(Column(col_name, "eval directory", params, scores))
    if not cols:
        raise SubstrateError(f"{path} holds no scores")
    return cols


def read_input(path: str | Path) -> list[Column]:
    """The columns of one input: an eval directory or an author-format result file."""
    path = Path(path)
    if path.is_dir():
        return read_eval_dir(path)
    if path.is_file():
        return read_author_file(path)
    raise SubstrateError(f"input {path} does not exist")


_LABEL_ORDER = ("MMLU", "ARC-e", "ARC-c", "C-SENSE", "SQUAD", "BOOLQ", "BLEU")


def _row_key(key: tuple) -> tuple:
    label, group = key
    rank = _LABEL_ORDER.index(label) if label in _LABEL_ORDER else len(_LABEL_ORDER)
    if label == "BLEU":
        return rank, label, results_txt.direction_key(group or "")
    return rank, label, (0, "") if group is None else (1, group)


def rows(columns: list[Column], groups: bool = False) -> list[tuple]:
    """Every row any column has, in the author's task order (MMLU subjects only with ``groups``)."""
    keys = {k for c in columns for k in c.scores}
    keys = {k for k in keys if groups or k[1] is None or k[0] == "BLEU"}
    return sorted(keys, key=_row_key)


def _row_name(key: tuple) -> str:
    return key[0] if key[1] is None else f"{key[0]} [{key[1]}]"


def _cell(s: Score | None) -> str:
    if s is None:
        return "–"
    if s.symmetric:
        return f"{s.value:.2f} ± {s.high - s.value:.2f}"
    return f"{s.value:.2f} [{s.low:.2f}, {s.high:.2f}]"


def _chance(key: tuple) -> float | None:
    return CHANCE_BY_LABEL.get(key[0])


def markdown(columns: list[Column], keys: list[tuple]) -> str:
    """table.md: tasks x models, the chance level, and what ± and [low, high] mean."""
    head = ["task", "chance", *(c.name for c in columns)]
    lines = ["# Results", "",
             "Scores in % (BLEU for translation). ± is 1.96·σ/√runs over the paper protocol's sampled runs, "
             "as the author's result files report it; [low, high] is the Wilson 95 % interval over items of the "
             "log-likelihood protocol. – : not run.", "",
             "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for k in keys:
        chance = _chance(k)
        lines.append("| " + " | ".join([_row_name(k), "–" if chance is None else f"{chance:g}",
                                        *(_cell(c.scores.get(k)) for c in columns)]) + " |")
    lines += ["", "| model | source | parameters |", "|---|---|---|"]
    lines += [f"| {c.name} | {c.source} | {c.parameters or '–'} |" for c in columns]
    lines += ["", f"![results]({TABLE_PNG})", ""]
    return "\n".join(lines)


def csv_text(columns: list[Column], keys: list[tuple]) -> str:
    """table.csv: task, chance, then value, low and high per model (empty where not run)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", "chance"] + [f"{c.name}{suffix}" for c in columns for suffix in ("", " low", " high")])
    for k in keys:
        chance = _chance(k)
        cells = [_row_name(k), "" if chance is None else f"{chance:g}"]
        for c in columns:
            s = c.scores.get(k)
            cells += ["", "", ""] if s is None else [f"{s.value:.2f}", f"{s.low:.2f}", f"{s.high:.2f}"]
        w.writerow(cells)
    return buf.getvalue()


def plot(columns: list[Column], keys: list[tuple]) -> bytes:
    """table.png: bars per task and model with their intervals, a dashed chance line, zeros marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / max(1, len(columns))
    fig, ax = plt.subplots(figsize=(min(24.0, max(6.0, 0.45 * len(keys) * max(1, len(columns)) ** 0.5 + 4)), 4.8))
    colors = plt.get_cmap("tab10" if len(columns) <= 10 else "tab20").colors
    for j, c in enumerate(columns):
        xs, ys, lo, hi = [], [], [], []
        for i, k in enumerate(keys):
            s = c.scores.get(k)
            if s is not None:
                xs.append(i + (j - (len(columns) - 1) / 2) * width)
                ys.append(s.value)
                lo.append(max(0.0, s.value - s.low))
                hi.append(max(0.0, s.high - s.value))
        color = colors[j % len(colors)]
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=c.name, color=color)
        for x, y in zip(xs, ys):
            if y == 0:  # a zero has no bar: mark it, so it does not read as "not run"
                ax.annotate("0", (x, 0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                            fontsize=7, color=color, fontweight="bold")
    for i, k in enumerate(keys):
        chance = _chance(k)
        if chance is not None:
            ax.hlines(chance, i - 0.45, i + 0.45, colors="black", linestyles="dashed", lw=1,
                      label="chance" if i == min(n for n, q in enumerate(keys) if _chance(q) is not None) else None)
    ax.set_xticks(range(len(keys)), [_row_name(k).replace(" [", "\n[") for k in keys], fontsize=8)
    top = max([s.high for c in columns for s in c.scores.values()] + [max(CHANCE.values())])
    ax.set(ylabel="score (%; BLEU for translation)", ylim=(0, min(100.0, top * 1.15 + 1)),
           title="results with 95 % intervals (paper: ± 1.96σ/√runs; loglik: Wilson)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # no version stamp: same input, same bytes
    plt.close(fig)
    return buf.getvalue()


def results_table(inputs: list[str | Path], out: str | Path, groups: bool = False, force: bool = False) -> Path:
    """Read every input (eval directories, author result files) and write table.md, table.csv and
    table.png to ``out``; returns ``out``."""
    if not inputs:
        raise SubstrateError("results-table needs at least one input (an eval directory or an author result file)")
    columns: list[Column] = []
    for path in inputs:
        columns += read_input(path)
    seen: dict[str, int] = {}
    for c in columns:
        seen[c.name] = seen.get(c.name, 0) + 1
    twice = sorted(n for n, k in seen.items() if k > 1)
    if twice:
        raise SubstrateError(f"two inputs give the same model name {twice[0]!r}; rename one folder or file")
    keys = rows(columns, groups=groups)
    md, table, png = markdown(columns, keys), csv_text(columns, keys), plot(columns, keys)
    out = Path(out)
    with atomic_output_dir(out, force=force, kind="results-table", inputs=inputs) as tmp:
        (tmp / TABLE_MD).write_bytes(md.encode("utf-8"))
        (tmp / TABLE_CSV).write_bytes(table.encode("utf-8"))
        (tmp / TABLE_PNG).write_bytes(png)
        write_manifest(tmp, "results-table", TABLE_SCHEMA, models=[c.name for c in columns])
    return out
