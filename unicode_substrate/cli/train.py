"""``substrate prepare``, ``train``, ``generate`` and ``compare``: thin wrappers over unicode_substrate.train."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from unicode_substrate.cli.options import ranged
from unicode_substrate.choices import DEFAULT_EVAL_PROTOCOL, EVAL_PROTOCOLS, GENERATE_MAX_NEW_TOKENS, GENERATE_TEMPERATURE, GENERATE_TOP_K
from unicode_substrate.choices import KERNEL_BACKENDS, PARALLEL_MODES, PRECISIONS, SPECIAL_TOKEN_MODES
from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import PRESETS, ModelConfig
from unicode_substrate.schema import NAME_RULE, fields_help
from unicode_substrate.train.config import TrainConfig

PROGRESS_HELP = "Progress: a bar on a terminal, else a line every 5 % of the run and at least every 30 s."


def _value(text: str):
    """An override value: int, float, true/false, or the string itself."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _model_overrides(pairs: tuple[str, ...]) -> dict | None:
    out = {}
    for p in pairs:
        key, sep, val = p.partition("=")
        if not sep or not key:
            raise SubstrateError(f"--set expects KEY=VALUE (a model field), got {p!r}")
        out[key.strip()] = _value(val.strip())
    return out or None


def _progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def _d(name: str) -> str:
    """' [default: X]' from TrainConfig, for options whose click default stays None so a TOML file can set them."""
    value = getattr(TrainConfig, name)
    shown = {None: "the model context", "": "none"}.get(value, value) if not isinstance(value, (int, float)) else value
    return f"  [default: {shown}]"


def training_options(f):
    """Options shared by train and compare; each overrides the TOML config when given.

    Every TrainConfig field has one (preset: --preset, model fields: --set), so nothing is TOML-only.
    """
    opts = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML file of training options (unknown keys are an error)."),
        click.option("--set", "model_set", multiple=True, metavar="KEY=VALUE", help="Override a model field, e.g. --set n_layer=2 (repeatable). Fields: " + fields_help(ModelConfig) + "."),
        click.option("--steps", type=ranged("steps"), help="Optimizer steps." + _d("steps")),
        click.option("--batch-size", type=ranged("batch_size"), help="Sequences per micro-batch per process." + _d("batch_size")),
        click.option("--grad-accum", type=ranged("grad_accum"), help="Micro-batches per optimizer step." + _d("grad_accum")),
        click.option("--context", type=ranged("context"), help="Tokens per sequence." + _d("context")),
        click.option("--lr", type=ranged("lr"), help="Peak learning rate." + _d("lr")),
        click.option("--min-lr", type=ranged("min_lr"), help="Final learning rate of the cosine schedule." + _d("min_lr")),
        click.option("--warmup", type=ranged("warmup"), help="Linear warmup steps." + _d("warmup")),
        click.option("--weight-decay", type=ranged("weight_decay"), help="AdamW decoupled weight decay (matrices only)." + _d("weight_decay")),
        click.option("--beta1", type=ranged("beta1"), help="AdamW first-moment decay." + _d("beta1")),
        click.option("--beta2", type=ranged("beta2"), help="AdamW second-moment decay." + _d("beta2")),
        click.option("--grad-clip", type=ranged("grad_clip"), help="Global gradient-norm clip (0 = off)." + _d("grad_clip")),
        click.option("--seed", type=ranged("seed"), help="Seed for initialisation and batch order." + _d("seed")),
        click.option("--eval-every", type=ranged("eval_every"), help="Validate every N steps (0 = only at the end)." + _d("eval_every")),
        click.option("--eval-tokens", type=ranged("eval_tokens"), help="Validation tokens per evaluation, whole documents (0 = all)." + _d("eval_tokens")),
        click.option("--eval-batch-size", type=ranged("eval_batch_size"), help="Sequences per validation forward pass." + _d("eval_batch_size")),
        click.option("--ckpt-every", type=ranged("ckpt_every"), help="Checkpoint every N steps (0 = only at the end)." + _d("ckpt_every")),
        click.option("--keep-last", type=ranged("keep_last"), help="Checkpoints to keep." + _d("keep_last")),
        click.option("--log-every", type=ranged("log_every"), help="Write a training record to metrics.jsonl every N steps." + _d("log_every")),
        click.option("--log", type=str, metavar="L1,L2",
                     help="Experiment loggers beside metrics.jsonl: tensorboard, csv, wandb (offline), comma-separated "
                          "(see docs/logging.md)." + _d("log")),
        click.option("--precision", type=click.Choice(PRECISIONS), help="auto = bf16 autocast on CUDA, fp32 on CPU." + _d("precision")),
        click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile the model." + _d("compile")),
        click.option("--parallel", type=click.Choice(PARALLEL_MODES), help="How torchrun processes share the model." + _d("parallel")),
        click.option("--kernels", type=click.Choice(KERNEL_BACKENDS),
                     help="Input stage: auto = Triton kernels on CUDA, PyTorch reference elsewhere; triton or torch forces one." + _d("kernels")),
        click.option("--device", help="cpu, cuda or cuda:N; auto = cuda when available." + _d("device")),
        click.option("--progress/--no-progress", default=True, help=PROGRESS_HELP),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _config(preset, config_path, model_set, **kw):
    from unicode_substrate.train.config import load_config

    names = {"compile_": "compile"}
    given = {names.get(k, k): v for k, v in kw.items()}
    return load_config(config_path, preset=preset, model=_model_overrides(model_set), **given)


@click.command()
@click.option("--corpus", type=click.Path(exists=True), default=None, help="A .txt/.jsonl/.parquet file or a folder (default: the built-in standard-library docstrings).")
@click.option("--recipe", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A TOML mix of corpora and question-answering sets with their shares (see docs/data-recipes.md); instead of --corpus.")
@click.option("--lang", default=None, help="Language code for documents that carry none.")
@click.option("--tokenizer", required=True, type=click.Path(exists=True, file_okay=False), help="Tokenizer directory.")
@click.option("--out", required=True, type=click.Path(), help="Output data directory.")
@click.option("--val-every", default=None, type=ranged("val_every"), help="Every N-th document goes to the validation split.  [default: 50, or the recipe's]")
@click.option("--decontaminate", "bench_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Benchmark folder (as substrate eval reads it): drop training documents sharing a 13-gram with an item (with --recipe).")
@click.option("--tasks", default=None, metavar="T1,T2,...", help="Benchmarks of --decontaminate to check (default: every task whose files substrate eval finds there).")
@click.option("--decontaminate-report-only", "report_only", is_flag=True, help="Write the contamination report but drop nothing.")
@click.option("--dry-run", is_flag=True, help="Print the recipe's plan per source (documents, tokens, epochs, share) and write nothing.")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@click.option("--special-tokens", type=click.Choice(SPECIAL_TOKEN_MODES), default="text", show_default=True,
              help="Corpus text that spells a special token (</s>, <unk>): text = plain characters (as Hugging Face's "
                   "split_special_tokens); special = the special token, for corpora that use them on purpose.")
@click.option("--progress/--no-progress", default=True, help=PROGRESS_HELP)
def prepare(corpus, recipe, lang, tokenizer, out, val_every, bench_dir, tasks, report_only, dry_run, force, special_tokens, progress):
    """Tokenize a corpus, or a recipe's mix, with every core into memory-mapped train/validation token arrays."""
    if recipe is not None:
        if corpus is not None or lang is not None or val_every is not None:
            raise SubstrateError("--recipe names its corpora, languages and val_every; give no --corpus, --lang or --val-every")
        from unicode_substrate.data.recipe_prepare import prepare_recipe

        result = prepare_recipe(recipe, tokenizer, out, decontaminate=bench_dir,
                                tasks=tasks.split(",") if tasks is not None else None, report_only=report_only,
                                dry_run=dry_run, force=force, progress=_progress(progress), special_tokens=special_tokens)
        if dry_run:
            click.echo(result)
            return
        path = result
    else:
        if bench_dir is not None or tasks is not None or report_only or dry_run:
            raise SubstrateError("--decontaminate, --tasks, --decontaminate-report-only and --dry-run go with --recipe")
        from unicode_substrate.data.prepare import prepare as run

        path = run(out, tokenizer, corpus=corpus, lang=lang, val_every=50 if val_every is None else val_every,
                   force=force, progress=_progress(progress), special_tokens=special_tokens)
    from unicode_substrate.tokens import unknown_warning

    warning = unknown_warning(path)
    if warning:
        click.echo(warning, err=True)
    click.echo(f"wrote token data to {path}")
    if bench_dir is not None:
        click.echo(f"contamination report in {Path(path) / 'contamination.md'}")


@click.command()
@click.option("--preset", type=click.Choice(list(PRESETS)), default=None, metavar="PRESET",
              help=f"Model preset: {', '.join(PRESETS)}.  [default: from --config, else {TrainConfig.preset}]")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Data directory from substrate prepare.")
@click.option("--table", type=click.Path(exists=True, file_okay=False), default=None, help="Frozen table directory (frozen presets).")
@click.option("--out", required=True, type=click.Path(), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--resume-from", type=click.Path(exists=True, file_okay=False), default=None, help="Continue from this checkpoint directory.")
@click.option("--force", is_flag=True, help="Delete an existing run in --out and start over.")
@click.option("--init", "init", type=click.Path(exists=True, file_okay=False), default=None,
              help="Start from this model's weights and architecture (e.g. a directory from substrate export).")
@training_options
def train(preset, data, table, out, resume, resume_from, force, init, config_path, model_set, progress, **kw):
    """Train a model on prepared data (single process, or one process of a torchrun launch)."""
    from unicode_substrate.train.trainer import train as run

    if resume and resume_from:
        raise SubstrateError("give --resume or --resume-from, not both")
    cfg = _config(preset, config_path, model_set, **kw)
    path = run(cfg, data, out, table=table, resume=resume_from or resume, force=force, progress=progress, init=init)
    click.echo(final_line(path))
    click.echo(f"run written to {path}")


def final_line(path) -> str:
    """A run's final validation figures from its summary: what a user wants to see first."""
    from unicode_substrate.run import Run

    s = Run.load(path).summary() or {}
    numbers = all(isinstance(s.get(k), (int, float)) and not isinstance(s.get(k), bool) for k in ("val_loss", "val_bpb"))
    if not numbers:
        return "finished (the summary holds no validation figures)"
    counts = all(isinstance(s.get(k), int) for k in ("val_tokens", "val_bytes"))
    size = f" over {s['val_tokens']:,} tokens ({s['val_bytes']:,} bytes)" if counts else ""
    return f"final validation at step {s.get('steps')}: loss {s['val_loss']:.4f} nats/token, {s['val_bpb']:.4f} bits per byte{size}"


@click.command()
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Run directory from substrate train.")
@click.option("--prompt", default="", help="Text to continue (default: start a new document).")
@click.option("--max-new-tokens", type=ranged("max_new_tokens"), default=GENERATE_MAX_NEW_TOKENS, show_default=True, help="Tokens to sample after the prompt.")
@click.option("--temperature", type=ranged("temperature"), default=GENERATE_TEMPERATURE, show_default=True, help="Softmax temperature; 0 = greedy (always the likeliest token).")
@click.option("--top-k", type=ranged("top_k"), default=GENERATE_TOP_K, show_default=True, help="Sample among the k likeliest tokens (0 = all).")
@click.option("--samples", type=ranged("samples"), default=1, show_default=True, help="Independent continuations of the same prompt.")
@click.option("--seed", type=ranged("seed"), default=0, show_default=True, help="Sampling seed: the same seed gives the same text.")
@click.option("--checkpoint", type=click.Path(exists=True, file_okay=False), default=None, help="A checkpoint (default: the newest).")
@click.option("--tokenizer", type=click.Path(exists=True, file_okay=False), default=None, help="Tokenizer directory (default: the run's).")
@click.option("--table", type=click.Path(exists=True, file_okay=False), default=None, help="Table directory (default: the run's).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
def generate(run_dir, prompt, max_new_tokens, temperature, top_k, samples, seed, checkpoint, tokenizer, table, device):
    """Sample continuations from a trained run."""
    from unicode_substrate.generate import generate as run

    texts = run(run_dir, prompt, max_new_tokens, temperature, top_k or None, seed, samples, checkpoint, tokenizer, table, device)
    for i, text in enumerate(texts):
        if samples > 1:
            click.echo(f"--- sample {i + 1}")
        click.echo(text)


@click.command()
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Data directory from substrate prepare.")
@click.option("--variant", "variants", multiple=True, required=True, metavar="NAME=PRESET[:TABLE]",
              help="A variant to train, e.g. glyph=tiny-glyph:artifacts/table or trainable=tiny-unfrozen (two or more). "
                   "NAME names its folder: " + NAME_RULE + ".")
@click.option("--out", required=True, type=click.Path(), help="Folder for the runs, report.md and loss_curves.png.")
@click.option("--force", is_flag=True, help="Replace an existing comparison in --out.")
@click.option("--eval-tasks", default=None, metavar="T1,T2,...", help="Also evaluate every run on these benchmarks (see substrate eval).")
@click.option("--eval-data-dir", type=click.Path(), default=None, help="Benchmark folder for --eval-tasks.")
@click.option("--eval-protocol", type=click.Choice(EVAL_PROTOCOLS), default=DEFAULT_EVAL_PROTOCOL, show_default=True,
              help="How --eval-tasks are scored: paper = generate and match as the papers do; loglik = likeliest answer "
                   "continuation (multiple choice only); both.")
@click.option("--eval-runs", type=ranged("eval_runs"), default=10, show_default=True, help="Paper protocol runs per item.")
@click.option("--eval-limit", type=ranged("eval_limit"), default=None, help="At most N items per benchmark.")
@click.option("--seeds", default=None, metavar="S1,S2,...",
              help="Train every variant once per seed (a seed sets initialisation and batch order; the same seed gives every "
                   "variant the same batches) and report means with 95 % intervals and paired t-tests (see docs/statistics.md). "
                   "[default: --seed alone]")
@training_options
def compare(data, variants, out, force, eval_tasks, eval_data_dir, eval_protocol, eval_runs, eval_limit, seeds, config_path,
            model_set, progress, **kw):
    """Train variants on identical data, seed, schedule and steps; write a report with loss curves."""
    from unicode_substrate.experiments.compare import compare as run
    from unicode_substrate.experiments.compare import parse_variant
    from unicode_substrate.experiments.report import report_tables

    if (eval_tasks is None) != (eval_data_dir is None):
        raise SubstrateError("--eval-tasks and --eval-data-dir go together")
    from unicode_substrate.experiments.compare import parse_seeds

    seeds = parse_seeds(seeds)
    if seeds is not None and kw.get("seed") is not None:
        raise SubstrateError("give --seed or --seeds, not both")
    cfg = _config(None, config_path, model_set, **kw)
    report = run([parse_variant(v) for v in variants], data, out, cfg, force=force, progress=progress, seeds=seeds,
                 eval_tasks=eval_tasks, eval_data_dir=eval_data_dir,
                 eval_options={"protocol": eval_protocol, "runs": eval_runs, "limit": eval_limit, "seed": cfg.seed})
    if progress:  # the report's tables on the terminal, as eval prints its scores
        click.echo(report_tables(report.read_text(encoding="utf-8")), err=True)
    click.echo(f"report written to {report}")
