"""``substrate ngrams``, ``build-tokenizer`` and ``tokenizer-stats``: thin wrappers over unicode_substrate.tokenizer."""

from __future__ import annotations

import click

from unicode_substrate.cli.options import ranged
from unicode_substrate.choices import DEFAULT_LAYOUT, LAYOUT_NAMES, LAYOUT_TOP_CNT


@click.command()
@click.option("--corpus", "corpus", type=click.Path(path_type=str), default=None,
              help="A .txt/.jsonl/.parquet file or a directory of them (default: the built-in standard-library docstrings).")
@click.option("--lang", default=None, help="Language code of the corpus (default: from <lang>/ subfolders, else 'und').")
@click.option("--max-n", type=ranged("max_n"), default=5, show_default=True, help="Count n-grams for n = 2..MAX_N.")
@click.option("--top-k", "top_k", type=ranged("top_grams"), default=1000, show_default=True, help="Keep the K most common grams per n per language.")
@click.option("--out", required=True, type=click.Path(path_type=str), help="Output directory (ngrams.txt in the paper's schema, ngrams.json, manifest.json).")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
def ngrams(corpus: str | None, lang: str | None, max_n: int, top_k: int, out: str, force: bool) -> None:
    """Mine character n-gram statistics with the paper's rules (arXiv 2507.04886)."""
    from unicode_substrate.tokenizer.ngrams import write_stats

    path = write_stats(out, corpus=corpus, lang=lang, sizes=range(2, max_n + 1), top_k=top_k, force=force)
    click.echo(f"wrote n-gram statistics to {path}")


@click.command("build-tokenizer")
@click.option("--layout", type=click.Choice(LAYOUT_NAMES), default=DEFAULT_LAYOUT, show_default=True, help="Id layout.")
@click.option("--ngrams", "ngrams_path", type=click.Path(path_type=str), default=None,
              help="N-gram statistics (the paper's file, a .json, or a `substrate ngrams` directory); default for lossless: mined from the built-in corpus.")
@click.option("--intersection", type=click.Path(path_type=str), default=None, help="bvv241-max only: the intersection list (one string per line).")
@click.option("--top-cnt", type=ranged("top_cnt"), default=None, help=f"Grams kept per (language, n) (default: {LAYOUT_TOP_CNT['bvv241-2-3']} for bvv241-2-3, "
                   f"{LAYOUT_TOP_CNT['bvv241-max']} for bvv241-max, all for lossless).")
@click.option("--from-tokenizer", type=click.Path(path_type=str), default=None, help="Take the vocabulary of an existing Hugging Face tokenizer.json instead.")
@click.option("--out", required=True, type=click.Path(path_type=str), help="Output tokenizer directory.")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
def build_tokenizer(layout: str, ngrams_path: str | None, intersection: str | None, top_cnt: int | None,
                    from_tokenizer: str | None, out: str, force: bool) -> None:
    """Build a tokenizer directory (Hugging Face files + manifest) in one of the layouts."""
    from unicode_substrate.artifacts import read_manifest
    from unicode_substrate.tokenizer import build_tokenizer as build

    path = build(out, layout=layout, ngrams=ngrams_path, intersection=intersection,
                 from_tokenizer=from_tokenizer, force=force, top_cnt=top_cnt)
    m = read_manifest(path)
    if m["layout"] == "from-tokenizer":
        click.echo(f"wrote tokenizer ({m['vocab_size']} ids, copied from {from_tokenizer}) to {path}")
    else:
        dropped = f", {len(m['dropped'])} dropped" if m["dropped"] else ""
        click.echo(f"wrote tokenizer {m['layout']} ({m['vocab_size']} ids, {m['n_placed']} n-grams placed{dropped}, {m['n_merges']} merges) to {path}")


@click.command("tokenizer-stats")
@click.option("--texts", type=click.Path(path_type=str), default=None,
              help="Folder of TEXTS/<lang>/ with .txt/.jsonl/.parquet documents (default: the built-in English corpus).")
@click.option("--tokenizer", "tokenizers", multiple=True, required=True, metavar="NAME=PATH",
              help="A tokenizer directory of ours or a Hugging Face one (tokenizer.json); repeat for more.")
@click.option("--reference", type=click.Path(path_type=str), default=None,
              help="The author's _tokenizer-benchmarking.csv: its figures are set beside ours, labelled.")
@click.option("--out", required=True, type=click.Path(path_type=str),
              help="Output directory (table.csv, measures.csv, table.md, chars_per_token.png, heatmap.png).")
@click.option("--force", is_flag=True, help="Replace an existing tokenizer-stats directory.")
@click.option("--progress/--no-progress", default=True, help="Progress: a bar on a terminal, else a line every 5 % of the pairs.")
def tokenizer_stats(texts: str | None, tokenizers: tuple[str, ...], reference: str | None, out: str, force: bool,
                    progress: bool) -> None:
    """Characters and bytes per token, unknown tokens, round trips and vocabulary use, per language and tokenizer."""
    from unicode_substrate.tokenizer.stats import tokenizer_stats as write

    path = write(out, list(tokenizers), texts=texts, reference=reference, force=force, progress=progress)
    click.echo(f"tokenizer statistics written to {path}")
