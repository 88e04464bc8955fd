"""``substrate study``: a thin wrapper over unicode_substrate.experiments.study."""

from __future__ import annotations

import click


@click.command()
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(), help="Study folder (inputs/, the runs, report, results.md, plots).")
@click.option("--scale", default="cpu", show_default=True, help="Which [scales.NAME] of the file to run (cpu, paper, ...).")
@click.option("--force", is_flag=True, help="Train every run again (and replace a folder of another study or scale).")
@click.option("--progress/--no-progress", default=True,
              help="Progress: a bar on a terminal, else a line every 5 % of each run and at least every 30 s.")
def study(study_file, out, scale, force, progress):
    """Run a study from one TOML file: inputs, variants x seeds, evaluation, report; resumable."""
    from unicode_substrate.experiments.study import run_study

    path = run_study(study_file, out, scale=scale, force=force, progress=progress)
    click.echo(path.read_text(encoding="utf-8").split("![results]")[0].rstrip())
    click.echo(f"results written to {path}")
