"""The eval directory: results.json, samples.jsonl, results.md, results.png and a manifest, written atomically."""

from __future__ import annotations

import io
import json
from pathlib import Path

from unicode_substrate.artifacts import atomic_output_dir, canonical_json, write_manifest

RESULTS_JSON, SAMPLES_JSONL, RESULTS_MD, RESULTS_PNG = "results.json", "samples.jsonl", "results.md", "results.png"
EVAL_SCHEMA = 1
# Chance accuracy in percent (SPEC E; BoolQ has two answers); SQuAD and translation have none.
CHANCE = {"mmlu": 25.0, "arc-easy": 25.0, "arc-challenge": 25.0, "csqa": 20.0, "boolq": 50.0}
PAPER_METRIC = {"squad": "containment accuracy", "translation": "sentence BLEU"}


def write_eval_dir(out: str | Path, results: dict, samples: list[dict], force: bool = False) -> Path:
    """Write the whole eval directory beside ``out`` and rename it into place when complete."""
    out = Path(out)
    with atomic_output_dir(out, force=force, kind="eval") as tmp:
        (tmp / RESULTS_JSON).write_bytes(canonical_json(results))
        lines = (json.dumps(s, sort_keys=True, ensure_ascii=False) + "\n" for s in samples)
        (tmp / SAMPLES_JSONL).write_bytes("".join(lines).encode("utf-8"))
        (tmp / RESULTS_MD).write_bytes(markdown(results).encode("utf-8"))
        (tmp / RESULTS_PNG).write_bytes(plot(results))
        write_manifest(tmp, "eval", EVAL_SCHEMA, model=results["model"].get("kind"))
    return out


def _cell(entry: dict | None, key: str, ci_key: str) -> str:
    if not entry:
        return "–"
    return f"{entry[key]:.2f} ± {entry[ci_key]:.2f}"


def _row(name: str, task: str, r: dict) -> str:
    chance = CHANCE.get(task)
    return (f"| {name} | {r['n']} | {PAPER_METRIC.get(task, 'first-character accuracy')} | "
            f"{_cell(r.get('paper'), 'score', 'ci95')} | {_cell(r.get('loglik'), 'acc', 'acc_ci95')} | "
            f"{_cell(r.get('loglik'), 'acc_norm', 'acc_norm_ci95')} | {'–' if chance is None else f'{chance:g}'} |")


def markdown(results: dict) -> str:
    """One table, task x protocol with chance; then MMLU subjects and translation directions."""
    if not results["results"]:  # a data score alone (substrate eval --data without --tasks)
        from unicode_substrate.eval.data_report import markdown as data_markdown

        return data_markdown(results)
    s = results["settings"]
    paper = s["paper"]
    lines = [
        "# Evaluation",
        "",
        f"Model: `{results['model'].get('run') or results['model'].get('hf_model')}`"
        + (f" at `{Path(results['model']['checkpoint']).name}`" if results["model"].get("checkpoint") else "") + ".",
        f"Protocols: {', '.join(s['protocols'])}. Paper protocol: {paper['runs']} runs, temperature {paper['temperature']:g}, "
        f"top-k {paper['top_k'] or 'all'}, seed {s['seed']}; ± is 1.96·σ/√runs (decoding noise). "
        "Log-likelihood protocol: ± is the binomial 95 % interval over items.",
        "",
        "| task | items | paper metric | paper | loglik acc | loglik acc_norm | chance |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for task, r in results["results"].items():
        lines.append(_row(task, task, r))
    for task, r in results["results"].items():
        if r.get("groups"):
            lines += ["", f"## {task} by {'subject' if task == 'mmlu' else 'direction'}", "",
                      "| group | items | paper metric | paper | loglik acc | loglik acc_norm | chance |",
                      "|---|---:|---|---:|---:|---:|---:|"]
            lines += [_row(g, task, gr) for g, gr in r["groups"].items()]
    if results.get("data_score"):
        from unicode_substrate.eval.data_report import markdown_lines

        lines += markdown_lines(results["data_score"])
    lines += ["", f"![results]({RESULTS_PNG})", ""]
    return "\n".join(lines)


def plot(results: dict) -> bytes:
    """Bars per task and protocol with 95 % intervals and each task's chance level; PNG bytes."""
    if not results["results"]:  # a data score alone
        from unicode_substrate.eval.data_report import plot as data_plot

        return data_plot(results)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(results["results"])
    series = [("paper", "score", "ci95"), ("loglik", "acc", "acc_ci95"), ("loglik", "acc_norm", "acc_norm_ci95")]
    series = [s for s in series if any(results["results"][t].get(s[0]) for t in tasks)]
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(tasks) + 2), 4.2))
    for k, (proto, key, ci) in enumerate(series):
        xs, ys, es = [], [], []
        for i, t in enumerate(tasks):
            entry = results["results"][t].get(proto)
            if entry:
                xs.append(i + (k - (len(series) - 1) / 2) * width)
                ys.append(entry[key])
                es.append(entry[ci])
        ax.bar(xs, ys, width, yerr=es, capsize=3, label=f"{proto} {key}" if proto == "loglik" else "paper")
    for i, t in enumerate(tasks):
        if t in CHANCE:
            ax.hlines(CHANCE[t], i - 0.45, i + 0.45, colors="black", linestyles="dashed", lw=1,
                      label="chance" if i == min(j for j, u in enumerate(tasks) if u in CHANCE) else None)
    ax.set_xticks(range(len(tasks)), [f"{t}\n(BLEU)" if t == "translation" else t for t in tasks])
    ax.set(ylabel="score (%; BLEU for translation)", ylim=(0, 100), title="benchmark scores with 95 % intervals")
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
