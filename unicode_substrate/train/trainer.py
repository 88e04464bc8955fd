"""The training loop: AdamW, warmup + cosine, clipping, accumulation, checkpoints, validation, DDP/FSDP.

``train(cfg, data, out, table)`` runs one job as a single process or as one process of a
``torchrun`` launch, in three parts: ``build_job`` (inputs checked, run directory prepared,
model, optimizer and distributed wrapping built, start checkpoint loaded), ``run_loop`` (the
steps, logging, validation, checkpoints) and ``write_summary``. ``Hooks`` let a caller build
another network (growth, fusion) or run another evaluation. The run directory's files are
named in ``run.py``. Everything a later step depends on (weights, optimizer moments, step, RNG) is in a checkpoint,
and batches are a pure function of (seed, step), so ``resume`` reproduces an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from unicode_substrate.artifacts import (atomic_output_dir, atomic_write_bytes, canonical_json, check_output, check_resumable,
                                         output_lock, recorded_path)
from unicode_substrate.errors import SubstrateError
from unicode_substrate.kernels import check_backend
from unicode_substrate.model import ModelConfig
from unicode_substrate.progress import Progress
from unicode_substrate import checkpoint as ckpt
from unicode_substrate.train.config import TrainConfig, device_available, resume_changes
from unicode_substrate.tokens import IGNORE, TokenData, n_windows, val_score, window_batch
from unicode_substrate.train.hooks import Hooks
from unicode_substrate.train.loggers import check_loggers, open_loggers
from unicode_substrate.train.distributed import DistInfo, dist_info_from_env, init_distributed, shutdown_distributed
from unicode_substrate.run import (
    METRICS_FILE,
    RUN_KIND,
    SUMMARY_FILE,
    Run,
    RunRecord,
    build_gpt,
    check_identity,
    parse_metrics_line,
    run_identity,
)
from unicode_substrate.train.inputs import check_inputs



def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for 0-based ``step``: linear warmup to ``lr``, then cosine down to ``min_lr`` at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decoupled weight decay on matrices only; biases and norm gains are not decayed."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def optimizer_state_bytes(opt: torch.optim.Optimizer) -> int:
    """Bytes held by the optimizer's per-parameter state on this process."""
    return sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values() if torch.is_tensor(t))


def _device(cfg: TrainConfig, info: DistInfo) -> torch.device:
    if cfg.device == "cuda":  # under torchrun, plain "cuda" means this process's own GPU
        device_available(cfg.device)
        return torch.device(f"cuda:{info.local_rank}")
    if cfg.device != "auto":
        device_available(cfg.device)  # a CPU build asked for cuda: one line, not an AttributeError
        return torch.device(cfg.device)
    return torch.device(f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu")


def _autocast(cfg: TrainConfig, device: torch.device):
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    if use_bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _all_mean(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        import torch.distributed as dist

        x = x.clone()
        dist.all_reduce(x)
        x /= info.world_size
    return x


def _all_sum(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        import torch.distributed as dist

        x = x.clone()
        dist.all_reduce(x)
    return x


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: TokenData, context: int, batch_size: int, max_tokens: int,
             device: torch.device, autocast, info: DistInfo = DistInfo()) -> dict:
    """Validation loss (nats per token) and bits per byte over a whole-document prefix of the split.

    Non-overlapping windows of ``context`` tokens predict every token of the prefix but the
    first exactly once; bits per byte = total nats / ln 2 / UTF-8 bytes of that text.
    """
    val, n_bytes = data.val_prefix(max_tokens)
    n_win = n_windows(len(val), context)
    batches = [list(range(i, min(i + batch_size, n_win))) for i in range(0, n_win, batch_size)]
    per_rank = math.ceil(len(batches) / info.world_size)
    total = torch.zeros(2, dtype=torch.float64, device=device)  # nats, predicted tokens
    was_training = model.training
    model.eval()
    for j in range(per_rank):
        b = j * info.world_size + info.rank
        wins = batches[b] if b < len(batches) else [n_win]  # an all-ignored batch keeps ranks in step
        x, y = window_batch(val, wins, context)
        xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        with autocast:
            logits, _ = model(xt)
        nats = F.cross_entropy(logits.float().view(-1, logits.size(-1)), yt.view(-1), ignore_index=IGNORE, reduction="sum")
        total += torch.stack([nats.double(), (yt != IGNORE).sum().double()])
    model.train(was_training)
    total = _all_sum(total, info)
    nats, count = float(total[0]), float(total[1])
    return {**val_score(nats, count, n_bytes), "val_tokens": int(count), "val_bytes": n_bytes}


class _Metrics:
    """Append-only JSONL metrics on the main process; on resume, lines past the checkpoint are dropped."""

    def __init__(self, path: Path, enabled: bool, resume_step: int | None):
        self.path, self.enabled = path, enabled
        if enabled and resume_step is not None and path.exists():
            keep = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()
                    if (r := parse_metrics_line(ln)) is not None and r.get("step", 0) <= resume_step]
            atomic_write_bytes(path, "".join(ln + "\n" for ln in keep).encode("utf-8"))
        elif enabled:
            path.write_text("", encoding="utf-8")

    def write(self, record: dict) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")


def _barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def _prepare_run_dir(out: Path, record: RunRecord, resume: bool | str | None, force: bool, info: DistInfo,
                     inputs: tuple, start_step: int = 0) -> Run:
    # Every rank checks before any rank writes, so all of them accept or refuse the directory alike.
    if check_resumable(out, RUN_KIND, "training run", force=force, resume=bool(resume), inputs=inputs):
        run = Run.load(out)
        check_identity(record.identity, run.identity, f"cannot resume {out}")
        # Options that may change are recorded with the step they take effect at; the rest are refused.
        changed = resume_changes(run.record.train or {}, TrainConfig(**record.train), run.record.world_size, record.world_size)
        if changed and info.is_main:
            sections = {**run.record.sections,
                        "changes": [*run.record.sections.get("changes", []), {"step": start_step, "changed": changed}]}
            run = run.update(run.record.replace(train=record.train, world_size=record.world_size, sections=sections))
        _barrier(info)
        return run
    # --force replaces only a run (never an input, never another folder), and only once the new run is written.
    check_output(out, force=force, kind=RUN_KIND, inputs=inputs, held=not info.is_main)  # rank 0 holds the job's lock
    _barrier(info)
    run = Run.create(out, record, force=force, inputs=inputs) if info.is_main else Run(out, record)
    _barrier(info)
    return run


def _state_dicts(model, opt) -> tuple[dict, dict]:
    """Full (unsharded) model and optimizer state dicts keyed by parameter name; every rank must call this.

    One format for single-process, DDP and FSDP runs, so a checkpoint resumes under any of them.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=opts), get_optimizer_state_dict(model, opt, options=opts)


def _load_state_dicts(model, opt, weights: dict, opt_state: dict) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

    missing = set(model.state_dict()) ^ set(weights)
    if missing:
        raise SubstrateError(f"checkpoint weights do not fit the model: {', '.join(sorted(missing)[:3])} ...")
    opts = StateDictOptions(full_state_dict=True, strict=True)
    set_model_state_dict(model, weights, options=opts)
    set_optimizer_state_dict(model, opt, opt_state, options=opts)


@dataclass
class Job:
    """Everything built before the first step: configuration, data, model, optimizer, start point."""

    cfg: TrainConfig
    out: Path
    data: TokenData
    context: int
    identity: dict
    info: DistInfo
    device: torch.device
    model: torch.nn.Module
    wrapped: torch.nn.Module
    opt: torch.optim.Optimizer
    run: Run
    start: int = 0
    start_ckpt: Path | None = None


def train(cfg: TrainConfig, data: str | Path, out: str | Path, table: str | Path | None = None,
          resume: bool | str | None = None, force: bool = False, progress: bool = True,
          hooks: Hooks | None = None, init: str | Path | None = None, label: str = "train") -> Run:
    """Train (or with ``resume``: continue, from the newest checkpoint or a given one) and return the run.

    ``init`` starts from another model's weights and architecture (an export, a fused run; see
    ``train/init.py``): its model replaces ``cfg``'s, and it counts as an input of the run. ``label``
    names the run in progress output (growth: the stage, compare: the variant).
    """
    if init is not None:
        if hooks is not None:
            raise SubstrateError("a run starts from an initial model or from its own hooks, not both")
        from unicode_substrate.train.init import hooks_for_init

        cfg, hooks = hooks_for_init(init, cfg, data=data)
    info = dist_info_from_env()
    out = Path(out)
    if force and not resume and info.world_size == 1 and out.is_dir() and any(out.iterdir()):
        return _train_beside(cfg, Path(data), out, table, progress, hooks or Hooks(), label)
    device = _device(cfg, info)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before NCCL starts, so each process talks from its own GPU
    init_distributed(info, device.type)
    # One writer per run for the whole job: a second train, resume or --force of the same folder is refused.
    lock = output_lock(Path(out), whole_job=True) if info.is_main else contextlib.nullcontext()
    try:
        with lock:
            job = build_job(cfg, Path(data), Path(out), table, resume, force, info, device, hooks or Hooks())
            return run_loop(job, progress, hooks or Hooks(), label)
    finally:
        shutdown_distributed()


def _train_beside(cfg: TrainConfig, data: Path, out: Path, table, progress: bool, hooks: Hooks, label: str) -> Run:
    """``--force`` over an existing run: train the new run in a hidden folder beside ``out`` and replace
    the old run only once the new one is complete (a failed or interrupted run leaves the old one).

    The folder is a sibling of ``out``, so the paths the run records relative to itself hold after
    the rename. A launch of several processes replaces the old run at the start instead (its ranks
    would each need the hidden folder's name).
    """
    inputs = (data, table, *hooks.inputs)
    with output_lock(out, whole_job=True):
        check_resumable(out, RUN_KIND, "training run", force=True, resume=False, inputs=inputs)
        with atomic_output_dir(out, force=True, kind=RUN_KIND, inputs=inputs) as tmp:
            train(cfg, data, tmp, table=table, force=True, progress=progress, hooks=hooks, label=label)
    return Run.load(out)


def build_job(cfg: TrainConfig, data_dir: Path, out: Path, table: str | Path | None, resume: bool | str | None,
              force: bool, info: DistInfo, device: torch.device, hooks: Hooks) -> Job:
    """Check the inputs, prepare the run directory, build model and optimizer, load the start checkpoint."""
    inputs = check_inputs(cfg, data_dir, table)
    data, mcfg, context, weight = inputs.data, inputs.model, inputs.context, inputs.table
    check_backend(cfg.kernels, device.type)
    check_loggers(cfg.log)  # a missing logger package is refused before the run directory is touched
    identity = run_identity(mcfg, data.manifest_sha256, inputs.table_sha256, data.tokenizer_sha256, **hooks.identity)
    tokenizer = data.tokenizer_dir
    record = RunRecord(identity=identity, context=context, train=cfg.to_dict(), world_size=info.world_size,
                       data=recorded_path(data_dir, out), table=recorded_path(table, out),
                       tokenizer=recorded_path(tokenizer, out) if tokenizer else None,
                       table_method=inputs.table_method)  # what the table says it is
    start_ckpt = None
    if resume:
        start_ckpt = ckpt.latest_checkpoint(out) if resume is True or resume == "latest" else Path(resume)
        newer = [p.name for s, p in ckpt.list_checkpoints(out) if s > ckpt.checkpoint_step(start_ckpt)]
        if newer:  # never silently overwrite or interleave with checkpoints from a later point
            raise SubstrateError(f"{out} has checkpoints newer than {start_ckpt.name} ({', '.join(newer)}); move them away to resume from it")
    run = _prepare_run_dir(out, record, resume, force, info, (data_dir, table, *hooks.inputs),
                           ckpt.checkpoint_step(start_ckpt) if start_ckpt else 0)

    torch.manual_seed(cfg.seed)  # same initial weights on every rank and every run
    model = hooks.build_model(mcfg, weight, cfg.kernels).to(device)
    weights_ckpt = state = None
    if start_ckpt is not None:
        weights_ckpt, state, manifest = ckpt.load_checkpoint(start_ckpt)
        check_identity(identity, manifest, f"checkpoint {start_ckpt} belongs to another run")
    wrapped = _wrap(model, cfg, info, device)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                            fused=device.type in ("cuda", "cpu"))  # one kernel per step: ~7x faster on CPU
    start = 0
    if weights_ckpt is not None:
        _load_state_dicts(model, opt, weights_ckpt, state["optimizer"])
        start = int(state["step"])
        torch.set_rng_state(state["rng"]["torch"])
        if device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
    return Job(cfg, out, data, context, identity, info, device, model, wrapped, opt, run, start, start_ckpt)


def _wrap(model: torch.nn.Module, cfg: TrainConfig, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """The module the loop calls: the model itself, or its DDP / FSDP2 wrapping under torchrun."""
    if cfg.parallel == "fsdp" and info.enabled:
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
        return model
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    return model


def save_checkpoint(job: Job, step: int, last_good: str | None) -> str:
    """Write the checkpoint after ``step`` (every rank calls this); refuse non-finite weights."""
    model, info, device = job.model, job.info, job.device
    # Under FSDP each rank checks its own shards (to_local) and the ranks agree by all-reduce.
    local = [p.to_local() if hasattr(p, "to_local") else p for p in model.parameters()]
    finite = torch.stack([t.detach().isfinite().all() for t in local]).all()
    if not bool(_all_mean(finite.float(), info) == 1.0):
        raise SubstrateError(f"weights became non-finite at step {step}; stopped, {_kept(last_good)}")
    weights, opt_state = _state_dicts(model, job.opt)
    rng = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
    path = ckpt.checkpoint_dir(job.out, step)
    if info.is_main:
        path = ckpt.save_checkpoint(job.out, step, weights, {"step": step, "optimizer": opt_state, "rng": rng,
                                                             "seed": job.cfg.seed, "data_position": step},
                                    job.identity, job.cfg.keep_last)
    _barrier(info)
    return str(path)


def _kept(last_good: str | None) -> str:
    return f"the last good checkpoint is {last_good}" if last_good else "no checkpoint had been written yet"


def _train_step(job: Job, step: int, step_fn, autocast) -> tuple[float, float, float]:
    """One optimizer step (with accumulation); returns (loss, learning rate, gradient norm)."""
    cfg, info, device, data = job.cfg, job.info, job.device, job.data
    lr = lr_at(cfg, step)
    for group in job.opt.param_groups:
        group["lr"] = lr
    rows = cfg.batch_size
    global_rows = rows * cfg.grad_accum * info.world_size
    loss_sum = torch.zeros((), device=device)
    for micro in range(cfg.grad_accum):
        first = (info.rank * cfg.grad_accum + micro) * rows
        x, y = data.train_batch(cfg.seed, step, slice(first, first + rows), global_rows, job.context)
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        # Gradients are all-reduced only on the last micro-batch of a step.
        sync = micro == cfg.grad_accum - 1 or not (info.enabled and cfg.parallel == "ddp")
        with contextlib.nullcontext() if sync else job.wrapped.no_sync():
            with autocast:
                _, loss = step_fn(x, y)
            (loss / cfg.grad_accum).backward()
        loss_sum += loss.detach()
    loss_val = float(_all_mean(loss_sum / cfg.grad_accum, info))
    return loss_val, lr, _clip_and_step(job, loss_val, step)


def _clip_and_step(job: Job, loss_val: float, step: int) -> float:
    cfg = job.cfg
    if not math.isfinite(loss_val):
        raise _NonFinite(f"loss is {loss_val} at step {step + 1}")
    # With an infinite limit clip_grad_norm_ only measures (the global norm, also under FSDP).
    params = [p for p in job.model.parameters() if p.requires_grad]
    gnorm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf))
    if not math.isfinite(gnorm):
        raise _NonFinite(f"gradient norm is {gnorm} at step {step + 1}")
    job.opt.step()
    job.opt.zero_grad(set_to_none=True)
    if job.device.type == "cuda":
        torch.cuda.synchronize(job.device)
    return gnorm


class _NonFinite(Exception):
    """A non-finite loss or gradient; the loop adds where the last good checkpoint is."""


def run_loop(job: Job, progress: bool = True, hooks: Hooks | None = None, label: str = "train") -> Run:
    """Train from ``job.start`` to ``cfg.steps``: log, validate, checkpoint; write the summary at the end.

    ``label`` names the run in progress output (growth: the stage)."""
    hooks = hooks or Hooks()
    cfg, info, out = job.cfg, job.info, job.out
    step_fn = torch.compile(job.wrapped) if cfg.compile else job.wrapped
    autocast = _autocast(cfg, job.device)
    metrics = _Metrics(out / METRICS_FILE, info.is_main, job.start if job.start_ckpt is not None else None)
    tokens_per_step = cfg.batch_size * cfg.grad_accum * info.world_size * job.context
    last_good = str(job.start_ckpt) if job.start_ckpt is not None else None
    show = progress and info.is_main
    # A bar on a terminal; in a CI log or a nohup run, a line every 5 % and at least every 30 s.
    bar = Progress(cfg.steps, label, enabled=show, unit="step", initial=job.start)
    loggers = open_loggers(cfg.log, out, info.is_main, job.start if job.start_ckpt is not None else None, cfg.to_dict())
    train_time, tokens_done, last_val = 0.0, 0, None
    job.wrapped.train()
    try:
        for step in range(job.start, cfg.steps):
            t0 = time.perf_counter()
            try:
                loss_val, lr, gnorm = _train_step(job, step, step_fn, autocast)
            except _NonFinite as e:
                raise SubstrateError(f"{e}; stopped, {_kept(last_good)}") from None
            step_time = time.perf_counter() - t0
            train_time += step_time
            tokens_done += tokens_per_step
            done = step + 1
            tps = tokens_done / max(train_time, 1e-9)
            if done % cfg.log_every == 0 or done == cfg.steps:
                record = {"type": "train", "step": done, "loss": loss_val, "lr": lr, "grad_norm": gnorm,
                          "tokens": done * tokens_per_step, "tokens_per_s": tps, "step_s": step_time}
                metrics.write(record)
                loggers.write(record)
            bar.set_postfix(f"loss {loss_val:.4f}, {tps:,.0f} tokens/s")
            bar.update(1)
            if (cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.steps:
                last_val = _validate(job, hooks, done)
                metrics.write({"type": "val", "step": done, **last_val})
                loggers.write({"type": "val", "step": done, "tokens": done * tokens_per_step, **last_val})
                if progress and info.is_main and "val_loss" in last_val:
                    bar.write(f"{label} step {done}: val loss {last_val['val_loss']:.4f}, {last_val['val_bpb']:.4f} bits/byte")
            if (cfg.ckpt_every and done % cfg.ckpt_every == 0) or done == cfg.steps:
                last_good = save_checkpoint(job, done, last_good)
    finally:  # a stopped run still leaves its logger files complete up to where it stopped
        bar.close()
        loggers.close()
    if info.is_main and job.start < cfg.steps:
        write_summary(job, tokens_per_step, tokens_done / max(train_time, 1e-9), last_val)
    return job.run


def _validate(job: Job, hooks: Hooks, step: int) -> dict:
    if hooks.evaluate is not None:
        return hooks.evaluate(job.model, step)
    model = job.model if job.cfg.parallel == "ddp" else job.wrapped
    return evaluate(model, job.data, job.context, job.cfg.eval_batch_size, job.cfg.eval_tokens, job.device,
                    _autocast(job.cfg, job.device), job.info)


def write_summary(job: Job, tokens_per_step: int, tokens_per_s: float, last_val: dict | None) -> None:
    """``summary.json``: sizes, optimizer memory, throughput and the final validation figures."""
    summary = {"parameters": job.model.num_parameters(), "trainable_parameters": job.model.num_parameters(trainable_only=True),
               "optimizer_state_bytes": optimizer_state_bytes(job.opt), "steps": job.cfg.steps, "context": job.context,
               "tokens_per_step": tokens_per_step, "tokens_per_s": tokens_per_s,
               "world_size": job.info.world_size, "device": str(job.device), **(last_val or {})}
    atomic_write_bytes(job.out / SUMMARY_FILE, canonical_json(summary))


