"""``substrate export``: a trained run as a standard Hugging Face GPT-NeoX model directory."""

from __future__ import annotations

import click

from unicode_substrate.choices import EXPORT_DTYPES


@click.command()
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Run directory from substrate train.")
@click.option("--checkpoint", type=click.Path(exists=True, file_okay=False), default=None, help="A checkpoint (default: the newest).")
@click.option("--out", required=True, type=click.Path(), help="Output directory (loads with AutoModelForCausalLM.from_pretrained).")
@click.option("--dtype", type=click.Choice(EXPORT_DTYPES), default="float32", show_default=True, help="Weight dtype.")
@click.option("--force", is_flag=True, help="Replace an earlier export in --out (never another kind of directory).")
@click.option("--tokenizer", type=click.Path(exists=True, file_okay=False), default=None, help="Tokenizer directory (default: the run's).")
@click.option("--table", type=click.Path(exists=True, file_okay=False), default=None, help="Table directory (default: the run's).")
def export(run_dir, checkpoint, out, dtype, force, tokenizer, table):
    """Write a run as a GPTNeoXForCausalLM (config, safetensors, tokenizer, model card): no custom code needed."""
    from unicode_substrate.export import export as run

    path = run(run_dir, out, checkpoint=checkpoint, dtype=dtype, force=force, tokenizer=tokenizer, table=table)
    click.echo(f"exported to {path}")
