"""``substrate study FILE.toml``: a whole study from one file, resumable.

A study file names its inputs (a tokenizer, tables and data, each an existing ``path`` or options
to ``build`` it), the runs (``kind = "compare"``: variants; ``kind = "grow"``: a growth schedule
against its monolithic control), the seeds, the training options and the evaluation. One file
holds every scale: the top level is shared, and ``[scales.NAME]`` holds what a scale changes,
merged over it (tables merge key by key, everything else is replaced). ``--scale`` picks one
(default ``cpu``). ``kind = "fuse"`` (experiments/fuse_study.py) trains two experts on two data sets
``[data.a]`` and ``[data.b]``, fuses them by the mean of their logits and by an adapter tuned on
``[data.tune]``, and scores every model on both validation splits.

The study folder holds ``study.json`` (the resolved study: what the folder is), ``inputs/``
(what was built), ``compare/`` or ``grow/`` (the runs and their report), ``results.md`` (metrics
x variants with 95 % intervals and the chance level) and ``results.png``. Run again, it keeps
whatever finished (inputs built with the same options, runs whose identity and configuration match
and whose checkpoints and summaries verify: ``Run.unfinished``) and makes the rest again; a folder
made from another study, or another scale, is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from unicode_substrate.artifacts import (PACKAGE, artifact_kind, atomic_write_bytes, canonical_json, check_not_input,
                                         check_resumable, manifest_sha256, output_lock, read_json_object, read_manifest,
                                         sha256_file)
from unicode_substrate.errors import SubstrateError
from unicode_substrate.choices import (EVAL_PROTOCOLS, LAYOUT_NAMES, ON_COLLISION, PCA_SOLVERS, RENDER_PRESETS, SURFACES,
                                       TABLE_METHODS)
from unicode_substrate.options import RANGES, Range
from unicode_substrate.schema import Spec, check_keys, check_name, check_table
from unicode_substrate.train.config import load_config, read_toml

TOKENIZER_KIND = "tokenizer"  # the kind a tokenizer folder's manifest.json names
STUDY_FILE = "study.json"
STUDY_SCHEMA, STUDY_KIND = 1, "study"  # the record that names the folder a study of this toolkit
RESULTS_MD = "results.md"
RESULTS_PNG = "results.png"
KINDS = ("compare", "grow", "fuse")
TOP_KEYS = {"kind", "description", "seeds", "tokenizer", "tables", "data", "train", "variants", "grow", "fuse", "eval",
            "scales", "semantics"}
TOP_VALUES = {"description": Spec("str"), "seeds": Spec("any"), "variants": Spec("list")}
INPUT_KEYS = {"path": Spec("str"), "build": Spec("table")}
VARIANT_KEYS = {"name": Spec("name"), "preset": Spec("str"), "table": Spec("name", optional=True), "model": Spec("table")}
GROW_KEYS = {"stages", "steps_per_stage", "trainable", "init", "lora", "lora_blocks", "merge", "table"}  # values: grow.parse_grow_config
EVAL_KEYS = {"tasks": Spec("any"), "data_dir": Spec("str"), "protocol": Spec("str", choices=EVAL_PROTOCOLS),
             "runs": Spec("int", RANGES["runs"]), "limit": Spec("int", RANGES["limit"])}
TOKENIZER_BUILD = {"layout": Spec("str", choices=LAYOUT_NAMES), "ngrams": Spec("str"), "intersection": Spec("str"),
                   "top_cnt": Spec("int", RANGES["top_cnt"]), "from_tokenizer": Spec("str")}
TABLE_BUILD = {"method": Spec("str", choices=TABLE_METHODS), "dim": Spec("int", RANGES["dim"]),
               "seed": Spec("int", RANGES["seed"]), "preset": Spec("str", choices=RENDER_PRESETS),
               "on_collision": Spec("str", choices=ON_COLLISION), "surface": Spec("str", choices=SURFACES),
               "pca_solver": Spec("str", choices=PCA_SOLVERS), "threshold": Spec("float", RANGES["threshold"])}
DATA_BUILD = {"corpus": Spec("str"), "lang": Spec("str"), "val_every": Spec("int", RANGES["val_every"]),
              "recipe": Spec("str"), "demo_qa": Spec("float", Range(False, 0.0, 1.0, low_open=True)),
              "tokens": Spec("int", Range(True, 0))}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _input(spec: Any, where: str, build_keys: set) -> dict:
    check_table(spec, INPUT_KEYS, where)
    if ("path" in spec) == ("build" in spec):
        raise SubstrateError(f"{where} needs exactly one of path (an existing folder) or build (options to make it)")
    if "build" in spec:
        check_table(spec["build"], build_keys, f"{where}.build")
    return spec


def load_study(path: str | Path, scale: str = "cpu") -> dict:
    """The study of ``path`` at ``scale``, checked: unknown keys, missing parts and bad values are one line."""
    values = read_toml(path)
    where = str(path)
    check_keys(values, TOP_KEYS, where)
    scales = values.pop("scales", {})
    check_keys(scales, set(scales) if isinstance(scales, dict) else set(), f"{where}: scales")
    if scale not in scales:
        raise SubstrateError(f"{where} has no scale {scale!r} (it has: {', '.join(scales) or 'none'})", param="scale")
    over = scales[scale]
    check_keys(over, TOP_KEYS - {"scales", "kind"}, f"{where}: scales.{scale}")
    study = _merge(values, over)
    for key, spec in TOP_VALUES.items():
        if key in study:
            spec.check(key, study[key], f"{where}:")
    kind = study.get("kind")
    if kind not in KINDS:
        raise SubstrateError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    from unicode_substrate.experiments.compare import parse_seeds

    study["seeds"] = parse_seeds(study.get("seeds", [1]))
    _input(study.get("tokenizer", {}), f"{where}: tokenizer", TOKENIZER_BUILD)
    for name, spec in _data_specs(study, where).items():
        _input(spec, f"{where}: data{'.' + name if name else ''}", DATA_BUILD)
        _check_data_build(spec.get("build"), f"{where}: data{'.' + name if name else ''}.build")
    tables = study.get("tables", {})
    check_keys(tables, set(tables) if isinstance(tables, dict) else set(), f"{where}: tables")
    for name, spec in tables.items():
        check_name(name, f"{where}: table name")  # it names the table's folder under inputs/tables/
        _input(spec, f"{where}: tables.{name}", TABLE_BUILD)
    train = study.get("train", {})
    check_keys(train, set(train) if isinstance(train, dict) else set(), f"{where}: train")
    if kind == "fuse":
        from unicode_substrate.experiments.fuse_study import FUSE_KEYS, check_fuse_study

        if "fuse" not in study:
            raise SubstrateError(f"{where}: a fuse study needs a [fuse] table (preset, table, tune)")
        check_keys(study["fuse"], FUSE_KEYS, f"{where}: fuse")
        check_fuse_study(study, where, tables)
    elif kind == "compare":
        variants = study.get("variants")
        if not isinstance(variants, list) or len(variants) < 2:
            raise SubstrateError(f"{where}: a compare study needs two or more [[variants]]")
        for k, v in enumerate(variants):
            check_table(v, VARIANT_KEYS, f"{where}: variants[{k}]")
            if "name" not in v or "preset" not in v:
                raise SubstrateError(f"{where}: variants[{k}] needs name and preset")
            if v.get("table") is not None and v["table"] not in tables:
                raise SubstrateError(f"{where}: variant {v['name']} names table {v['table']!r}, which [tables] does not define")
        for key, other in (("grow", "grow"), ("fuse", "fuse")):
            if key in study:
                raise SubstrateError(f"{where}: [{key}] belongs to kind = \"{other}\"")
    else:
        check_keys(study.get("grow"), GROW_KEYS, f"{where}: grow")
        t = study["grow"].get("table")
        if t is not None and t not in tables:
            raise SubstrateError(f"{where}: grow names table {t!r}, which [tables] does not define")
        if "variants" in study:
            raise SubstrateError(f"{where}: [[variants]] belong to kind = \"compare\"")
        if "fuse" in study:
            raise SubstrateError(f"{where}: [fuse] belongs to kind = \"fuse\"")
    if "eval" in study:
        check_table(study["eval"], EVAL_KEYS, f"{where}: eval")
        if "tasks" not in study["eval"] or "data_dir" not in study["eval"]:
            raise SubstrateError(f"{where}: eval needs tasks and data_dir")
        if kind == "grow":
            raise SubstrateError(f"{where}: eval goes with compare studies (evaluate a growth's final run with substrate eval)")
    if "semantics" in study:  # where word groups separate, level by level (experiments/semantics.py)
        from unicode_substrate.experiments.semantics import check_study_semantics

        check_study_semantics(study["semantics"], f"{where}: semantics", kind)
    study["scale"] = scale
    return study


def _data_specs(study: dict, where: str) -> dict[str, dict]:
    """The data inputs by name: ``{"": [data]}`` for compare and grow, ``a``, ``b`` and ``tune`` for fuse."""
    data = study.get("data", {})
    if study.get("kind") != "fuse":
        return {"": data}
    from unicode_substrate.experiments.fuse_study import DATA_NAMES

    check_keys(data, set(DATA_NAMES), f"{where}: data")
    missing = [n for n in DATA_NAMES if n not in data]
    if missing:
        raise SubstrateError(f"{where}: a fuse study needs [data.a], [data.b] (the experts' corpora) and [data.tune] "
                             f"(the adapter's); missing: {', '.join('data.' + n for n in missing)}")
    return {n: data[n] for n in DATA_NAMES}


def _check_data_build(build: dict | None, where: str) -> None:
    """``demo_qa = SHARE``: the built-in corpus with ``substrate demo-qa``'s items at that share of the tokens."""
    if not build or ("demo_qa" not in build and "tokens" not in build):
        return  # the values' types and ranges: DATA_BUILD
    if "demo_qa" not in build:
        raise SubstrateError(f"{where}: tokens goes with demo_qa")
    clash = sorted({"corpus", "recipe"} & set(build))
    if clash:
        raise SubstrateError(f"{where}: demo_qa makes its own recipe; it cannot go with {', '.join(clash)}")


def _demo_qa_recipe(root: Path, out: Path, build: dict) -> Path:
    """The recipe of a ``demo_qa`` data build, written beside ``out``; the demo-qa files built once in ``root``."""
    from unicode_substrate.data.demo_qa import make_demo_qa

    qa = root / "demo-qa"
    if not (qa / "manifest.json").is_file():
        make_demo_qa(qa, force=True)
    share = float(build["demo_qa"])
    text = [f"seed = 0\nval_every = {int(build.get('val_every', 50))}\ntokens = {int(build.get('tokens', 0))}\n"]
    if share < 1:
        text.append(f'\n[[source]]\nname = "stdlib-docs"\nbuiltin = true\nlang = "en"\nshare = {1 - share!r}\n')
    for name, file, fmt in (("demo-squad", "train-v2.0.json", "squad"), ("demo-boolq", "train.jsonl", "boolq")):
        text.append(f'\n[[source]]\nname = "{name}"\npath = "demo-qa/{file}"\nformat = "{fmt}"\nshare = {share / 2!r}\n')
    recipe = root / f"{out.name}.recipe.toml"
    atomic_write_bytes(recipe, "".join(text).encode("utf-8"))
    return recipe


def _train_config(study: dict, where: str):
    try:
        return load_config(None, **study.get("train", {}))
    except TypeError as e:
        raise SubstrateError(f"{where}: train: {e}") from None


BUILD_RECORD = ".build.json"  # beside each built input: the options (and tokenizer) it was built from


def _built(out: Path, spec: dict, what: str, build, progress: bool, tokenizer: Path | None = None) -> Path:
    """An input: its ``path``, or the folder ``out`` built from ``build`` options.

    A folder already built is kept only when its recorded build options (and the manifest hash of
    the tokenizer it was made with, and a recipe file's hash) equal this study's; else it is built again.
    """
    if "path" in spec:
        p = Path(spec["path"])
        if not p.is_dir():
            raise SubstrateError(f"{what} path {p} is not a directory")
        return p
    recipe = spec["build"].get("recipe")
    options = canonical_json({"build": spec["build"],
                              "tokenizer_manifest_sha256": manifest_sha256(tokenizer) if tokenizer and (tokenizer / "manifest.json").is_file() else None,
                              "recipe_sha256": sha256_file(Path(recipe)) if recipe and Path(recipe).is_file() else None})
    record = out.parent / (out.name + BUILD_RECORD)
    if (out / "manifest.json").is_file() and record.is_file() and record.read_bytes() == options:
        return out
    if progress:
        print(f"study: building {what} in {out}", file=sys.stderr, flush=True)
    build(out, spec["build"])
    atomic_write_bytes(record, options)
    return out


def _inputs(study: dict, out: Path, progress: bool) -> tuple[Path, dict[str, Path], Path | dict[str, Path]]:
    from unicode_substrate.render import render_table
    from unicode_substrate.tokenizer import build_tokenizer
    from unicode_substrate.data.prepare import prepare

    root = out / "inputs"
    tok = _built(root / "tokenizer", study.get("tokenizer", {}), "tokenizer",
                 lambda o, b: build_tokenizer(o, force=True, **b), progress)
    tables = {name: _built(root / "tables" / name, spec, f"table {name}",
                           lambda o, b: render_table(tok, o, force=True, progress=progress, **b), progress, tok)
              for name, spec in study.get("tables", {}).items()}
    def make_data(o, b):
        if "demo_qa" in b:
            from unicode_substrate.data.recipe_prepare import prepare_recipe

            prepare_recipe(_demo_qa_recipe(root, o, b), tok, o, force=True, progress=progress)
        elif "recipe" in b:
            from unicode_substrate.data.recipe_prepare import prepare_recipe

            prepare_recipe(b["recipe"], tok, o, force=True, progress=progress)
        else:
            prepare(o, tok, force=True, progress=progress, **b)

    specs = _data_specs(study, "study")
    if list(specs) == [""]:
        data = _built(root / "data", specs[""], "data", make_data, progress, tok)
        _check_made_with(tok, [data])
        return tok, tables, data
    data = {n: _built(root / f"data-{n}", s, f"data {n}", make_data, progress, tok) for n, s in specs.items()}
    _check_made_with(tok, list(data.values()))
    return tok, tables, data


def _check_tokenizer(study: dict, where: str) -> None:
    """A tokenizer given by ``path`` must be a tokenizer folder of this toolkit (checked before any work)."""
    path = study.get("tokenizer", {}).get("path")
    if path is None:
        return
    try:
        kind = read_manifest(path).get("kind")
    except SubstrateError:
        kind = None
    if kind != TOKENIZER_KIND:
        raise SubstrateError(f"{where}: tokenizer path {path} is not a tokenizer folder (no tokenizer manifest.json)")


def _check_made_with(tok: Path, data: list[Path]) -> None:
    """The study's data must have been made with the study's tokenizer (manifest hashes), before any training."""
    from unicode_substrate.tokens import TokenData

    sha = manifest_sha256(tok)
    for d in data:
        if TokenData.load(d).tokenizer_sha256 != sha:
            raise SubstrateError(f"data {d} was made with another tokenizer than {tok} (manifest hashes differ); "
                                 "nothing was trained")


def _identity(study: dict) -> dict:
    return {k: v for k, v in study.items() if k != "description"}


def _given(study: dict) -> list[Path]:
    """The paths a study reads: inputs given by ``path``, a data recipe, the benchmark folder."""
    data = list(_data_specs(study, "study").values())
    specs = [study.get("tokenizer", {}), *data, *study.get("tables", {}).values()]
    given = [Path(s["path"]) for s in specs if "path" in s]
    recipes = [d.get("build", {}).get("recipe") for d in data]
    data_dir = (study.get("eval") or {}).get("data_dir")
    return given + [Path(p) for p in (*recipes, data_dir) if p]


def check_study(study: dict, cfg, where: str) -> None:
    """Every value training would refuse, checked before anything is built: each variant's preset and
    model fields, the growth schedule, the fusion's experts and tuning, the data recipes."""
    from unicode_substrate.experiments.compare import Variant

    if study["kind"] == "compare":
        for v in study["variants"]:
            try:
                Variant(v["name"], v["preset"], None, v.get("model")).config(cfg)
            except SubstrateError as e:
                raise SubstrateError(f"{where}: variant {v['name']}: {e}") from None
    elif study["kind"] == "grow":
        from unicode_substrate.experiments.grow import parse_grow_config

        parse_grow_config({**study.get("train", {}), **{k: v for k, v in study["grow"].items() if k != "table"}},
                          f"{where}: grow")
    else:
        fuse = study["fuse"]
        try:
            Variant("expert", fuse["preset"], None, fuse.get("model")).config(cfg).replace(**fuse["tune"])
        except SubstrateError as e:
            raise SubstrateError(f"{where}: fuse: {e}") from None
    for name, spec in _data_specs(study, where).items():
        recipe = (spec.get("build") or {}).get("recipe")
        if recipe is not None:
            from unicode_substrate.data.recipe import load_recipe

            load_recipe(recipe)


def run_study(path: str | Path, out: str | Path, scale: str = "cpu", force: bool = False, progress: bool = True) -> Path:
    """Run (or continue) the study of ``path`` at ``scale`` in ``out``; returns ``out/results.md``."""
    out = Path(out)
    study = load_study(path, scale)
    cfg = _train_config(study, str(path))
    check_study(study, cfg, str(path))  # every value, before any work
    _check_tokenizer(study, str(path))
    check_not_input(out, [Path(path), *_given(study)])  # even with force
    with output_lock(out, whole_job=True):  # one writer of a study for its whole length
        return _run_study(path, out, study, cfg, force, progress)


def _run_study(path, out: Path, study: dict, cfg, force: bool, progress: bool) -> Path:
    record_file = out / STUDY_FILE
    # A study continues by itself when run again (so never "resume"); inputs/ alone was placed there to be used.
    check_resumable(out, STUDY_KIND, "study", force=True, resume=False,
                    ours=lambda o: artifact_kind(o) == STUDY_KIND or all(p.name == "inputs" for p in o.iterdir()))
    if artifact_kind(out) == STUDY_KIND:
        old = read_json_object(record_file, "study record")
        if old.get("study") != _identity(study) and not force:
            raise SubstrateError(f"{out} holds another study (or another scale); force runs this one over it", param="force")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write_bytes(record_file, canonical_json({"schema": STUDY_SCHEMA, "kind": STUDY_KIND, "package": PACKAGE,
                                                      "study": _identity(study), "file": Path(path).name}))
    except BaseException:
        if made:  # nothing of ours was written: leave no empty folder that looks like a started study
            out.rmdir()
        raise
    tok, tables, data = _inputs(study, out, progress)
    order = None
    if study["kind"] == "fuse":
        from unicode_substrate.experiments.fuse_study import run_fuse

        summary, diffs, order = run_fuse(study, cfg, data, tables, out / "fuse", force, progress)
        chance = {}
    elif study["kind"] == "compare":
        from unicode_substrate.experiments.compare import Variant, compare

        variants = [Variant(v["name"], v["preset"], tables[v["table"]] if v.get("table") else None, v.get("model"))
                    for v in study["variants"]]
        ev = study.get("eval") or {}
        compare(variants, data, out / "compare", cfg, force=force, progress=progress, seeds=study["seeds"], resume=not force,
                eval_tasks=ev.get("tasks"), eval_data_dir=ev.get("data_dir"),
                eval_options={k: ev[k] for k in ("protocol", "runs", "limit") if k in ev} | {"seed": study["seeds"][0]})
        from unicode_substrate.experiments.report import read_statistics

        (summary, diffs), chance = read_statistics(out / "compare"), _chance(ev.get("tasks"))
    else:
        from unicode_substrate.experiments.grow import grow, parse_grow_config, statistics

        g = dict(study["grow"])
        table = tables[g.pop("table")] if g.get("table") else None
        gcfg = parse_grow_config({**study.get("train", {}), **g}, f"{path}: grow")
        sub = out / "grow"
        grow(gcfg, data, sub, table=table, resume=not force and sub.exists() and any(sub.iterdir()), force=force, progress=progress,
             seeds=study["seeds"] if len(study["seeds"]) > 1 else None)
        (summary, diffs), chance = statistics(sub), {}
    if study.get("semantics") is not None:
        from unicode_substrate.experiments.semantics import study_semantics

        study_semantics(study["semantics"], out / study["kind"], out / "semantics", progress)
    return write_results(out, study, summary, diffs, chance, order)


def _chance(tasks) -> dict:
    from unicode_substrate.eval.report import CHANCE

    tasks = tasks.split(",") if isinstance(tasks, str) else list(tasks or [])
    return {t: CHANCE[t] for t in tasks if t in CHANCE}


def write_results(out: Path, study: dict, summary: dict, diffs: list[dict], chance: dict, order: list[str] | None = None) -> Path:
    """``results.md`` (metrics x variants, mean ± 95 % interval, chance) and ``results.png``."""
    from unicode_substrate.experiments.report import _iv, difference_lines

    order = order or [v["name"] for v in study.get("variants", [])] or ["grown", "monolithic"]
    names = [n for n in order if n in summary] + [n for n in summary if n not in order]
    metrics = sorted(dict.fromkeys(m for n in names for m in summary[n]), key=lambda m: (not m.startswith("val "), m != "val bits/byte", m))
    n = len(study["seeds"])
    sub = study["kind"]
    lines = [f"# Study results ({study['scale']} scale)", "",
             *([study["description"], ""] if study.get("description") else []),
             f"Seeds {', '.join(map(str, study['seeds']))}; every cell the mean"
             + (f" ± the half-width of its 95 % t-interval over {n} seeds" if n > 1 else " (one seed: no interval)")
             + f". Runs and their report in [`{sub}/`]({sub}/report.md).", "",
             "| metric | " + " | ".join(names) + " | chance |", "|---|" + "---:|" * (len(names) + 1)]
    for m in metrics:
        fmt = ".4f" if m.startswith("val ") else ".2f"
        task = m.split(" ")[0]
        cells = " | ".join(_iv(summary[name].get(m), fmt) for name in names)
        lines.append(f"| {m} | {cells} | {f'{chance[task]:g}' if task in chance else '–'} |")
    lines += ["", "Chance is the score of guessing uniformly (multiple-choice tasks); validation figures have none.", ""]
    if diffs:
        lines += difference_lines(diffs, n)
    lines += [f"![results]({RESULTS_PNG})", ""]
    _plot_results(out / RESULTS_PNG, {n: summary[n] for n in names}, metrics)
    atomic_write_bytes(out / RESULTS_MD, "\n".join(lines).encode("utf-8"))
    atomic_write_bytes(out / "results.json", canonical_json({"scale": study["scale"], "seeds": study["seeds"],
                                                             "summary": summary, "differences": diffs, "chance": chance}))
    return out / RESULTS_MD


def _plot_results(path: Path, summary: dict, metrics: list[str]) -> None:
    """One panel per metric: each variant's mean with its 95 % interval as an error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unicode_substrate.experiments.report import save_png

    names = list(summary)
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(4.5, 0.9 * len(names) + 2) * len(metrics), 4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, m in zip(axes[0], metrics):
        cells = [summary[n].get(m) for n in names]
        xs = [i for i, c in enumerate(cells) if c]
        means = [cells[i]["mean"] for i in xs]
        errs = [cells[i]["half_width"] or 0 for i in xs]
        ax.errorbar(xs, means, yerr=errs, fmt="none", ecolor="black", capsize=4, lw=1)
        for i, y in zip(xs, means):
            ax.plot([i], [y], "o", color=colors[i % len(colors)], ms=8, mec="black")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        interval = any(cells[i]["half_width"] is not None for i in xs)  # one seed has none to draw
        what = "bar: 95 % interval over seeds" if interval else "one seed: no interval"
        ax.set(xlabel="variant", ylabel=m, title=f"{m} ({what})")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save_png(fig, path)

