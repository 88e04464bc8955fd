"""``substrate semantics``: a thin wrapper over unicode_substrate.experiments.semantics."""

from __future__ import annotations

import click

from unicode_substrate.cli.options import ranged


@click.command("semantics")
@click.option("--run", "runs", multiple=True, metavar="[NAME=]PATH",
              help="A run, or a folder of runs: a growth (every stage), a comparison or a study (every variant and seed).")
@click.option("--hf-model", "hf_models", multiple=True, metavar="[NAME=]DIR", help="A Hugging Face causal LM directory (offline).")
@click.option("--table", "tables", multiple=True, metavar="[NAME=]TABLE", help="A bare table, ours or imported: level 0 only.")
@click.option("--tokenizer", type=click.Path(), help="The tokenizer the --table tables were made for.")
@click.option("--groups", type=click.Path(), help="Word groups TOML ([groups.NAME] lang = [words]); default: the built-in ones.")
@click.option("--lang", "langs", multiple=True, help="Measure these languages of the groups (default: all of them).")
@click.option("--template", "templates", multiple=True, help='A sentence template holding {word}, e.g. "The {word} is"; '
              "repeatable, averaged over (default: words alone).")
@click.option("--permutations", type=ranged("permutations"), default=1000, show_default=True,
              help="Label relabellings behind each chance level and p-value.")
@click.option("--neighbours", type=ranged("neighbours"), default=3, show_default=True, help="k of the kNN accuracy.")
@click.option("--seed", type=ranged("seed"), default=0, show_default=True, help="Seed of the relabellings and t-SNE.")
@click.option("--tsne-levels", default=None, help='Levels to map with t-SNE: "all" or e.g. "0,4,8" (default: first, middle, last).')
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or mps.")
@click.option("--out", required=True, type=click.Path(), help="Folder for report.md, levels.csv, separability.png, tsne/.")
@click.option("--force", is_flag=True, help="Replace an existing semantics folder.")
@click.option("--progress/--no-progress", default=True, help="One line per model measured, on stderr.")
def semantics(runs, hf_models, tables, tokenizer, groups, langs, templates, permutations, neighbours, seed, tsne_levels,
              device, out, force, progress):
    """Where meaning lives: how well word groups separate at every level of each model, against chance."""
    from unicode_substrate.errors import SubstrateError
    from unicode_substrate.experiments.semantics import semantics as measure

    levels = tsne_levels
    if tsne_levels not in (None, "all"):
        try:
            levels = [int(x) for x in tsne_levels.split(",")]
        except ValueError:
            raise SubstrateError(f'tsne levels must be "all" or levels like 0,4,8, got {tsne_levels!r}', param="tsne_levels") from None
    path = measure(out, runs=runs, hf_models=hf_models, tables=tables, tokenizer=tokenizer, groups=groups,
                   langs=list(langs) or None, templates=list(templates) or None, permutations=permutations,
                   neighbours=neighbours, seed=seed, tsne_levels=levels, device=device, force=force, progress=progress)
    click.echo(f"semantics written to {path}")
