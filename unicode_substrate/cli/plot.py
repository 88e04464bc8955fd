"""``substrate plot``: a thin wrapper over unicode_substrate.experiments.plot.plot_runs."""

from __future__ import annotations

import click


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option("--force", is_flag=True, help="Replace an existing PNG in --out.")
def plot(runs, out, force):
    """Draw the loss curves (training and validation, by step and tokens) of one or more runs."""
    from unicode_substrate.experiments.plot import plot_runs

    click.echo(f"loss curves written to {plot_runs(list(runs), out, force=force)}")
