"""``substrate results-table``: a thin wrapper over unicode_substrate.eval.results_table."""

from __future__ import annotations

import click


@click.command("results-table")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Folder to write table.md, table.csv and table.png to.")
@click.option("--groups", is_flag=True, help="Also a row for every MMLU subject (translation directions are always rows).")
@click.option("--force", is_flag=True, help="Replace an existing results table folder.")
def results_table(inputs, out, groups, force):
    """Put eval directories of substrate eval and the author's result files (_models_benchmarking_*.txt) in one table."""
    from unicode_substrate.eval.results_table import results_table as write

    path = write(list(inputs), out, groups=groups, force=force)
    click.echo(f"results table written to {path}")
