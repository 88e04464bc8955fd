"""``substrate semantics``: where meaning lives, level by level, in one model or many.

A model is a run, a Hugging Face model directory, or a bare table (level 0 only). A folder of
runs stands for all of them: every stage of a growth (and its monolithic control), every
variant of a comparison, a study's comparison or growth. Where a variant was trained with
several seeds, its curve is the mean over seeds with the 95 % t-interval of ``experiments.stats``.
The measures and their chance levels are ``semantics.measures``; the representations
``semantics.represent``.

The output folder holds ``report.md``, ``levels.csv`` (one row per model, seed, language, level
and measure), ``separability.png``, ``tsne/<model>-L<level>.png`` and ``semantics.json`` (the
record: inputs, words left out, every figure), with a manifest of kind ``semantics``.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from unicode_substrate.artifacts import (PACKAGE, artifact_kind, atomic_output_dir, atomic_write_bytes, canonical_json,
                                         check_output, read_json_object, write_manifest)
from unicode_substrate.errors import SubstrateError
from unicode_substrate.schema import check_keys
from unicode_substrate.semantics.measures import MEASURES, NEIGHBOURS, PERMUTATIONS, TITLES

SEMANTICS_KIND, SEMANTICS_SCHEMA = "semantics", 1
REPORT_MD, LEVELS_CSV, SEPARABILITY_PNG, RECORD_JSON, TSNE_DIR = (
    "report.md", "levels.csv", "separability.png", "semantics.json", "tsne")
ALPHA = 0.05
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Member:
    """One model to measure: its curve's name, the seed it was trained with (None: no seeds), how to load it."""

    model: str
    seed: int | None
    kind: str  # "run", "hf" or "table"
    path: Path


def parse_named(spec: str, what: str) -> tuple[str | None, Path]:
    """``NAME=PATH`` or a bare ``PATH`` (named after itself)."""
    name, sep, rest = spec.partition("=")
    if sep and _NAME.fullmatch(name) and rest:
        return name, Path(rest)
    if sep and not rest:
        raise SubstrateError(f"{what} {spec!r} names no path (NAME=PATH)")
    return None, Path(spec)


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SubstrateError(f"model name {name!r} may hold only letters, digits, '.', '-' and '_' (and starts with one "
                             "of the first two)")
    return name


def _join(prefix: str | None, name: str) -> str:
    return name if prefix is None else f"{prefix}-{name}"


def run_members(name: str | None, path: Path) -> list[Member]:
    """The runs of ``path``: a run, a growth (its stages and control, over seeds too), a comparison or a study."""
    from unicode_substrate.experiments.compare import run_dir
    from unicode_substrate.experiments.grow import FINAL_DIR, GROW_FILE, MONOLITHIC_DIR
    from unicode_substrate.experiments.report import COMPARE_JSON

    if not path.is_dir():
        raise SubstrateError(f"{path} is not a directory (a run, a growth, a comparison or a study)", param="runs")
    kind = artifact_kind(path)
    if kind == "run":
        return [Member(_check_name(name or path.name), None, "run", path)]
    if kind == "study":
        for sub in ("compare", "grow"):
            if (path / sub).is_dir():
                return run_members(name, path / sub)
        raise SubstrateError(f"study {path} holds no comparison or growth yet (or is a fusion study): nothing to measure",
                             param="runs")
    if (path / COMPARE_JSON).is_file():
        record = read_json_object(path / COMPARE_JSON, "comparison record")
        seeds = record.get("seeds") or [None]
        many = len(seeds) > 1
        return [Member(_check_name(_join(name, v["variant"])), v.get("seed") if many else None, "run",
                       run_dir(path, v["variant"], v.get("seed"), seeds))
                for v in record.get("variants", [])]
    growths = ({None: path} if (path / GROW_FILE).is_file() else
               {int(p.name[5:]): p for p in sorted(path.glob("seed-*")) if (p / GROW_FILE).is_file() and p.name[5:].isdigit()})
    if growths:
        out = []
        for seed, g in growths.items():
            record = read_json_object(g / GROW_FILE, "growth record")
            for s in record.get("stages", []):
                out.append(Member(_check_name(_join(name, f"stage-{s['stage']}")), seed, "run", g / s["run"]))
            if record.get("monolithic"):
                out.append(Member(_check_name(_join(name, MONOLITHIC_DIR)), seed, "run", g / record["monolithic"]["run"]))
        if not out:
            raise SubstrateError(f"growth {path} has no finished stage yet (nor {FINAL_DIR}/)", param="runs")
        return out
    raise SubstrateError(f"{path} is neither a run nor a growth, comparison or study folder", param="runs")


def members(runs=(), hf_models=(), tables=()) -> list[Member]:
    """Every model to measure, from ``NAME=PATH`` (or ``PATH``) strings or (name, path) pairs; names must differ."""
    def pairs(items, what):
        return [parse_named(i, what) if isinstance(i, str) else (i[0], Path(i[1])) for i in items]

    out = [m for name, path in pairs(runs, "run") for m in run_members(name, path)]
    for name, path in pairs(hf_models, "hf-model"):
        out.append(Member(_check_name(name or path.name), None, "hf", path))
    for name, path in pairs(tables, "table"):
        out.append(Member(_check_name(name or path.name), None, "table", path))
    if not out:
        raise SubstrateError("nothing to measure: give a run, a Hugging Face model or a table", param="runs")
    seen: dict[tuple, Path] = {}
    for m in out:
        if (m.model, m.seed) in seen:
            raise SubstrateError(f"two models are named {m.model!r} ({seen[(m.model, m.seed)]} and {m.path}); "
                                 "name them with NAME=PATH")
        seen[(m.model, m.seed)] = m.path
    return out


def _source(m: Member, tokenizer, device: str):
    from unicode_substrate.semantics import represent as rep

    if m.kind == "run":
        return rep.run_source(m.path, device)
    if m.kind == "hf":
        return rep.hf_source(m.path, device)
    return rep.table_source(m.path, tokenizer)


def _inputs(ms: list[Member], tokenizer, groups) -> list[Path]:
    from unicode_substrate.run import Run

    paths = [m.path for m in ms] + [Path(p) for p in (tokenizer, groups) if p is not None]
    for m in ms:
        if m.kind == "run":
            run = Run.load(m.path)
            if not run.checkpoints():  # found now, not after the other models were measured
                raise SubstrateError(f"run {m.path} has no checkpoint to measure (still training, or killed before its first)")
            paths += run.reads()
    return paths


def _tsne_levels(spec, n_levels: int) -> list[int]:
    if spec == "all":
        return list(range(n_levels))
    if spec is None:
        return sorted({0, n_levels // 2, n_levels - 1})
    return sorted({int(x) for x in spec if 0 <= int(x) < n_levels})


def semantics(out: str | Path, runs=(), hf_models=(), tables=(), tokenizer: str | Path | None = None,
              groups: str | Path | None = None, langs: list[str] | None = None, templates: list[str] | None = None,
              permutations: int = PERMUTATIONS, neighbours: int = NEIGHBOURS, seed: int = 0,
              tsne_levels: str | list[int] | None = None, device: str = "cpu", force: bool = False,
              progress: bool = True) -> Path:
    """Measure how well word groups separate at every level of every model; write the folder ``out``.

    ``runs`` are runs or folders of runs, ``hf_models`` Hugging Face directories, ``tables`` tables
    of ``tokenizer`` (level 0 only); each a ``NAME=PATH`` string, a bare path or a (name, path)
    pair. ``tsne_levels``: None for the first, middle and last level, ``"all"``, or a list.
    Returns ``out/report.md``."""
    from unicode_substrate.options import check_device, check_range
    from unicode_substrate.semantics.groups import load_groups

    out = Path(out)
    check_range("permutations", permutations)
    check_range("neighbours", neighbours)
    check_range("seed", seed)
    check_device(device)
    word_groups = load_groups(groups, langs, templates)
    ms = members(runs, hf_models, tables)
    if any(m.kind == "table" for m in ms) and tokenizer is None:
        raise SubstrateError("a bare table needs the tokenizer it was made for", param="tokenizer")
    if tokenizer is not None and not any(m.kind == "table" for m in ms):  # never a run's tokenizer swapped for another
        raise SubstrateError("a tokenizer goes with a bare table; a run or a Hugging Face model brings its own",
                             param="tokenizer")
    inputs = _inputs(ms, tokenizer, groups)
    check_output(out, force=force, kind=SEMANTICS_KIND, inputs=inputs)  # before any model is loaded
    tables_read = {m: _source(m, tokenizer, device) for m in ms if m.kind == "table"}  # cheap: a bad table fails here
    if device != "cpu":
        from unicode_substrate.options import device_available

        device_available(device)
    results, pictures = _measure(ms, word_groups, tokenizer, permutations, neighbours, seed, tsne_levels, device, progress,
                                 tables_read)
    params = {"permutations": permutations, "neighbours": neighbours, "seed": seed,
              "groups": str(groups) if groups else "built-in", "templates": {g.lang: list(g.templates) for g in word_groups}}
    with atomic_output_dir(out, force=force, kind=SEMANTICS_KIND, inputs=inputs) as tmp:
        _write(tmp, results, pictures, params, seed)
        write_manifest(tmp, SEMANTICS_KIND, SEMANTICS_SCHEMA)
    return out / REPORT_MD


def _measure(ms, word_groups, tokenizer, permutations, neighbours, seed, tsne_levels, device, progress, loaded):
    """Per member and language: the kept words, the words left out, every level's measures; the t-SNE inputs."""
    from unicode_substrate.semantics.measures import measure_level, relabellings
    from unicode_substrate.semantics.represent import represent

    results, pictures, pictured = [], [], set()
    for j, m in enumerate(ms, 1):
        if progress:
            print(f"semantics: {m.model}{f' seed {m.seed}' if m.seed is not None else ''} ({j}/{len(ms)})",
                  file=sys.stderr, flush=True)
        source = loaded.get(m) or _source(m, tokenizer, device)
        for g in word_groups:
            reps = represent(source, g)
            entry = {"model": m.model, "seed": m.seed, "kind": m.kind, "path": str(m.path), "lang": g.lang,
                     "source": source.description, "words": list(reps.groups.words), "labels": list(reps.groups.labels),
                     "dropped": list(reps.dropped), "groups_left_out": list(reps.small), "of": len(g.words), "levels": []}
            results.append(entry)
            if len(reps.groups.groups) < 2:
                entry["skipped"] = "fewer than two groups of two known words"
                continue
            null = relabellings(len(reps.groups.words), permutations, seed)
            for level, x in enumerate(reps.levels):
                entry["levels"].append({k: v.to_dict() for k, v in measure_level(x, reps.groups.labels, null, neighbours).items()})
            if (m.model, g.lang) not in pictured:  # one seed's map per model
                pictured.add((m.model, g.lang))
                for level in _tsne_levels(tsne_levels, len(reps.levels)):
                    pictures.append((m.model, g.lang, level, reps.levels[level], reps.groups))
    if not any(e["levels"] for e in results):
        lost = "; ".join(f"{e['model']} ({e['lang']}): {len(e['dropped'])} of {e['of']} words map to <unk>" for e in results)
        raise SubstrateError(f"no model knows enough of the words to measure anything ({lost})")
    return results, pictures


def curves(results: list[dict]) -> list[dict]:
    """Per model and language: each measure's mean over seeds (with its 95 % interval) and chance, level by level."""
    from unicode_substrate.experiments.stats import mean_interval

    keyed: dict[tuple, list[dict]] = {}
    for e in results:
        if e["levels"]:
            keyed.setdefault((e["model"], e["lang"]), []).append(e)
    langs = {lang for _, lang in keyed}
    out = []
    for (model, lang), entries in keyed.items():
        n = min(len(e["levels"]) for e in entries)
        c = {"label": model if len(langs) == 1 else f"{model} ({lang})", "model": model, "lang": lang,
             "seeds": [e["seed"] for e in entries], "levels": list(range(n))}
        for m in MEASURES:
            ivs = [mean_interval([e["levels"][k][m]["value"] for e in entries]) for k in range(n)]
            avg = {f: [sum(e["levels"][k][m][f] for e in entries) / len(entries) for k in range(n)]
                   for f in ("chance", "chance_low", "chance_high")}
            c[m] = {"mean": [iv.mean for iv in ivs], "low": [iv.low for iv in ivs], "high": [iv.high for iv in ivs],
                    "half": [iv.half for iv in ivs], **avg,
                    "p": [[e["levels"][k][m]["p"] for e in entries] for k in range(n)]}
        out.append(c)
    return out


def _write(tmp: Path, results: list[dict], pictures: list, params: dict, seed: int) -> None:
    from unicode_substrate.experiments.report import save_png
    from unicode_substrate.semantics.pictures import separability_figure, tsne_figure

    cs = curves(results)
    save_png(separability_figure(cs, TITLES), tmp / SEPARABILITY_PNG)
    langs = {lang for _, lang, *_ in pictures}
    names = []
    for model, lang, level, x, g in pictures:
        name = f"{model}{'-' + lang if len(langs) > 1 else ''}-L{level}.png"
        (tmp / TSNE_DIR).mkdir(exist_ok=True)
        save_png(tsne_figure(x, g.words, g.labels, f"{model} ({lang}), level {level}", seed), tmp / TSNE_DIR / name)
        names.append(f"{TSNE_DIR}/{name}")
    atomic_write_bytes(tmp / LEVELS_CSV, _csv(results))
    atomic_write_bytes(tmp / REPORT_MD, "\n".join(report_lines(results, cs, params, names)).encode("utf-8"))
    atomic_write_bytes(tmp / RECORD_JSON, canonical_json({"kind": SEMANTICS_KIND, "package": PACKAGE,
                                                         "parameters": params, "results": results}))


def _csv(results: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "seed", "lang", "level", "measure", "value", "chance", "chance_low", "chance_high", "p",
                "words", "groups"])
    for e in results:
        for level, row in enumerate(e["levels"]):
            for m in MEASURES:
                r = row[m]
                w.writerow([e["model"], "" if e["seed"] is None else e["seed"], e["lang"], level, m,
                            *(f"{r[f]:.6f}" for f in ("value", "chance", "chance_low", "chance_high", "p")),
                            len(e["words"]), len(set(e["labels"]))])
    return buf.getvalue().encode("utf-8")


def _p(p: float) -> str:
    from unicode_substrate.experiments.stats import p_text

    return p_text(p)


def report_lines(results: list[dict], cs: list[dict], params: dict, tsne: list[str]) -> list[str]:
    """``report.md``: the models, the words, the method, a table per curve, and what the p-values allow."""
    perms = params["permutations"]
    floor = 1 / (1 + perms)
    lines = ["# Where meaning lives: word groups level by level", "",
             "| model | seed | kind | path | language | words measured | left out (<unk>) |", "|---|---:|---|---|---|---:|---|"]
    for e in results:
        left = ", ".join(e["dropped"]) or "-"
        if e["groups_left_out"]:
            left += f"; groups with fewer than 2 words left: {', '.join(e['groups_left_out'])}"
        lines.append(f"| {e['model']} | {'-' if e['seed'] is None else e['seed']} | {e['kind']} | `{e['path']}` | {e['lang']} | "
                     f"{len(e['words'])} of {e['of']} | {len(e['dropped'])}: {left} |")
    skipped = [e for e in results if e.get("skipped")]
    for e in skipped:
        lines += ["", f"{e['model']} ({e['lang']}): not measured, {e['skipped']}."]
    templates = {lang: ts for lang, ts in params["templates"].items() if ts}
    context = ("inside the templates " + "; ".join(f"{lang}: " + ", ".join(f"`{t}`" for t in ts)
                                                   for lang, ts in templates.items()) + ", averaged over them"
               if templates else "bare (each word alone)")
    lines += ["", "## Method", "",
              f"Word groups: {params['groups']}. Words are encoded {context}. A word's vector at level 0 is the mean of "
              "its tokens' input rows as the first block reads them (lifted to the model width); at level l the mean of "
              "the residual stream after block l at its tokens. A bare table has level 0 only.", "",
              f"Measures (cosine): leave-one-out {params['neighbours']}-nearest-neighbour group accuracy (kNN), the mean "
              "silhouette, and the mean cosine within groups and between groups (gap = within - between). Chance: the same "
              f"measure over {perms} random relabellings of the words (seed {params['seed']}, group sizes kept): the mean, "
              "and the band holding 95 % of them. p: the share of relabellings that separate at least as well, "
              f"(1 + count) / (1 + {perms}); the smallest possible p is {floor:.4f}.", "",
              f"![separability]({SEPARABILITY_PNG})", ""]
    lines += _verdicts(cs, perms)
    for c in cs:
        seeds = [s for s in c["seeds"] if s is not None]
        many = len(seeds) > 1
        lines += ["", f"## {c['label']}", ""]
        if many:
            lines += [f"Mean ± half-width of the 95 % t-interval over seeds {', '.join(map(str, seeds))}; "
                      "p: how many seeds reach p < 0.05.", ""]
        lines += ["| level | kNN (chance) | p | silhouette (chance) | p | within | between | gap (chance) | p |",
                  "|---:|---|---:|---|---:|---:|---:|---|---:|"]
        for k in c["levels"]:
            cells = []
            for m in ("knn", "silhouette", "within", "between", "gap"):
                v = c[m]
                value = f"{v['mean'][k]:.3f}" + (f" ± {v['half'][k]:.3f}" if v["half"][k] is not None else "")
                ps = v["p"][k]
                p = (f"{sum(x < ALPHA for x in ps)}/{len(ps)}" if many else _p(ps[0]))
                if m in ("within", "between"):
                    cells.append(value)
                else:
                    cells += [f"{value} ({v['chance'][k]:.3f})", p]
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
    if tsne:
        lines += ["", "## t-SNE maps", "",
                  "Each word placed by t-SNE (cosine, fixed seed) and coloured by its group. t-SNE keeps neighbourhoods, "
                  "not distances or cluster sizes: read the maps beside the measures above, never instead of them.", ""]
        lines += [f"![{Path(t).stem}]({t})" for t in tsne]
    lines.append("")
    return lines


def _verdicts(cs: list[dict], perms: int) -> list[str]:
    """What the p-values allow, per curve: kNN accuracy above chance, Bonferroni-corrected over that curve's levels."""
    lines = ["## What the numbers allow", ""]
    for c in cs:
        n = len(c["levels"])
        threshold = ALPHA / n
        ps = c["knn"]["p"]
        seeds = len(ps[0])
        if 1 / (1 + perms) >= threshold:
            lines.append(f"- {c['label']}: with {perms} relabellings the smallest p ({1 / (1 + perms):.4f}) does not reach "
                         f"the corrected threshold {threshold:.4f} (0.05 over {n} levels): no level can be called "
                         "above chance; raise the permutations.")
            continue
        hit = [k for k in c["levels"] if all(p < threshold for p in ps[k])]
        who = " in every seed" if seeds > 1 else ""
        if hit:
            lines.append(f"- {c['label']}: kNN accuracy is above chance{who} at level{'s' if len(hit) > 1 else ''} "
                         f"{', '.join(map(str, hit))} (p < {threshold:.4f}, 0.05 Bonferroni-corrected over {n} levels). "
                         "That says the groups are more separable there than under random labels; not how, and not why.")
        else:
            lines.append(f"- {c['label']}: no level's kNN accuracy is above chance{who} at p < {threshold:.4f} (0.05 "
                         f"corrected over {n} levels). This does not show that the groups are not represented: with "
                         "few words, or a small model, the test has little power.")
    lines += ["", "Levels are not independent tests of separate questions, and uncorrected p-values below 0.05 at a "
              "few levels are expected by chance alone. Words of one group that share letters (the Russian colour "
              "adjectives in -ый, the professions in -тель) share tokens, so they separate already in the input rows of "
              "any table, glyph or bit codes alike: separation at level 0 of a frozen table is spelling, not meaning, and "
              "what a model's blocks add is the rise over its own level 0.", ""]
    return lines


# ---- in a study: [semantics] measures every variant x seed once the runs are trained -----------------------
STUDY_KEYS = {"groups", "lang", "templates", "permutations", "neighbours", "seed", "tsne_levels"}


def check_study_semantics(spec, where: str, kind: str) -> dict:
    """A study's ``[semantics]`` table, checked before anything trains (keys, groups file, ranges)."""
    from unicode_substrate.options import check_range
    from unicode_substrate.semantics.groups import load_groups

    if not isinstance(spec, dict):
        raise SubstrateError(f"{where} must be a table, like [semantics] with lang = [\"en\"]")
    check_keys(spec, STUDY_KEYS, where)
    if kind == "fuse":
        raise SubstrateError(f"{where}: semantics goes with compare and grow studies (a fusion's experts are runs: "
                             "measure them with substrate semantics)")
    for key in ("permutations", "neighbours", "seed"):
        if key in spec:
            check_range(key, spec[key], f"{where}:")
    tsne = spec.get("tsne_levels")
    if tsne is not None and tsne != "all" and not (isinstance(tsne, list) and all(isinstance(x, int) for x in tsne)):
        raise SubstrateError(f'{where}: tsne_levels must be "all" or a list of levels, got {tsne!r}')
    langs = spec.get("lang")
    if langs is not None and not (isinstance(langs, list) and all(isinstance(x, str) for x in langs)):
        raise SubstrateError(f"{where}: lang must be a list of language codes, got {langs!r}")
    load_groups(spec.get("groups"), langs, spec.get("templates"))  # a bad groups file fails before the first run trains
    return spec


def study_semantics(spec: dict, runs: Path, out: Path, progress: bool = True) -> Path:
    """``semantics`` over a study's comparison or growth ``runs``, into the study's own ``out`` (replaced each time)."""
    return semantics(out, runs=[str(runs)], groups=spec.get("groups"), langs=spec.get("lang"),
                     templates=spec.get("templates"), permutations=spec.get("permutations", PERMUTATIONS),
                     neighbours=spec.get("neighbours", NEIGHBOURS), seed=spec.get("seed", 0),
                     tsne_levels=spec.get("tsne_levels"), force=True, progress=progress)
