"""``evaluate``: read the benchmarks, open the model, run the protocols, write the eval directory."""

from __future__ import annotations

from pathlib import Path

from unicode_substrate.artifacts import sha256_file
from unicode_substrate.choices import EVAL_PROTOCOLS, EVAL_TEMPERATURE, EVAL_TOP_K
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval import loglik, paper
from unicode_substrate.eval.prompts import CHOICE_TOKENS, MAX_GENERATED
from unicode_substrate.eval.report import CHANCE, PAPER_METRIC, write_eval_dir
from unicode_substrate.eval.tasks import (MC_TASKS, SQUAD_ITEMS, SQUAD_MAX_ANSWER_CHARS, TRANSLATION_PAIRS, Item,
                                          check_fewshot, load_task, parse_tasks)


def open_model(run: str | Path | None = None, hf_model: str | Path | None = None, checkpoint=None, tokenizer=None,
               table=None, device: str = "cpu"):
    """The evaluation model: a run of this toolkit or a Hugging Face directory (exactly one)."""
    if (run is None) == (hf_model is None):
        raise SubstrateError("evaluate either a training run or a Hugging Face model directory (exactly one)")
    if hf_model is not None:
        if checkpoint is not None or tokenizer is not None or table is not None:
            raise SubstrateError("a checkpoint, tokenizer or table belongs to a run, not to a Hugging Face model directory")
        from unicode_substrate.eval.hf import HFModel

        return HFModel(hf_model, device=device)
    from unicode_substrate.eval.models import RunModel

    return RunModel(run, checkpoint=checkpoint, tokenizer=tokenizer, table=table, device=device)


def _protocols(protocol: str) -> list[str]:
    if protocol not in EVAL_PROTOCOLS:
        raise SubstrateError(f"unknown protocol {protocol!r}; choose one of {', '.join(EVAL_PROTOCOLS)}")
    return ["paper", "loglik"] if protocol == "both" else [protocol]


def evaluate(out: str | Path, tasks, data_dir: str | Path, run: str | Path | None = None,
             hf_model: str | Path | None = None, checkpoint=None, tokenizer=None, table=None,
             protocol: str = "both", runs: int = 10, limit: int | None = None, seed: int = 0,
             temperature: float = EVAL_TEMPERATURE, top_k: int | None = EVAL_TOP_K, batch_size: int = 16, device: str = "cpu",
             force: bool = False, progress: bool = False, lm=None, fewshot: int = 0, extra: dict | None = None) -> Path:
    """Evaluate a run (or ``hf_model``, or an already open ``lm``) on ``tasks`` read from ``data_dir``;
    write results.json, samples.jsonl, results.md and results.png to ``out``. ``fewshot`` K > 0 puts the
    first K dev rows of each MMLU subject before every prompt (both protocols). ``extra`` adds top-level
    keys to results.json (``data_score``: eval/data_score.py). Returns ``out``."""
    out = Path(out)
    names = parse_tasks(tasks)
    protocols = _protocols(protocol)
    if runs < 1:
        raise SubstrateError(f"the paper protocol needs at least one run, got {runs}")
    if limit is not None and limit < 1:
        raise SubstrateError(f"limit must be at least 1, got {limit}")
    if batch_size < 1:
        raise SubstrateError(f"batch size must be at least 1, got {batch_size}")
    if out.exists() and not force:
        raise SubstrateError(f"output directory {out} already exists (use --force to replace it)")
    data_dir = Path(data_dir)
    # Every benchmark file is read and checked before the model is loaded: bad input fails fast.
    loaded, files = check_benchmarks(names, data_dir, seed=seed, limit=limit, fewshot=fewshot)
    if lm is None:
        lm = open_model(run, hf_model, checkpoint, tokenizer, table, device)
    sampling = paper.Sampling(runs=runs, temperature=temperature, top_k=top_k, seed=seed)

    work = sum(len(items) * sum(p == "paper" or t in MC_TASKS for p in protocols) for t, items in loaded.items())
    from unicode_substrate.progress import Progress

    bar = Progress(work, "eval", enabled=progress, unit="item")  # a bar on a terminal, plain lines in a log
    samples: list[dict] = []
    results: dict[str, dict] = {}
    try:
        for t, items in loaded.items():
            res: dict = {"n": len(items), "chance": CHANCE.get(t), "metric": PAPER_METRIC.get(t, "first-character accuracy")}
            by: dict[str, dict[str, list[dict]]] = {}
            if "paper" in protocols:
                bar.set_postfix(f"{t} paper")
                recs = []
                for it in items:
                    recs.append(paper.run_item(lm, it, sampling))
                    bar.update(1)
                by["paper"] = _groups(recs)
                res["paper"] = paper.summarize(recs, runs, percent=t != "translation")
                samples += recs
            if "loglik" in protocols and t in MC_TASKS:
                bar.set_postfix(f"{t} loglik")
                recs = loglik.run_items(lm, items, batch_size=batch_size, progress=bar)
                by["loglik"] = _groups(recs)
                res["loglik"] = loglik.summarize(recs)
                samples += recs
            groups = sorted({g for recs in by.values() for g in recs if g is not None})
            if groups:
                res["groups"] = {g: _group_result(g, by, runs, t) for g in groups}
            results[t] = res
    finally:
        bar.close()

    record = {
        "kind": "eval",
        "schema_version": 1,
        "model": lm.description,
        "settings": settings(names, protocols, data_dir, seed, limit, batch_size, device, sampling, fewshot),
        "benchmark_files_sha256": dict(sorted(files.items())),
        "results": results,
        **(extra or {}),
    }
    return write_eval_dir(out, record, samples, force=force)


def check_benchmarks(tasks, data_dir, seed: int = 0, limit: int | None = None,
                     fewshot: int = 0) -> tuple[dict[str, list[Item]], dict[str, str]]:
    """The selected items of every task and the sha256 of every file read; bad input is a one-line error."""
    names = parse_tasks(tasks)
    for t in names:
        check_fewshot(t, fewshot)
    if data_dir is None or not Path(data_dir).is_dir():
        raise SubstrateError(f"benchmark directory {data_dir} does not exist")
    data_dir = Path(data_dir)
    loaded: dict[str, list[Item]] = {}
    files: dict[str, str] = {}
    for t in names:
        loaded[t], used = load_task(t, data_dir, seed=seed, limit=limit, fewshot=fewshot)
        files.update({f.relative_to(data_dir).as_posix(): sha256_file(f) for f in used})
    return loaded, files


def headline(eval_dir: str | Path) -> dict:
    """task -> {"paper": score, "loglik": acc, "loglik_norm": acc_norm} from an eval directory's results.json."""
    import json

    from unicode_substrate.eval.report import RESULTS_JSON

    results = json.loads((Path(eval_dir) / RESULTS_JSON).read_text(encoding="utf-8"))["results"]
    out = {}
    for task, r in results.items():
        out[task] = {"n": r["n"], "chance": r.get("chance")}
        if "paper" in r:
            out[task]["paper"] = r["paper"]["score"]
        if "loglik" in r:
            out[task]["loglik"] = r["loglik"]["acc"]
            out[task]["loglik_norm"] = r["loglik"]["acc_norm"]
    return out


def _groups(records: list[dict]) -> dict[str | None, list[dict]]:
    out: dict[str | None, list[dict]] = {}
    for r in records:
        out.setdefault(r["group"], []).append(r)
    return out


def _group_result(group: str, by: dict, runs: int, task: str) -> dict:
    res: dict = {"chance": CHANCE.get(task)}
    if group in by.get("paper", {}):
        res["paper"] = paper.summarize(by["paper"][group], runs, percent=task != "translation")
        res["n"] = res["paper"]["n"]
    if group in by.get("loglik", {}):
        res["loglik"] = loglik.summarize(by["loglik"][group])
        res["n"] = res["loglik"]["n"]
    return res


def settings(tasks, protocols, data_dir, seed, limit, batch_size, device, sampling: paper.Sampling,
             fewshot: int = 0) -> dict:
    """Everything that decides the numbers, recorded beside them."""
    return {
        "tasks": list(tasks),
        "protocols": list(protocols),
        "data_dir": str(data_dir),
        "seed": seed,
        "limit": limit,
        "fewshot": fewshot,
        "fewshot_format": ("0: zero-shot, the papers' protocol; K > 0 (MMLU): the first K rows of the subject's dev "
                           "split, each as '{prompt} {answer letter}\\n\\n', before the item's prompt"),
        "batch_size": batch_size,
        "device": device,
        "item_selection": (f"items shuffled with random.Random('{{seed}}/{{task}}'); SQuAD: answerable items whose "
                           f"first answer has at most {SQUAD_MAX_ANSWER_CHARS} characters, first {SQUAD_ITEMS}; "
                           f"translation: first {TRANSLATION_PAIRS} pairs per direction; then at most `limit` per task "
                           "(per translation direction)"),
        "paper": {
            "runs": sampling.runs,
            "temperature": sampling.temperature,
            "top_k": sampling.top_k,
            "sampling_seed": "torch.Generator seeded per item with sha256('{seed}/{task}/{item id}'); "
                             "all runs of an item sampled in one batch",
            "new_tokens": {**CHOICE_TOKENS, "squad": f"min(answer characters, {MAX_GENERATED})",
                           "translation": f"min(reference characters, {MAX_GENERATED})"},
            "prompt_truncation": "prompt cut from the left to context - new tokens (never below one token)",
            "ci95": "1.96 * population sigma of per-run scores / sqrt(runs)",
        },
        "loglik": {
            "continuation": "' ' + choice text after the paper prompt, encoded separately",
            "acc_norm": "log-likelihood divided by UTF-8 bytes of the continuation",
            "ci95": "binomial over items, 1.96 * sqrt(p (1 - p) / n)",
        },
    }
