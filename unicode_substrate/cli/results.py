"""``substrate results-table``: a thin wrapper over unicode_substrate.eval.results_table."""

from __future__ import annotations

import click


@click.command("results-table")
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Folder to write table.md, table.csv and the pictures to.")
@click.option("--label", "labels", multiple=True, metavar="NAME=PATH",
              help="Name the column(s) of input PATH (added if not listed); default: the eval's --label, else the "
                   "run folder with its variant and seed or growth stage, else the author file's model.")
@click.option("--groups", is_flag=True, help="Also a row for every MMLU subject (translation directions are always rows).")
@click.option("--force", is_flag=True, help="Replace an existing results table folder.")
def results_table(inputs, out, labels, groups, force):
    """Put eval directories of substrate eval and the author's result files (_models_benchmarking_*.txt) in one
    table, with the author's heatmaps (MMLU subjects × models, tasks × models)."""
    from unicode_substrate.eval.results_table import results_table as write

    if not inputs and not labels:
        raise click.UsageError("give at least one INPUT (an eval directory or an author result file)")

    path = write(list(inputs), out, groups=groups, force=force, labels=labels)
    click.echo(f"results table written to {path}")
