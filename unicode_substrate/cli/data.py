"""``substrate demo-qa``: the small question-answering set the demo recipe mixes in (no download)."""

from __future__ import annotations

import click

from unicode_substrate.cli.options import ranged


@click.command("demo-qa")
@click.option("--out", required=True, type=click.Path(), help="Output folder for train-v2.0.json (SQuAD v2) and train.jsonl (BoolQ).")
@click.option("--seed", type=ranged("seed"), default=0, show_default=True, help="Seed for the questions picked.")
@click.option("--force", is_flag=True, help="Replace an existing demo-qa folder.")
def demo_qa(out, seed, force):
    """Make SQuAD v2 and BoolQ training files from the built-in corpus, for mixes/demo-mix.toml."""
    from unicode_substrate.data.demo_qa import make_demo_qa

    click.echo(f"wrote demo question-answering files to {make_demo_qa(out, seed=seed, force=force)}")
