"""``results-table``: the author's released result files and our eval directories in one table.

Every input is either an eval directory of ``substrate eval`` (read from its results.json: the
paper protocol and, where it was run, the log-likelihood ``acc`` and ``acc_norm``) or a result
file in the author's line format (``results_txt``). Rows are the tasks under the author's labels
(MMLU, ARC-e, ARC-c, C-SENSE, SQUAD, BOOLQ, BLEU [direction], then a user task under its name;
with ``groups`` also every MMLU subject), columns the models (one per protocol and metric for our
directories), each cell the score with its 95 % interval (± 1.96σ/√runs for the paper protocol,
as the author reports it; the Wilson interval over items for log-likelihood) and its item count.
The chance level is beside every task that has one. Written atomically and deterministically:
table.md, table.csv, table.png, the author's two heatmaps (results_plots) and a manifest.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from unicode_substrate.artifacts import atomic_output_dir, read_manifest, write_manifest
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval import results_plots, results_txt
from unicode_substrate.eval.report import CHANCE, RESULTS_JSON
from unicode_substrate.metrics import family

TABLE_MD, TABLE_CSV, TABLE_PNG = "table.md", "table.csv", "table.png"
MMLU_HEATMAP_PNG, OVERVIEW_HEATMAP_PNG = "mmlu_heatmap.png", "overview_heatmap.png"
TABLE_SCHEMA = 2  # 2: item counts, trainable parameters, the heatmaps
CHANCE_BY_LABEL = {results_txt.LABELS[t]: c for t, c in CHANCE.items()}


@dataclass(frozen=True)
class Score:
    """One cell: the score and its interval's bounds, how the interval was made, and the items scored."""

    value: float
    low: float
    high: float
    symmetric: bool  # ± (paper protocol) rather than [low, high] (Wilson)
    n: int | None = None  # items scored (an author file does not say)


@dataclass(frozen=True)
class Column:
    """One model under one protocol: its name (the input's name and the protocol's suffix), where it
    came from, its parameter counts and its scores by row."""

    base: str
    source: str  # "author file" or "eval directory"
    parameters: str | None
    scores: dict  # (label, group or None) -> Score
    suffix: str = ""
    trainable: str | None = None
    chance: dict = field(default_factory=dict)  # label -> chance in %, as the eval recorded it
    path: str = ""

    @property
    def name(self) -> str:
        return f"{self.base}{self.suffix}"


def _paper_score(mean: float, ci: float, n: int | None = None) -> Score:
    return Score(mean, mean - ci, mean + ci, True, n)


def read_author_file(path: Path, name: str | None = None) -> list[Column]:
    """The one column of an author-format result file (ours or the released ones)."""
    p = results_txt.parse(path)
    scores = {k: _paper_score(v["mean"], v["ci95"]) for k, v in p["scores"].items()}
    return [Column(name or p["model"], "author file", p["parameters"], scores, path=str(path))]


class _Bad(Exception):
    """A field of results.json that is not what eval writes (its path in the record)."""


def _number(entry: dict, key: str, where: str, low: float = 0.0, high: float = results_txt.MAX_SCORE) -> float:
    v = entry.get(key) if isinstance(entry, dict) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not low <= v <= high:
        raise _Bad(f"{where}.{key} = {str(v)[:40]!r} is not a score in [{low:g}, {high:g}]")
    return float(v)


def _count(entry: dict, where: str) -> int | None:
    v = entry.get("n") if isinstance(entry, dict) else None
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise _Bad(f"{where}.n = {str(v)[:40]!r} is not an item count")
    return v


def _paper(e: dict, where: str) -> Score:
    return _paper_score(_number(e, "score", where), _number(e, "ci95", where), _count(e, where))


def _loglik(metric: str):
    def pick(e: dict, where: str) -> Score:
        v = _number(e, metric, where)
        low = _number(e, f"{metric}_low", where) if f"{metric}_low" in e else v
        high = _number(e, f"{metric}_high", where) if f"{metric}_high" in e else v
        return Score(v, low, high, False, _count(e, where))
    return pick


def _rows_of(task: str, r: dict, proto: str, pick) -> dict:
    if not isinstance(r, dict):
        raise _Bad(f"results.{task} is not an object")
    label = results_txt.label_of(task, r)
    out = {}
    if r.get(proto) and label != "BLEU":
        out[(label, None)] = pick(r[proto], f"results.{task}.{proto}")
    groups = r.get("groups") or {}
    if not isinstance(groups, dict):
        raise _Bad(f"results.{task}.groups is not an object")
    for g, gr in groups.items():
        if isinstance(gr, dict) and gr.get(proto):
            out[(label, g)] = pick(gr[proto], f"results.{task}.groups.{g}.{proto}")
    return out


def _read_results(path: Path) -> dict:
    """results.json of an eval directory, checked for the fields the table reads: one line if not."""
    where = path / RESULTS_JSON
    try:
        results = json.loads(where.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SubstrateError(f"{where} is not valid JSON ({str(e)[:80]})") from None
    if not isinstance(results, dict) or not isinstance(results.get("model"), dict) \
            or not isinstance(results.get("results"), dict):
        raise SubstrateError(f"{where} is not an eval record: it needs a 'model' and a 'results' object")
    return results


def _parameter_text(model: dict, key: str, where: Path) -> str | None:
    n = model.get(key)
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise SubstrateError(f"{where / RESULTS_JSON}: model.{key} = {str(n)[:40]!r} is not a parameter count")
    return results_txt.format_parameters(n)


def read_eval_dir(path: Path, name: str | None = None) -> list[Column]:
    """Columns of one eval directory: ``NAME`` (paper protocol), ``NAME loglik acc``, ``NAME loglik acc_norm``;
    NAME is ``name`` if given, else the eval's label or run (``results_txt.model_name``)."""
    try:
        kind = read_manifest(path).get("kind")
    except (SubstrateError, OSError, ValueError):
        kind = None
    if kind != "eval" or not (path / RESULTS_JSON).is_file():
        raise SubstrateError(f"{path} is not an eval directory of substrate eval (no eval manifest and results.json)")
    results = _read_results(path)
    base = name or results_txt.model_name(results)
    if isinstance(results.get("model"), dict) and results["model"].get("unfinished"):  # eval recorded it (RunModel)
        from unicode_substrate.run import Run

        base += Run.unfinished_label(str(results["model"]["unfinished"]))
    params = _parameter_text(results["model"], "parameters", path)
    trainable = _parameter_text(results["model"], "trainable_parameters", path)
    headline = [m.name for m in family("loglik") if m.headline]  # acc and acc_norm
    picks = [("", _paper), *((f" loglik {m}", _loglik(m)) for m in headline)]
    protos = ["paper", *(["loglik"] * len(headline))]
    chance = {}
    for task, r in results["results"].items():
        c = r.get("chance") if isinstance(r, dict) else None
        if isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) and 0 <= c <= 100:
            chance[results_txt.label_of(task, r)] = float(c)
    cols = []
    try:
        for (suffix, pick), proto in zip(picks, protos):
            scores = {}
            for task, r in results["results"].items():
                scores.update(_rows_of(task, r, proto, pick))
            if scores:
                cols.append(Column(base, "eval directory", params, scores, suffix, trainable, chance, str(path)))
    except _Bad as e:
        raise SubstrateError(f"{path / RESULTS_JSON}: {e}") from None
    if not cols:
        raise SubstrateError(f"{path} holds no scores")
    return cols


def read_input(path: str | Path, name: str | None = None) -> list[Column]:
    """The columns of one input: an eval directory or an author-format result file."""
    path = Path(path)
    if path.is_dir():
        return read_eval_dir(path, name)
    if path.is_file():
        return read_author_file(path, name)
    raise SubstrateError(f"input {path} does not exist")


def parse_labels(labels) -> dict[str, str]:
    """``--label NAME=PATH`` -> {PATH: NAME}; a name is one printable word, each path named once."""
    out: dict[str, str] = {}
    for spec in labels or ():
        name, sep, path = str(spec).partition("=")
        if not sep or not path:
            raise SubstrateError(f"a label is NAME=PATH, got {str(spec)[:80]!r}", param="labels")
        results_txt.check_label(name, "label name", param="labels")
        key = str(Path(path))
        if key in out:
            raise SubstrateError(f"two labels name {path}", param="labels")
        out[key] = name
    return out


def read_columns(inputs, labels=None) -> list[Column]:
    """Every input's columns under distinct names: a ``labels`` name where given; else the default,
    and where two inputs' defaults collide (two evals of one run), ``NAME@FOLDER`` after the input's
    own folder or file name. Names still equal are an error that points to ``--label``."""
    labels = parse_labels(labels) if not isinstance(labels, dict) else labels
    paths = [str(Path(p)) for p in inputs]
    paths += [p for p in labels if p not in paths]
    per_input = [(p, read_input(p, labels.get(p))) for p in paths]
    bases: dict[str, set] = {}
    for p, cols in per_input:
        if p not in labels:
            bases.setdefault(cols[0].base, set()).add(p)
    columns: list[Column] = []
    for p, cols in per_input:
        if p not in labels and len(bases[cols[0].base]) > 1:
            cols = [replace(c, base=f"{c.base}@{Path(p).name}") for c in cols]
        columns += cols
    seen: dict[str, int] = {}
    for c in columns:
        seen[c.name] = seen.get(c.name, 0) + 1
    twice = sorted(n for n, k in seen.items() if k > 1)
    if twice:
        raise SubstrateError(f"two inputs give the same model name {twice[0]!r}; label them (NAME=PATH)", param="labels")
    return columns


def _row_key(key: tuple) -> tuple:
    label, group = key
    if label == "BLEU":
        return results_txt.label_key(label), results_txt.direction_key(group or "")
    return results_txt.label_key(label), (0, "") if group is None else (1, group)


def rows(columns: list[Column], groups: bool = False) -> list[tuple]:
    """Every row any column has, in the author's task order (MMLU subjects only with ``groups``)."""
    keys = {k for c in columns for k in c.scores}
    keys = {k for k in keys if groups or k[1] is None or k[0] == "BLEU"}
    return sorted(keys, key=_row_key)


def row_name(key: tuple) -> str:
    return key[0] if key[1] is None else f"{key[0]} [{key[1]}]"


def _md(text: str) -> str:
    """A cell of table.md: a '|' in a model's or subject's name must not end the cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|")


def _cell(s: Score | None) -> str:
    if s is None:
        return "–"
    n = "" if s.n is None else f" (n={s.n})"
    if s.symmetric:
        return f"{s.value:.2f} ± {s.high - s.value:.2f}{n}"
    return f"{s.value:.2f} [{s.low:.2f}, {s.high:.2f}]{n}"


def chance_of(key: tuple, columns: list[Column]) -> float | None:
    """The chance level of a row: as an eval recorded it (a user's task file too), else the built-in task's."""
    for c in columns:
        if key[0] in c.chance:
            return c.chance[key[0]]
    return CHANCE_BY_LABEL.get(key[0])


def markdown(columns: list[Column], keys: list[tuple], pictures: list[str], notes: list[str]) -> str:
    """table.md: tasks x models, the chance level, and what ± and [low, high] and n mean."""
    head = ["task", "chance", *(_md(c.name) for c in columns)]
    lines = ["# Results", "",
             "Scores in % (BLEU for translation). ± is 1.96·σ/√runs over the paper protocol's sampled runs, "
             "as the author's result files report it; [low, high] is the Wilson 95 % interval over items of the "
             "log-likelihood protocol; (n=…) is the number of items scored (the author's files do not give it). "
             "– : not run.", "",
             "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for k in keys:
        chance = chance_of(k, columns)
        lines.append("| " + " | ".join([_md(row_name(k)), "–" if chance is None else f"{chance:g}",
                                        *(_cell(c.scores.get(k)) for c in columns)]) + " |")
    lines += ["", "Parameters count the frozen table, as the author's files do; trainable leaves it out.", "",
              "| model | source | parameters | trainable |", "|---|---|---|---|"]
    lines += [f"| {_md(c.name)} | {c.source} | {c.parameters or '–'} | {c.trainable or '–'} |" for c in columns]
    lines += [""] + [f"{n}\n" for n in notes] + [f"![{Path(p).stem}]({p})\n" for p in pictures]
    return "\n".join(lines)


def csv_text(columns: list[Column], keys: list[tuple]) -> str:
    """table.csv: task, chance, then value, low, high and n per model (empty where not run or not known)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", "chance"] + [f"{c.name}{suffix}" for c in columns for suffix in ("", " low", " high", " n")])
    for k in keys:
        chance = chance_of(k, columns)
        cells = [row_name(k), "" if chance is None else f"{chance:g}"]
        for c in columns:
            s = c.scores.get(k)
            cells += ["", "", "", ""] if s is None else [f"{s.value:.2f}", f"{s.low:.2f}", f"{s.high:.2f}",
                                                         "" if s.n is None else str(s.n)]
        w.writerow(cells)
    return buf.getvalue()


def results_table(inputs: list[str | Path], out: str | Path, groups: bool = False, force: bool = False,
                  labels=None) -> Path:
    """Read every input (eval directories, author result files; ``labels``: ``NAME=PATH`` names, which
    add their path if it is not listed) and write table.md, table.csv, table.png, the MMLU and overview
    heatmaps and a manifest to ``out``; returns ``out``."""
    labels = parse_labels(labels)
    if not inputs and not labels:
        raise SubstrateError("results-table needs at least one input (an eval directory or an author result file)")
    columns = read_columns(inputs, labels)
    keys = rows(columns, groups=groups)
    chance = {k: chance_of(k, columns) for k in keys}
    pictures, notes = {}, []
    png, note = results_plots.bars(columns, keys, chance, row_name)
    pictures[TABLE_PNG] = png
    notes += [note] if note else []
    overview = [k for k in rows(columns) if k[1] is None or k[0] == "BLEU"]
    png, note = results_plots.heatmap(columns, overview, row_name, "tasks × models (paper protocol and loglik)")
    pictures[OVERVIEW_HEATMAP_PNG] = png
    notes += [note] if note else []
    subjects = sorted({k for c in columns for k in c.scores if k[0] == "MMLU" and k[1] is not None}, key=_row_key)
    if subjects:
        png, note = results_plots.heatmap(columns, subjects, lambda k: k[1], "MMLU subjects × models")
        pictures[MMLU_HEATMAP_PNG] = png
        notes += [note] if note else []
    md, table = markdown(columns, keys, list(pictures), notes), csv_text(columns, keys)
    out = Path(out)
    with atomic_output_dir(out, force=force, kind="results-table", inputs=[*inputs, *labels]) as tmp:
        (tmp / TABLE_MD).write_bytes(md.encode("utf-8"))
        (tmp / TABLE_CSV).write_bytes(table.encode("utf-8"))
        for name, png in pictures.items():
            (tmp / name).write_bytes(png)
        write_manifest(tmp, "results-table", TABLE_SCHEMA, models=[c.name for c in columns])
    return out
