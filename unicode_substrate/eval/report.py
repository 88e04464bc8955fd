"""The eval directory: results.json, samples.jsonl, results.md, results.png, results.txt and a manifest."""

from __future__ import annotations

import io
import json
from pathlib import Path

from unicode_substrate.artifacts import atomic_output_dir, canonical_json, write_manifest
from unicode_substrate.eval import results_txt
from unicode_substrate.eval.tasks import TASKS
from unicode_substrate.metrics import by_label, family

RESULTS_JSON, SAMPLES_JSONL, RESULTS_MD, RESULTS_PNG = "results.json", "samples.jsonl", "results.md", "results.png"
EVAL_SCHEMA = 1
# Chance accuracy in percent and the paper protocol's metric of each built-in task (its Task
# record); a result carries its own (a user's task file too), which is what the tables print.
CHANCE = {name: t.chance for name, t in TASKS.items() if t.chance is not None}
PAPER_METRIC = {name: t.metric for name, t in TASKS.items()}


def _chance(task: str, r: dict) -> float | None:
    return r.get("chance", CHANCE.get(task))


def _paper_metric(task: str, r: dict) -> str:
    metric = r.get("metric")
    if isinstance(metric, dict) and metric.get("paper"):
        return metric["paper"]
    return metric if isinstance(metric, str) else PAPER_METRIC.get(task, "first-character accuracy")


def write_eval_dir(out: str | Path, results: dict, samples: list[dict], force: bool = False, inputs=()) -> Path:
    """Write the whole eval directory beside ``out`` and rename it into place when complete; ``out``
    may be none of ``inputs`` (the benchmark folder, the run, ...) nor hold one."""
    out = Path(out)
    with atomic_output_dir(out, force=force, kind="eval", inputs=inputs) as tmp:
        (tmp / RESULTS_JSON).write_bytes(canonical_json(results))
        lines = (json.dumps(s, sort_keys=True, ensure_ascii=False) + "\n" for s in samples)
        (tmp / SAMPLES_JSONL).write_bytes("".join(lines).encode("utf-8"))
        (tmp / RESULTS_MD).write_bytes(markdown(results).encode("utf-8"))
        (tmp / RESULTS_PNG).write_bytes(plot(results))
        (tmp / results_txt.RESULTS_TXT).write_bytes(results_txt.text(results).encode("utf-8"))
        write_manifest(tmp, "eval", EVAL_SCHEMA, model=results["model"].get("kind"))
    return out


def _paper_cell(entry: dict | None) -> str:
    return "–" if not entry else f"{entry['score']:.2f} ± {entry['ci95']:.2f}"


def _loglik_cell(entry: dict | None, key: str) -> str:
    """``acc [low, high]``: the Wilson interval is not symmetric, so both bounds are shown."""
    if not entry or key not in entry:
        return "–"
    if f"{key}_low" not in entry:  # an eval directory written before the Wilson interval
        return f"{entry[key]:.2f}"
    return f"{entry[key]:.2f} [{entry[key + '_low']:.2f}, {entry[key + '_high']:.2f}]"


def _loglik_metrics() -> list[str]:
    return [m.name for m in family("loglik")]


def _columns(protocols: list[str]) -> list[str]:
    cols = ["paper metric", "paper"] if "paper" in protocols else []
    return cols + [f"loglik {m}" for m in _loglik_metrics()] * ("loglik" in protocols)


def _row(name: str, task: str, r: dict, protocols: list[str], parent: dict | None = None) -> list[str]:
    """One table row; a group (MMLU subject, translation direction) takes metric and chance from its task."""
    own = parent or r
    cells = [name, str(r["n"])]
    if "paper" in protocols:
        cells += [_paper_metric(task, own), _paper_cell(r.get("paper"))]
    if "loglik" in protocols:
        cells += [_loglik_cell(r.get("loglik"), m) for m in _loglik_metrics()]
    chance = _chance(task, own)
    return cells + ["–" if chance is None else f"{chance:g}"]


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---"] + ["---" if h == "paper metric" else "---:" for h in header[1:]]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"] + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(results: dict) -> str:
    """One table, task x protocol with chance; then MMLU subjects and translation directions."""
    if not results["results"]:  # a data score alone (substrate eval --data without --tasks)
        from unicode_substrate.eval.data_report import markdown as data_markdown

        return data_markdown(results)
    s = results["settings"]
    paper = s["paper"]
    protocols = list(s["protocols"])
    header = ["task", "items", *_columns(protocols), "chance"]
    notes = []
    if "paper" in protocols:
        notes.append(f"Paper protocol: {paper['runs']} runs, temperature {paper['temperature']:g}, "
                     f"top-k {paper['top_k'] or 'all'}, seed {s['seed']}; ± is 1.96·σ/√runs (decoding noise).")
    if "loglik" in protocols:
        choices = s.get("loglik", {}).get("choices", "text")
        notes.append("Log-likelihood protocol (lm-evaluation-harness's metrics; choices scored as "
                     f"{'answer letters for MMLU and CommonsenseQA' if choices == 'letters' else 'choice texts'}): "
                     + ", ".join(f"{m.name} = {m.description}" for m in family("loglik")) + "; "
                     "[low, high] is the Wilson 95 % interval over items.")
    lines = [
        "# Evaluation",
        "",
        f"Model: `{results['model'].get('run') or results['model'].get('hf_model')}`"
        + (f" at `{Path(results['model']['checkpoint']).name}`" if results["model"].get("checkpoint") else "") + ".",
        f"Protocols: {', '.join(protocols)}. " + " ".join(notes),
        "",
        *_md_table(header, [_row(t, t, r, protocols) for t, r in results["results"].items()]),
    ]
    for task, r in results["results"].items():
        if r.get("groups"):
            lines += ["", f"## {task} by {'subject' if task == 'mmlu' else 'direction'}", ""]
            lines += _md_table(["group", *header[1:]], [_row(g, task, gr, protocols, r) for g, gr in r["groups"].items()])
    if results.get("data_score"):
        from unicode_substrate.eval.data_report import markdown_lines

        lines += markdown_lines(results["data_score"])
    lines += ["", f"![results]({RESULTS_PNG})", ""]
    return "\n".join(lines)


def terminal_table(results: dict) -> str:
    """The score table for the terminal: one line per task, plain text, aligned; then the data score."""
    from unicode_substrate.eval.data_report import DATA_SCORE, terminal_lines

    data = terminal_lines(results[DATA_SCORE]) if results.get(DATA_SCORE) else []
    if not results["results"]:
        return "\n".join(data)
    protocols = list(results["settings"]["protocols"])
    header = ["task", "items", *_columns(protocols), "chance"]
    rows = [_row(t, t, r, protocols) for t, r in results["results"].items()]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]

    def fmt(cells: list[str]) -> str:  # the task name left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(header)] + [fmt(r) for r in rows] + ([""] + data if data else []))


def read_terminal_table(eval_dir: str | Path) -> str:
    """:func:`terminal_table` of a written eval directory."""
    return terminal_table(json.loads((Path(eval_dir) / RESULTS_JSON).read_text(encoding="utf-8")))


def _series(results: dict) -> list[tuple[str, str, str]]:
    """(protocol, metric, label) of every bar series the results hold."""
    tasks = results["results"]
    out = [("paper", "score", "paper")] if any(r.get("paper") for r in tasks.values()) else []
    if any(r.get("loglik") for r in tasks.values()):
        out += [("loglik", m.name, f"loglik {m.name}") for m in family("loglik") if m.headline]
    return out


def _tick(task: str, r: dict) -> str:
    """A bar group's label: the task, and the metric where it is not a percentage ("translation (BLEU)")."""
    metric = by_label(str((r.get("metric") or {}).get("paper")))
    return f"{task}\n({metric.label.split()[-1]})" if metric is not None and not metric.percent else task


def _error(entry: dict, key: str) -> tuple[float, float]:
    """(below, above) the bar: ± for the paper protocol, the Wilson bounds for log-likelihood."""
    if key == "score":
        return entry["ci95"], entry["ci95"]
    if f"{key}_low" in entry:
        return entry[key] - entry[f"{key}_low"], entry[f"{key}_high"] - entry[key]
    return 0.0, 0.0


def bars(results: dict) -> list[tuple[str, list[tuple[float, float, float, float]]]]:
    """(label, [(x, score, below, above), ...]) per series: what results.png draws. A task a protocol
    did not score has no entry; a score of 0 has one (and is marked in the picture)."""
    tasks = list(results["results"])
    series = _series(results)
    width = 0.8 / max(1, len(series))
    out = []
    for k, (proto, key, label) in enumerate(series):
        entries = []
        for i, t in enumerate(tasks):
            entry = results["results"][t].get(proto)
            if entry:
                entries.append((i + (k - (len(series) - 1) / 2) * width, entry[key], *_error(entry, key)))
        out.append((label, entries))
    return out


def plot(results: dict) -> bytes:
    """Bars per task and protocol with 95 % intervals and each task's chance level; a zero score is
    marked with a 0 (an empty slot means the protocol was not run); PNG bytes."""
    if not results["results"]:  # a data score alone
        from unicode_substrate.eval.data_report import plot as data_plot

        return data_plot(results)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(results["results"])
    drawn = bars(results)
    width = 0.8 / max(1, len(drawn))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(tasks) + 2), 4.2))
    for label, entries in drawn:
        xs, ys, lo, hi = (list(v) for v in zip(*entries)) if entries else ([], [], [], [])
        patches = ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=label)
        for x, y in zip(xs, ys):
            if y == 0:  # a zero bar has no height: say it is a score of 0, not a missing one
                ax.annotate("0", (x, 0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                            fontsize=8, color=patches.patches[0].get_facecolor(), fontweight="bold")
    chance = {t: c for t in tasks if (c := _chance(t, results["results"][t])) is not None}
    for i, t in enumerate(tasks):
        if t in chance:
            ax.hlines(chance[t], i - 0.45, i + 0.45, colors="black", linestyles="dashed", lw=1,
                      label="chance" if i == min(j for j, u in enumerate(tasks) if u in chance) else None)
    ax.set_xticks(range(len(tasks)), [_tick(t, results["results"][t]) for t in tasks])
    ax.set(ylabel="score (%; BLEU for translation)", ylim=(0, 100),
           title="benchmark scores; paper ± 1.96σ/√runs, loglik Wilson 95 %")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # no version stamp: same input, same bytes
    plt.close(fig)
    return buf.getvalue()


def comparison_table(results: list[dict]) -> list[str]:
    """Markdown lines for ``substrate compare``: bits per byte beside each variant's benchmark scores."""
    tasks = list(dict.fromkeys(t for r in results for t in (r.get("eval") or {})))
    cols = [(t, key) for t in tasks for key in ("paper", "loglik", "loglik_norm")
            if any(key in (r.get("eval") or {}).get(t, {}) for r in results)]
    names = {"paper": "paper", "loglik": "loglik acc", "loglik_norm": "loglik acc_norm"}
    lines = ["## Benchmarks", "",
             "Each run evaluated with `substrate eval` (results in `evals/NAME/`); accuracy in %, BLEU for translation.",
             "", "| variant | final val bits/byte | " + " | ".join(f"{t} {names[k]}" for t, k in cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    for r in results:
        ev = r.get("eval") or {}
        cells = [f"{ev[t][k]:.2f}" if k in ev.get(t, {}) else "–" for t, k in cols]
        lines.append(f"| {r['variant']} | {r.get('val_bpb', float('nan')):.4f} | " + " | ".join(cells) + " |")
    chance = [f"{t} {CHANCE[t]:g} %" for t in tasks if t in CHANCE]
    if chance:
        lines += ["", "Chance: " + ", ".join(chance) + "."]
    return lines + [""]
