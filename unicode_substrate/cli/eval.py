"""``substrate eval``: a thin wrapper over unicode_substrate.eval.runner.evaluate."""

from __future__ import annotations

import click

from unicode_substrate.cli.options import ranged
from unicode_substrate.choices import DEFAULT_EVAL_PROTOCOL, EVAL_PROTOCOLS, EVAL_TEMPERATURE, EVAL_TOP_K
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.tasks.registry import ALIASES, TASKS  # no torch: the help lists them

# Options that only shape benchmark scoring: with --data and no benchmark they would do nothing, so they are refused.
BENCHMARK_OPTIONS = ("data_dir", "split", "protocol", "runs", "temperature", "top_k", "bos", "limit", "seed", "fewshot",
                     "loglik_choices")


def _given(ctx: click.Context, names) -> list[str]:
    """The options among ``names`` set on the command line (not left at their defaults), as flags."""
    from click.core import ParameterSource

    flags = {p.name: p.opts[0] for p in ctx.command.params}
    return [flags[n] for n in names if ctx.get_parameter_source(n) not in (None, ParameterSource.DEFAULT)]


@click.command("eval")
@click.option("--run", "run_dir", type=click.Path(), default=None, help="Run directory from substrate train.")
@click.option("--hf-model", type=click.Path(), default=None, help="A Hugging Face causal LM directory (loaded offline) instead of a run.")
@click.option("--checkpoint", type=click.Path(), default=None, help="A checkpoint of the run (default: the newest).")
@click.option("--tokenizer", type=click.Path(), default=None, help="Tokenizer directory (default: the run's).")
@click.option("--table", type=click.Path(), default=None, help="Table directory (default: the run's).")
@click.option("--tasks", default=None, metavar="T1,T2,...",
              help=f"Comma-separated: {', '.join(TASKS)} (lm-eval's names {', '.join(ALIASES)} work too), or the "
                   "names of --task-file tasks (default: the --task-file tasks; with --list-files, every task).")
@click.option("--data-dir", type=click.Path(), default=None,
              help="Folder where the benchmarks' official downloads were unpacked (or one sub-folder per task).")
@click.option("--task-path", multiple=True, metavar="TASK=PATH",
              help="Read TASK from this file or folder instead of searching --data-dir (repeatable).")
@click.option("--task-file", multiple=True, type=click.Path(), metavar="TASK.toml",
              help="A TOML file defining a multiple-choice or generative task over your own JSONL/CSV/Parquet (repeatable).")
@click.option("--split", type=click.Choice(["validation", "test"]), default=None,
              help="Split to evaluate (default: each task's own, MMLU test and the others validation).")
@click.option("--list-files", is_flag=True, help="Print which files each task reads, and exit without loading a model.")
@click.option("--data", "data", type=click.Path(), default=None,
              help="A data directory from substrate prepare: score loss and bits per byte on its validation split "
                   "(whole documents), with or without --tasks; needs --run.")
@click.option("--data-tokens", type=ranged("data_tokens"), default=0, show_default=True,
              help="With --data: at most N validation tokens, rounded down to whole documents but at least the "
                   "first document, as training validation counts them (0 = all); the count scored is recorded.")
@click.option("--protocol", type=click.Choice(EVAL_PROTOCOLS), default=DEFAULT_EVAL_PROTOCOL, show_default=True,
              help="paper = generate and match the first character (SQuAD: containment, translation: BLEU); "
                   "loglik = likeliest answer continuation (multiple choice only).")
@click.option("--runs", type=ranged("runs"), default=10, show_default=True, help="Sampled runs per item in the paper protocol.")
@click.option("--temperature", type=ranged("temperature"), default=EVAL_TEMPERATURE, show_default=True, help="Paper protocol sampling temperature (0 = greedy); our choice, unstated by the papers.")
@click.option("--top-k", type=ranged("top_k"), default=EVAL_TOP_K, show_default=True, help="Paper protocol: sample among the k likeliest tokens (0 = all); our choice.")
@click.option("--bos/--no-bos", default=None,
              help="Start every prompt (both protocols) with the tokenizer's BOS token, or with none "
                   "(default: as the tokenizer encodes by default, as the author's script and "
                   "lm-evaluation-harness do).")
@click.option("--limit", type=ranged("limit"), default=None, help="At most N items per task (per translation direction).")
@click.option("--seed", type=ranged("seed"), default=0, show_default=True, help="Seed of item selection and sampling.")
@click.option("--fewshot", type=ranged("fewshot"), default=0, show_default=True, metavar="K",
              help="MMLU: put the first K rows of each subject's dev split before every prompt (0 = zero-shot, as the papers).")
@click.option("--loglik-choices", type=click.Choice(("text", "letters")), default="text", show_default=True,
              help="Log-likelihood protocol: score each choice's text, or (letters) the answer letters for MMLU and "
                   "CommonsenseQA, as lm-evaluation-harness's stock tasks do.")
@click.option("--batch-size", type=ranged("batch_size"), default=16, show_default=True, help="Log-likelihood protocol: items per forward batch; --data: windows per batch.")
@click.option("--device", default="cpu", show_default=True, help="Device to evaluate on (cpu, cuda).")
@click.option("--out", type=click.Path(), default=None, help="Eval directory to write.")
@click.option("--label", default=None, metavar="NAME",
              help="The model's name in results.txt and results-table (default: the run folder, with its variant "
                   "and seed or growth stage).")
@click.option("--force", is_flag=True, help="Replace an existing eval directory.")
@click.option("--progress/--no-progress", default=True,
              help="Progress: a bar on a terminal, else a line every 5 % and at least every 30 s.")
def eval_(run_dir, hf_model, checkpoint, tokenizer, table, tasks, data_dir, data, data_tokens, task_path, task_file,
          split, list_files,
          protocol, runs, temperature, top_k, bos, limit, seed, fewshot, loglik_choices, batch_size, device, out, label,
          force, progress):
    """Score a run (or a Hugging Face model) on local benchmark files with the paper's and the log-likelihood
    protocol, and (--data) a run's loss and bits per byte on a data directory's validation split."""
    if list_files:
        from unicode_substrate.eval.runner import list_files as listing

        for line in listing(tasks, data_dir, fewshot=fewshot, split=split, task_paths=task_path, task_files=task_file):
            click.echo(line)
        return
    if out is None:
        raise SubstrateError("--out is required (the eval directory to write), unless --list-files")
    benchmarks = tasks is not None or bool(task_file) or bool(task_path)
    if not benchmarks and data is None:
        raise SubstrateError("give --tasks (with --data-dir or --task-path), --task-file, or --data, or several")
    ctx = click.get_current_context()
    # Every benchmark setting, passed whole to both paths: none is dropped on the way.
    benchmark = dict(protocol=protocol, runs=runs, limit=limit, seed=seed, temperature=temperature, top_k=top_k or None,
                     fewshot=fewshot, split=split, task_paths=task_path, task_files=task_file, bos=bos,
                     loglik_choices=loglik_choices)
    if data is not None:
        from unicode_substrate.eval.data_score import evaluate_data

        if run_dir is None or hf_model is not None:
            raise SubstrateError("--data scores a run of this toolkit; give --run" + (", not --hf-model" if hf_model else ""))
        unused = [] if benchmarks else _given(ctx, BENCHMARK_OPTIONS)
        if unused:
            raise SubstrateError(f"{', '.join(unused)} set{'s' if len(unused) == 1 else ''} how benchmarks are scored, "
                                 "and --data alone scores none; add --tasks, --task-path or --task-file, or leave "
                                 f"{'it' if len(unused) == 1 else 'them'} out")
        path = evaluate_data(out, data, run_dir, checkpoint=checkpoint, tokenizer=tokenizer, table=table,
                             batch_size=batch_size, max_tokens=data_tokens, device=device, force=force, progress=progress,
                             tasks=tasks, data_dir=data_dir, label=label, **benchmark)
    else:
        if _given(ctx, ("data_tokens",)):
            raise SubstrateError("--data-tokens caps the validation tokens of --data; give --data too, or leave it out")
        from unicode_substrate.eval.runner import evaluate

        path = evaluate(out, tasks, data_dir, run=run_dir, hf_model=hf_model, checkpoint=checkpoint, tokenizer=tokenizer,
                        table=table, batch_size=batch_size, device=device, force=force, progress=progress, label=label,
                        **benchmark)
    from unicode_substrate.eval.report import read_terminal_table

    click.echo(read_terminal_table(path))
    click.echo(f"results written to {path}")
