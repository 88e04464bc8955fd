"""``substrate render``, ``substrate preview`` and ``substrate import-table``."""

from __future__ import annotations

import click

from unicode_substrate.cli.options import ranged
from unicode_substrate.choices import (
    COLLISION_THRESHOLD,
    DEFAULT_PCA_SOLVER,
    DEFAULT_RENDER_PRESET,
    DEFAULT_TABLE_METHOD,
    ON_COLLISION,
    PCA_SOLVERS,
    RENDER_PRESETS,
    SURFACES,
    TABLE_METHODS,
)


@click.command()
@click.option("--tokenizer", "tokenizer_dir", required=True, type=click.Path(), help="Tokenizer directory (with manifest.json).")
@click.option("--out", required=True, type=click.Path(), help="Table directory to write.")
@click.option("--method", type=click.Choice(TABLE_METHODS), default=DEFAULT_TABLE_METHOD, show_default=True,
              help="glyph: our collision-free glyph table; glyph-paper: the paper's recipe bit for bit; "
                   "bit / float: unique random ID codes; random: Gaussian rows (a control).")
@click.option("--dim", type=ranged("dim"), default=None, help="Embedding width (PCA components for glyph methods). Default 1024; 4096 for --preset abs.")
@click.option("--font", "fonts", multiple=True, type=click.Path(), help="Font file; repeat for a fallback chain. Default: the fonts.toml shipped in the package (GNU Unifont).")
@click.option("--preset", type=click.Choice(RENDER_PRESETS), default=DEFAULT_RENDER_PRESET, show_default=True, help="glyph-paper parameter set.")
@click.option("--on-collision", type=click.Choice(ON_COLLISION), default=None,
              help="Duplicate rows: fail, list them, or make rows unique. Default: report for glyph-paper, resolve otherwise.")
@click.option("--threshold", type=ranged("threshold"), default=COLLISION_THRESHOLD, show_default=True, help="Cosine above which two rows count as near duplicates.")
@click.option("--surface", type=click.Choice(SURFACES), default=None,
              help="Draw the raw vocabulary key (Ġpainted) or its decoded text ( painted). Default: raw for glyph-paper, decoded otherwise.")
@click.option("--seed", type=ranged("seed"), default=0, show_default=True, help="Seed of the code generators and of collision resolution.")
@click.option("--pca-solver", type=click.Choice(PCA_SOLVERS), default=DEFAULT_PCA_SOLVER, show_default=True,
              help="scikit-learn PCA solver for glyph methods; full is sklearn's default for 1024 components (slower).")
@click.option("--preview", type=click.Path(), default=None, help="Also write a glyph atlas PNG here.")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@click.option("--progress/--no-progress", default=True,
              help="Progress: a bar on a terminal, else a line per stage and every 5 % / 30 s of drawing.")
def render(tokenizer_dir, out, method, dim, fonts, preset, on_collision, threshold, surface, seed, pca_solver, preview, force,
           progress):
    """Render the frozen embedding table of a tokenizer's vocabulary."""
    from unicode_substrate.render import describe_table, render_table

    path = render_table(tokenizer_dir, out, method=method, dim=dim, fonts=list(fonts) or None, on_collision=on_collision,
                        surface=surface, force=force, preview=preview, preset=preset, seed=seed, threshold=threshold,
                        progress=progress, pca_solver=pca_solver)
    click.echo(describe_table(path))
    click.echo(f"wrote {path}")
    if preview:
        click.echo(f"wrote {preview}")


@click.command()
@click.option("--table", "table_dir", required=True, type=click.Path(), help="Table directory.")
@click.option("--out", required=True, type=click.Path(), help="Atlas PNG to write.")
@click.option("--ids", default=None, help="Comma-separated token ids, decimal or hex (65,0x0410); default: a seeded sample across token kinds and scripts.")
@click.option("--count", type=ranged("count"), default=48, show_default=True, help="Sample size when --ids is not given.")
@click.option("--font", "fonts", multiple=True, type=click.Path(), help="Font chain used to re-draw glyphs (default: the fonts.toml shipped in the package).")
@click.option("--scatter", type=click.Path(), default=None, help="Also write a 2-D PCA scatter PNG here.")
@click.option("--force", is_flag=True, help="Replace existing pictures (never another kind of file).")
def preview(table_dir, out, ids, count, fonts, scatter, force):
    """Write a glyph atlas (token pictures with their ids) of a table."""
    from unicode_substrate.errors import SubstrateError
    from unicode_substrate.render.preview import write_atlas, write_scatter

    try:
        id_list = [int(x, 0) for x in ids.split(",")] if ids else None  # decimal or 0x hex, as the atlas labels them
    except ValueError:
        raise SubstrateError(f"--ids must be comma-separated integers (decimal or 0x hex), got {ids!r}") from None
    if scatter:  # both pictures are refused before either is drawn
        from unicode_substrate.artifacts import check_output_file

        check_output_file(scatter, inputs=[table_dir], force=force)
    click.echo(f"wrote {write_atlas(table_dir, out, ids=id_list, count=count, fonts=list(fonts) or None, force=force)}")
    if scatter:
        click.echo(f"wrote {write_scatter(table_dir, scatter, force=force)}")


@click.command("import-table")
@click.argument("pt", type=click.Path())
@click.option("--tokenizer", "tokenizer_dir", required=True, type=click.Path(), help="Tokenizer the rows belong to.")
@click.option("--out", required=True, type=click.Path(), help="Table directory to write.")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
def import_table(pt, tokenizer_dir, out, force):
    """Import a torch tensor file (loaded with weights_only=True) as a verified table."""
    from unicode_substrate.render import describe_table
    from unicode_substrate.render import import_table as do_import

    path = do_import(pt, tokenizer_dir, out, force=force)
    click.echo(describe_table(path))
    click.echo(f"wrote {path}")
