"""``evaluate``: read the benchmarks, open the model, run the protocols, write the eval directory."""

from __future__ import annotations

from pathlib import Path

from unicode_substrate.artifacts import check_output, sha256_file
from unicode_substrate.choices import EVAL_PROTOCOLS, EVAL_TEMPERATURE, EVAL_TOP_K
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval import loglik, paper, results_txt
from unicode_substrate.options import check_range, device_available, parse_named
from unicode_substrate.eval.loglik import settings as loglik_settings
from unicode_substrate.eval.report import write_eval_dir
from unicode_substrate.eval.tasks import (ALIASES, SQUAD_ITEMS, SQUAD_MAX_ANSWER_CHARS, TASKS, TRANSLATION_PAIRS, Item, Task,
                                          canonical, check_fewshot, check_split, load_task)


def open_model(run: str | Path | None = None, hf_model: str | Path | None = None, checkpoint=None, tokenizer=None,
               table=None, device: str = "cpu", bos: bool | None = None):
    """The evaluation model: a run of this toolkit or a Hugging Face directory (exactly one)."""
    if (run is None) == (hf_model is None):
        raise SubstrateError("evaluate either a training run or a Hugging Face model directory (exactly one)")
    device_available(device)
    if hf_model is not None:
        if checkpoint is not None or tokenizer is not None or table is not None:
            raise SubstrateError("a checkpoint, tokenizer or table belongs to a run, not to a Hugging Face model directory")
        from unicode_substrate.eval.hf import HFModel

        lm = HFModel(hf_model, device=device)
    else:
        from unicode_substrate.eval.models import RunModel

        lm = RunModel(run, checkpoint=checkpoint, tokenizer=tokenizer, table=table, device=device)
    lm.bos = bos
    return lm


def _protocols(protocol: str) -> list[str]:
    if protocol not in EVAL_PROTOCOLS:
        raise SubstrateError(f"unknown protocol {protocol!r}; choose one of {', '.join(EVAL_PROTOCOLS)}")
    return ["paper", "loglik"] if protocol == "both" else [protocol]


def benchmark_tasks(tasks, task_paths=None, task_files=()):
    """The tasks asked for: ``tasks`` as given, or, when neither tasks nor task files are, the tasks that
    ``task_paths`` (TASK=PATH) name; None when no benchmark is asked for."""
    if tasks or task_files:
        return tasks
    paths = task_paths if isinstance(task_paths, dict) else parse_task_paths(task_paths)
    return list(paths) or None


def resolve_tasks(tasks, task_files=()) -> list[Task]:
    """``tasks`` (names, aliases, or a comma-separated string) as Task records; the tasks of
    ``task_files`` (TOML) are known by their names too, and are all evaluated when ``tasks`` is empty."""
    from unicode_substrate.eval.tasks.taskfile import load_task_file

    user: dict[str, Task] = {}
    for f in task_files or ():
        t = load_task_file(f)
        if t.name in user:
            raise SubstrateError(f"two task files define the task {t.name!r}")
        user[t.name] = t
    names = [s.strip() for s in (tasks.split(",") if isinstance(tasks, str) else (tasks or ())) if s.strip()]
    if not names:
        if not user:
            raise SubstrateError(f"no task given; the tasks are {', '.join(TASKS)}")
        return list(user.values())
    out: dict[str, Task] = {}
    for n in names:
        t = user[n] if n in user else TASKS[canonical(n)]
        out.setdefault(t.name, t)
    return list(out.values())


def parse_task_paths(pairs) -> dict[str, Path]:
    """``["mmlu=DIR", ...]`` (or a dict) as task name -> path; aliases resolved, a task named twice is an error."""
    out: dict[str, Path] = {}
    for name, path in parse_named(pairs, "task path", param="task_path").items():
        key = canonical(name) if name in TASKS or name in ALIASES else name  # a task file's task by its name
        if key in out:
            raise SubstrateError(f"the task paths name {key} twice", param="task_path")
        out[key] = Path(path)
    return out


def evaluate(out: str | Path, tasks, data_dir: str | Path | None, run: str | Path | None = None,
             hf_model: str | Path | None = None, checkpoint=None, tokenizer=None, table=None,
             protocol: str = "both", runs: int = 10, limit: int | None = None, seed: int = 0,
             temperature: float = EVAL_TEMPERATURE, top_k: int | None = EVAL_TOP_K, batch_size: int = 16,
             device: str = "cpu",
             force: bool = False, progress: bool = False, lm=None, fewshot: int = 0, split: str | None = None,
             task_paths=None, task_files=(), bos: bool | None = None, loglik_choices: str = "text",
             extra: dict | None = None, inputs=(), label: str | None = None) -> Path:
    """Evaluate a run (or ``hf_model``, or an already open ``lm``) on ``tasks`` read from ``data_dir``
    (or ``task_paths``, task -> file or folder; ``task_files`` define more tasks); write results.json,
    samples.jsonl, results.md, results.png and results.txt to ``out``. ``split`` (validation or test)
    replaces each task's default split; ``fewshot`` K > 0 puts the first K dev rows of each MMLU subject
    before every prompt; ``bos`` forces a BOS on both protocols' prompts (True) or none (False);
    ``loglik_choices`` "letters" scores MMLU and CommonsenseQA by answer letter (see ``loglik``); ``extra`` adds top-level keys to results.json (``data_score``:
    eval/data_score.py); ``inputs`` names more paths it reads (never replaced); ``label`` names the model
    in results.txt and results-table (default: its run folder, see ``results_txt.model_name``). Returns ``out``."""
    out = Path(out)
    protocols = _protocols(protocol)
    if label is not None:
        results_txt.check_label(label)
    if loglik_choices not in loglik.CHOICE_STYLES:
        raise SubstrateError(f"unknown log-likelihood choice style {loglik_choices!r}; choose one of {', '.join(loglik.CHOICE_STYLES)}",
                              param="loglik_choices")
    for name, value in (("runs", runs), ("limit", limit), ("batch_size", batch_size), ("seed", seed),
                        ("temperature", temperature), ("top_k", top_k), ("fewshot", fewshot)):
        check_range(name, value)
    # Every benchmark file is read and checked before the model is loaded: bad input fails fast.
    paths = parse_task_paths(task_paths)
    given = [p for p in (data_dir, *paths.values(), *(task_files or ()), run, hf_model, checkpoint, tokenizer, table,
                         *inputs) if p is not None]
    check_output(out, force=force, kind="eval", inputs=given)  # the one refusal rule, before any file is read
    tasks = benchmark_tasks(tasks, paths, task_files)
    specs = resolve_tasks(tasks, task_files)
    inputs = [p for p in (data_dir, *paths.values(), *(task_files or ()), *(f for t in specs for f in t.listed_files),
                          run, hf_model, checkpoint, tokenizer, table, *inputs) if p is not None]
    if run is not None:
        from unicode_substrate.run import Run

        inputs += Run.load(run).reads()
    check_output(out, force=force, kind="eval", inputs=inputs)  # before any work: never replace an input
    loaded, files, splits = check_benchmarks(specs, data_dir, seed=seed, limit=limit, fewshot=fewshot, split=split,
                                             task_paths=paths)
    if lm is None:
        lm = open_model(run, hf_model, checkpoint, tokenizer, table, device, bos=bos)
    elif bos is not None:  # an open model (eval --data) takes the prompts' BOS choice too
        lm.bos = bos
    sampling = paper.Sampling(runs=runs, temperature=temperature, top_k=top_k, seed=seed)
    by_name = {t.name: t for t in specs}

    work = sum(len(items) * sum(p == "paper" or by_name[t].has_loglik for p in protocols if p in by_name[t].protocols)
               for t, items in loaded.items())
    from unicode_substrate.progress import Progress

    bar = Progress(work, "eval", enabled=progress, unit="item")  # a bar on a terminal, plain lines in a log
    samples: list[dict] = []
    results: dict[str, dict] = {}
    try:
        for t, items in loaded.items():
            task = by_name[t]
            res: dict = {"n": len(items), "split": splits[t], "chance": task.chance, "metric": _metrics(task, protocols),
                         "paper_name": task.paper_name or task.name}
            by: dict[str, dict[str, list[dict]]] = {}
            if "paper" in protocols and "paper" in task.protocols:
                bar.set_postfix(f"{t} paper")
                recs = []
                for it in items:
                    recs.append(paper.run_item(lm, it, sampling))
                    bar.update(1)
                by["paper"] = _groups(recs)
                res["paper"] = paper.summarize(recs, runs, percent=task.percent)
                samples += recs
            if "loglik" in protocols and task.has_loglik:
                bar.set_postfix(f"{t} loglik")
                recs = loglik.run_items(lm, items, batch_size=batch_size, progress=bar, choices=loglik_choices)
                by["loglik"] = _groups(recs)
                res["loglik"] = loglik.summarize(recs)
                samples += recs
            groups = sorted({g for recs in by.values() for g in recs if g is not None})
            if groups:
                res["groups"] = {g: _group_result(g, by, runs, task) for g in groups}
            results[t] = res
    finally:
        bar.close()

    model = dict(lm.description)
    model["paper_prompt_bos"] = {"asked": "tokenizer default" if lm.bos is None else bool(lm.bos),
                                 "starts_with_bos": lm.adds_bos()}
    record = {
        "kind": "eval",
        "schema_version": 1,
        "model": {**model, **_parameters(lm)},
        "settings": settings([t.name for t in specs], protocols, data_dir, seed, limit, batch_size, device, sampling,
                             fewshot, specs=specs, splits=splits, task_paths=paths, bos=lm.bos,
                             loglik_choices=loglik_choices),
        "benchmark_files_sha256": dict(sorted(files.items())),
        "results": results,
        **(extra or {}),
        **({"label": label} if label is not None else {}),
    }
    if task_files:
        record["task_files_sha256"] = {str(f): sha256_file(f) for f in task_files}
    return write_eval_dir(out, record, samples, force=force, inputs=inputs)


def _record_name(path: Path, data_dir: Path | None) -> str:
    if data_dir is not None:
        try:
            return path.resolve().relative_to(Path(data_dir).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def check_paths_evaluated(paths: dict, specs: list[Task]) -> None:
    """Refuse a task path for a task that is not evaluated: it would be silently ignored."""
    unused = sorted(set(paths) - {t.name for t in specs})
    if unused:
        raise SubstrateError(f"the task paths name {', '.join(unused)}, which {'is' if len(unused) == 1 else 'are'} not "
                             f"among the tasks evaluated ({', '.join(t.name for t in specs)})", param="task_path")


def check_benchmarks(tasks, data_dir, seed: int = 0, limit: int | None = None, fewshot: int = 0,
                     split: str | None = None, task_paths=None, task_files=()
                     ) -> tuple[dict[str, list[Item]], dict[str, str], dict[str, str]]:
    """The selected items of every task, the sha256 of every file read (by its path below
    ``data_dir``), and the split each task reads; bad input is a one-line error."""
    given = isinstance(tasks, (list, tuple)) and tasks and all(isinstance(t, Task) for t in tasks)
    specs = list(tasks) if given else resolve_tasks(tasks, task_files)
    paths = parse_task_paths(task_paths)
    check_paths_evaluated(paths, specs)
    for t in specs:
        check_fewshot(t, fewshot)
        check_split(t, split)
    for t in specs:
        if t.name not in paths and not t.listed_files and (data_dir is None or not Path(data_dir).is_dir()):
            raise SubstrateError(f"benchmark directory {data_dir} does not exist" if data_dir is not None else
                                 f"no benchmark directory, and no task path for {t.name}", param=("data_dir", "task_path"))
    extra = tuple(t for t in specs if TASKS.get(t.name) is not t)
    loaded: dict[str, list[Item]] = {}
    files: dict[str, str] = {}
    splits: dict[str, str] = {}
    for t in specs:
        splits[t.name] = check_split(t, split)
        loaded[t.name], used = load_task(t, data_dir, seed=seed, limit=limit, fewshot=fewshot, split=split,
                                         task_path=paths.get(t.name), extra=extra)
        files.update({_record_name(f, data_dir): sha256_file(f) for f in used})
    return loaded, files, splits


def list_files(tasks, data_dir, fewshot: int = 0, split: str | None = None, task_paths=None,
               task_files=()) -> list[str]:
    """Lines saying which files each task reads (and how many items they hold), without a model.
    With no ``tasks`` every built-in task is listed, one that cannot be read with its reason."""
    listing_all = not tasks and not task_files
    specs = list(TASKS.values()) if listing_all else resolve_tasks(tasks, task_files)
    paths = parse_task_paths(task_paths)
    check_paths_evaluated(paths, specs)
    lines = []
    for t in specs:
        try:
            loaded, files, splits = check_benchmarks([t], data_dir, fewshot=fewshot, split=split,
                                                     task_paths={k: v for k, v in paths.items() if k == t.name})
        except SubstrateError as e:
            if not listing_all:
                raise
            lines.append(f"{t.name}: not found ({e})")
            continue
        n = len(loaded[t.name])
        lines.append(f"{t.name} ({splits[t.name]} split, {n} {'item' if n == 1 else 'items'} evaluated):")
        lines += [f"  {f}" for f in files]
    return lines


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


def _group_result(group: str, by: dict, runs: int, task: Task) -> dict:
    res: dict = {"chance": task.chance}
    if group in by.get("paper", {}):
        res["paper"] = paper.summarize(by["paper"][group], runs, percent=task.percent)
        res["n"] = res["paper"]["n"]
    if group in by.get("loglik", {}):
        res["loglik"] = loglik.summarize(by["loglik"][group])
        res["n"] = res["loglik"]["n"]
    return res


def _metrics(task: Task, protocols: list[str]) -> dict:
    """protocol -> the metric it reports for ``task`` (only the protocols run, so none is misnamed)."""
    out = {"paper": task.metric} if "paper" in protocols and "paper" in task.protocols else {}
    if "loglik" in protocols and task.has_loglik:
        out["loglik"] = "acc, acc_norm, acc_bytes (lm-evaluation-harness)"
    return out


def _parameters(lm) -> dict:
    """{"parameters", "trainable_parameters"} of the model behind ``lm`` when it has one (results.txt
    names the total). The total counts the frozen table, as the author's files do; the model's own
    ``num_parameters`` is the one place that counts (a Hugging Face model's table is a parameter)."""
    model = getattr(lm, "model", None)
    if model is None or not hasattr(model, "parameters"):
        return {}
    total = int(model.num_parameters()) if hasattr(model, "num_parameters") else sum(p.numel() for p in model.parameters())
    if not hasattr(model, "frozen_parameters"):  # a Hugging Face model: what trained is not recorded
        return {"parameters": total}
    return {"parameters": total, "trainable_parameters": total - int(model.frozen_parameters())}


def settings(tasks, protocols, data_dir, seed, limit, batch_size, device, sampling: paper.Sampling,
             fewshot: int = 0, specs=(), splits=None, task_paths=None, bos: bool | None = None,
             loglik_choices: str = "text") -> dict:
    """Everything that decides the numbers, recorded beside them."""
    specs = list(specs) or [TASKS[t] for t in tasks if t in TASKS]
    return {
        "tasks": list(tasks),
        "protocols": list(protocols),
        "data_dir": None if data_dir is None else str(data_dir),
        "splits": dict(splits or {}),
        "task_paths": {k: str(v) for k, v in (task_paths or {}).items()},
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
            "sampling_settings": "our choice: the papers and the author's script do not state them",
            "sampling_seed": "torch.Generator seeded per item with sha256('{seed}/{task}/{item id}'); "
                             "all runs of an item sampled in one batch",
            "new_tokens": {t.name: t.tokens_text for t in specs},
            "bos": "tokenizer default (as tokenizer.encode in the author's script)" if bos is None else bool(bos),
            "prompt_truncation": "prompt cut from the left to context - new tokens (never below one token)",
            "ci95": "1.96 * population sigma of per-run scores / sqrt(runs)",
        },
        "loglik": loglik_settings(loglik_choices, bos),
    }
