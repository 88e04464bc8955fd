"""``substrate prepare --recipe``: a recipe's text corpora and question-answering sets, screened and mixed."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from unicode_substrate.errors import SubstrateError
from unicode_substrate.data.mix import SourceInput, build_mix, format_plan
from unicode_substrate.data.recipe import Recipe, Source, load_recipe


def source_input(source: Source) -> SourceInput:
    """The files of ``source`` (checked now, before any tokenizing) and its documents as text."""
    from unicode_substrate.corpus import builtin_documents, corpus_files, iter_documents
    from unicode_substrate.data.qa import qa_documents, qa_files

    if source.path is None:
        return SourceInput(source, (), lambda: iter(builtin_documents()))
    where = f"source {source.name!r}"
    try:
        if source.is_text:
            files = tuple(f for f, _ in corpus_files(source.path))
            if not files:
                raise SubstrateError(f"no .txt/.jsonl/.parquet file under {source.path}")

            def text_documents() -> Iterator[str]:
                for f in files:
                    for _, text in iter_documents(f):
                        yield text
            return SourceInput(source, files, text_documents)
        files = tuple(qa_files(source.path, source.format))
        return SourceInput(source, files, lambda: qa_documents(list(files), source.format))
    except SubstrateError as e:
        raise SubstrateError(f"{where}: {e}") from None


def prepare_recipe(
    recipe: str | Path | Recipe,
    tokenizer: str | Path,
    out: str | Path | None,
    decontaminate: str | Path | None = None,
    tasks: list[str] | None = None,
    report_only: bool = False,
    dry_run: bool = False,
    force: bool = False,
    progress: bool = False,
    special_tokens: str = "text",
) -> Path | str:
    """Build the recipe's data directory (returns its path), or with ``dry_run`` return the plan as text.

    ``special_tokens`` reads text spelling ``</s>`` or ``<unk>`` as ``prepare --corpus`` does
    (:class:`unicode_substrate.tokens.DocumentEncoder`)."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    inputs = [source_input(s) for s in recipe.sources]
    screen = after_read = None
    if tasks is not None and decontaminate is None:
        raise SubstrateError("the tasks choose which benchmarks decontamination checks; give the benchmark folder too",
                              param=("tasks", "bench_dir"))
    if report_only and decontaminate is None:
        raise SubstrateError("a contamination report needs the benchmark folder to check against", param=("report_only", "bench_dir"))
    if decontaminate is not None:
        from unicode_substrate.data import contamination as c

        index = c.build_index(decontaminate, tasks)
        index.dropped = not report_only
        names = [s.name for s in recipe.sources]

        def screen(si: int, ordinal: int, text: str) -> bool:
            return c.screen(index, names[si], ordinal, text)

        def after_read(tmp: Path | None) -> dict:
            rep = c.report(index)
            if tmp is not None:
                c.write_reports(tmp, rep)
            found = {t: len(v["found"]) for t, v in rep["tasks"].items()}
            return {"contamination": {"benchmarks": str(decontaminate), "n": rep["n"], "checked": rep["checked"],
                                      "not_found": list(rep["not_found"]), "items_found": found,
                                      "documents": len(rep["documents"]), "dropped": rep["dropped"]}}
    result = build_mix(out, recipe, inputs, tokenizer, screen=screen, after_read=after_read, dry_run=dry_run,
                       force=force, progress=progress, input_paths=(decontaminate,), special_tokens=special_tokens)
    if dry_run:
        return format_plan(result)
    return result
