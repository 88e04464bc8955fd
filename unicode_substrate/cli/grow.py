"""``substrate grow`` and ``substrate fuse``: thin wrappers over unicode_substrate.experiments.grow and .fuse."""

from __future__ import annotations

import click

from unicode_substrate.choices import FUSED_TRAINABLE


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="TOML growth schedule: preset, stages, steps_per_stage, trainable, init, lora, lora_blocks, merge, "
                   "plus any train option but steps.")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Data directory from substrate prepare.")
@click.option("--table", type=click.Path(exists=True, file_okay=False), default=None, help="Frozen table directory (frozen presets).")
@click.option("--out", required=True, type=click.Path(), help="Growth directory (stages/, final/, monolithic/, report).")
@click.option("--from", "from_run", type=click.Path(exists=True, file_okay=False), default=None,
              help="Grow this trained run: its layers are the frozen start, the stages add the rest.")
@click.option("--resume", is_flag=True, help="Continue: finished stages are kept, the unfinished one resumes from its checkpoint.")
@click.option("--force", is_flag=True, help="Delete an existing growth directory in --out and start over.")
@click.option("--monolithic/--no-monolithic", default=True, show_default=True,
              help="Also train the same final model whole for the same total steps, for the report.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N (default: the config's, else auto).")
@click.option("--progress/--no-progress", default=True,
              help="Progress: a bar labelled with the stage on a terminal, else a line every 5 % and at least every 30 s.")
@click.option("--seeds", default=None, metavar="S1,S2,...",
              help="Grow once per seed (out/seed-S) and report grown against monolithic paired by seed, with 95 % "
                   "intervals and a paired t-test; one seed replaces the config's seed.")
def grow(config_path, data, table, out, from_run, resume, force, monolithic, device, progress, seeds):
    """Grow a model layer by layer: train, freeze, stack new blocks, repeat; report against a monolithic run."""
    from unicode_substrate.experiments.grow import grow as run
    from unicode_substrate.experiments.grow import load_grow_config

    gcfg = load_grow_config(config_path, device=device)
    report = run(gcfg, data, out, table=table, from_run=from_run, resume=resume, force=force, monolithic=monolithic,
                 progress=progress, inputs=(config_path,), seeds=seeds)
    from unicode_substrate.experiments.compare import parse_seeds
    from unicode_substrate.experiments.grow import FINAL_DIR

    many = parse_seeds(seeds) or []
    if len(many) > 1:  # one growth per seed, each with its own final model
        where = f"{out}/seed-S/{FINAL_DIR} for seeds {', '.join(map(str, many))}"
    else:
        where = f"{out}/{FINAL_DIR}"
    click.echo(f"grown model in {where}; report written to {report}")


@click.command()
@click.option("--expert", "experts", multiple=True, required=True, type=click.Path(exists=True, file_okay=False),
              help="A trained run (two or more); all must share tokenizer and frozen table.")
@click.option("--adapter", is_flag=True, help="A trainable per-token mix of the experts' logits, starting as their mean.")
@click.option("--trainable", type=click.Choice(FUSED_TRAINABLE), default=None,
              help="What `train --init` trains later (default: adapter with --adapter, else all).")
@click.option("--table", type=click.Path(exists=True, file_okay=False), default=None, help="Table directory (default: the experts').")
@click.option("--out", required=True, type=click.Path(), help="Fused run directory.")
@click.option("--force", is_flag=True, help="Replace an existing run in --out.")
def fuse(experts, adapter, trainable, table, out, force):
    """Fuse runs into one model whose logits are the mean of theirs (or an adapter's mix)."""
    from unicode_substrate.experiments.fuse import fuse as run

    path = run(list(experts), out, adapter=adapter, trainable=trainable, table=table, force=force)
    click.echo(f"fused run written to {path}")
