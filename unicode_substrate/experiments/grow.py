"""Layer-wise growth (Growing Transformers, SPEC D): train a few blocks, freeze them, stack new ones.

A growth directory holds

* ``grow.json`` - the schedule and, after each stage, its record (layers, trainable parameters,
  optimizer-state bytes, steps, throughput, validation);
* ``stages/<k>/`` - one ordinary run per stage, written by the normal trainer, so checkpoints and
  exact resume work per stage; a stage's ``build_model`` hook loads the previous stage's final
  weights, freezes what ``trainable`` does not name (``requires_grad_(False)``: no gradient, no
  optimizer state) and leaves the new blocks as the trainer's seeded initialisation made them;
* ``final/`` - the grown model as a plain run (adapters merged), for generate, eval and export;
* ``monolithic/`` - the control: the same final model trained whole, from scratch, for the same
  total steps as the grown model had: the stages' steps, plus the starting run's steps when the
  growth starts from one (``--from``), so neither side has more training than the other;
* ``report.md`` and ``loss_curves.png``.

Initialisation of new blocks: the GPT-2 initialisation of a model of the stage's depth
(weights N(0, 0.02), residual output projections N(0, 0.02 / sqrt(2 * layers)), biases 0,
LayerNorm gains 1), drawn after ``torch.manual_seed(seed + k - 1)``; with ``init = "identity"``
the new blocks' output projections (weights and biases) start at zero, so a new block adds
nothing and the grown model starts as exactly the previous one. Stage ``k`` draws its batches
with seed ``seed + k - 1`` and has its own warmup and cosine schedule over its steps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from unicode_substrate.artifacts import (PACKAGE, atomic_output_dir, atomic_write_bytes, canonical_json, check_not_input,
                                         check_resumable, clear_stale, leftover_of, manifest_sha256,
                                         output_lock, read_json_object, recorded_path, resolve_recorded)
from unicode_substrate.choices import ARCH_GPT, ARCH_GPT_LORA, GROW_INIT, GROW_TRAINABLE, LORA_ON
from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig
from unicode_substrate.schema import check_keys, is_seed_dir, seed_dir
from unicode_substrate import checkpoint as ckpt
from unicode_substrate.train.config import TrainConfig, load_config, read_toml
from unicode_substrate.run import RUN_FILE, RUN_KIND, Run, build_gpt

GROW_FILE = "grow.json"
GROW_SCHEMA = 2  # 2: grow.json names its kind and package; 1 (without them) is still read
GROW_KIND = "growth"
STAGES_DIR = "stages"
FINAL_DIR = "final"
MONOLITHIC_DIR = "monolithic"
_GROW_KEYS = ("stages", "steps_per_stage", "trainable", "init", "lora", "lora_blocks", "merge")


@dataclass(frozen=True)
class LoraSpec:
    """Low-rank adapters: rank and alpha; which frozen blocks carry them is the schedule's ``lora_blocks``
    (by default every frozen block, in every stage after the first)."""

    rank: int
    alpha: float
    on: str = "frozen"

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or isinstance(self.rank, bool) or self.rank < 1:
            raise SubstrateError(f"lora rank must be a positive integer, got {self.rank!r}")
        if not isinstance(self.alpha, (int, float)) or isinstance(self.alpha, bool) or not self.alpha > 0:
            raise SubstrateError(f"lora alpha must be a positive number, got {self.alpha!r}")
        if self.on not in LORA_ON:
            raise SubstrateError(f"lora on must be one of {', '.join(LORA_ON)}, got {self.on!r}")


@dataclass(frozen=True)
class GrowConfig:
    """A growth schedule: layers added and steps per stage, what trains, plus ordinary training options."""

    train: TrainConfig
    stages: tuple[int, ...]  # layers each stage adds; 0: a stage that adds none (it trains adapters, the head)
    steps_per_stage: tuple[int, ...]
    trainable: str | tuple[str, ...] = "newest+head"  # one for every stage, or one per stage
    init: str = "random"
    lora: LoraSpec | None = None
    # per stage: the frozen blocks that carry adapters, "frozen" (all of them) or 1-based layer numbers;
    # None: every frozen block in every stage after the first
    lora_blocks: tuple | None = None
    merge: tuple[bool, ...] | None = None  # per stage: merge the adapters into the weights at its end (default yes)

    def __post_init__(self) -> None:
        v = self.steps_per_stage
        if not isinstance(v, (list, tuple)) or not v or not all(_is_int(x) and x >= 1 for x in v):
            raise SubstrateError(f"steps_per_stage must be a non-empty list of positive integers, got {v!r}")
        v = self.stages
        if not isinstance(v, (list, tuple)) or not v or not all(_is_int(x) and x >= 0 for x in v):
            raise SubstrateError(f"stages must be a non-empty list of positive integers (0: a stage that adds no layer), "
                                 f"got {v!r}")
        if len(self.stages) != len(self.steps_per_stage):
            raise SubstrateError(f"steps_per_stage has {len(self.steps_per_stage)} entries but stages has {len(self.stages)}")
        n = len(self.stages)
        for name, value, ok in (("trainable", self.trainable, lambda x: x in GROW_TRAINABLE),
                                ("lora_blocks", self.lora_blocks, lambda x: x == LORA_ON[0] or (
                                    isinstance(x, (list, tuple)) and all(_is_int(i) and i >= 1 for i in x))),
                                ("merge", self.merge, lambda x: isinstance(x, bool))):
            if value is None or (name == "trainable" and isinstance(value, str)):
                continue
            if not isinstance(value, (list, tuple)) or len(value) != n:
                raise SubstrateError(f"{name} must be given once or once per stage ({n} entries), got {value!r}")
            bad = [x for x in value if not ok(x)]
            if bad:
                raise SubstrateError(f"{name}: {bad[0]!r} is not one of "
                                     + {"trainable": ", ".join(GROW_TRAINABLE),
                                        "lora_blocks": f'"{LORA_ON[0]}" or a list of 1-based layer numbers',
                                        "merge": "true, false"}[name])
        if isinstance(self.trainable, str) and self.trainable not in GROW_TRAINABLE:
            raise SubstrateError(f"trainable must be one of {', '.join(GROW_TRAINABLE)}, got {self.trainable!r}")
        if self.init not in GROW_INIT:
            raise SubstrateError(f"init must be one of {', '.join(GROW_INIT)}, got {self.init!r}")
        if self.lora is None and (self.lora_blocks is not None or self.merge is not None):
            raise SubstrateError("lora_blocks and merge describe adapters: give lora = { rank = ..., alpha = ... }")
        if self.lora is not None and self.trainable == "all":
            raise SubstrateError('lora goes over frozen blocks, and with trainable = "all" no block is frozen')
        if self.merge is not None and not self.merge[-1]:
            raise SubstrateError("the last stage's adapters are merged (final/ is a plain run): merge ends with true")

    def to_dict(self) -> dict:
        out = {"train": self.train.to_dict(), "stages": list(self.stages), "steps_per_stage": list(self.steps_per_stage),
               "trainable": self.trainable if isinstance(self.trainable, str) else list(self.trainable),
               "init": self.init, "lora": dataclasses.asdict(self.lora) if self.lora else None}
        if self.lora_blocks is not None:  # absent keys keep an older grow.json's config equal (resume)
            out["lora_blocks"] = [b if isinstance(b, str) else list(b) for b in self.lora_blocks]
        if self.merge is not None:
            out["merge"] = list(self.merge)
        return out

    def plan(self, base_layers: int = 0) -> list["StagePlan"]:
        """Every stage's new blocks, what trains, which frozen blocks carry adapters and whether they are
        merged at its end, from ``base_layers`` already trained layers; a schedule that cannot run is an error."""
        plans: list[StagePlan] = []
        layers, carried = base_layers, ()
        for k, added in enumerate(self.stages, 1):
            new = range(layers, layers + added)
            if layers == 0 and added == 0:
                raise SubstrateError(f"stage {k} adds no layer to no model: the first stage of a new model adds layers")
            trainable = "all" if layers == 0 else (self.trainable if isinstance(self.trainable, str) else self.trainable[k - 1])
            blocks: tuple[int, ...] = ()
            if self.lora is not None and layers > 0:
                want = LORA_ON[0] if self.lora_blocks is None else self.lora_blocks[k - 1]
                if want == LORA_ON[0]:
                    blocks = tuple(range(layers))
                else:
                    outside = [i for i in want if i > layers]
                    if outside:
                        raise SubstrateError(f"lora_blocks of stage {k} names layer {outside[0]}, which is not frozen there "
                                             f"(layers 1-{layers} are)")
                    blocks = tuple(sorted({i - 1 for i in want}))
                if blocks and trainable == "all":
                    raise SubstrateError(f'stage {k}: lora goes over frozen blocks, and with trainable = "all" no block is frozen')
            dropped = sorted(set(carried) - set(blocks))
            if dropped:
                raise SubstrateError(f"stage {k - 1} keeps its adapters unmerged (merge = false), so stage {k} must carry "
                                     f"them on: layer {dropped[0] + 1} is missing from its lora_blocks")
            if not added and not blocks and trainable == "newest":
                raise SubstrateError(f"stage {k} adds no layer, carries no adapters and trains nothing")
            merge = True if self.merge is None else self.merge[k - 1]
            plans.append(StagePlan(k, new, trainable, blocks, merge))
            layers, carried = new.stop, (() if merge else blocks)
        return plans

    def stage_config(self, k: int, layers: int) -> TrainConfig:
        """Training options of stage ``k`` (1-based): its steps, its seed, its depth."""
        return self.train.replace(steps=self.steps_per_stage[k - 1], seed=self.train.seed + k - 1,
                                  model={**self.train.model, "n_layer": layers})


@dataclass(frozen=True)
class StagePlan:
    """One stage as it will run: its new blocks, what trains, the blocks with adapters, merged at its end or not."""

    stage: int
    new_blocks: range
    trainable: str
    lora_blocks: tuple[int, ...]
    merge: bool


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_grow_config(values: dict[str, Any], where: str = "growth config", **overrides: Any) -> GrowConfig:
    """A GrowConfig from TOML values: the growth keys plus any ``substrate train`` option but ``steps``."""
    if "steps" in values:
        raise SubstrateError(f"{where}: steps is set per stage (steps_per_stage), not as a whole")
    check_keys(values, set(_GROW_KEYS) | {f.name for f in dataclasses.fields(TrainConfig)} - {"steps"}, where)
    grow = {k: values[k] for k in _GROW_KEYS if k in values}
    for key in ("stages", "steps_per_stage"):
        if key not in grow:
            raise SubstrateError(f"{where}: {key} is required")
    lora = grow.pop("lora", None)
    if lora is not None:
        check_keys(lora, {"rank", "alpha", "on"}, f"{where}: lora (a table like {{ rank = 8, alpha = 16 }})")
        if "rank" not in lora or "alpha" not in lora:
            raise SubstrateError(f"{where}: lora needs rank and alpha")
        lora = LoraSpec(**lora)
    rest = {k: v for k, v in values.items() if k not in _GROW_KEYS}
    steps = grow.get("steps_per_stage")
    total = sum(steps) if isinstance(steps, list) and all(isinstance(s, int) for s in steps) else 1
    try:
        train = load_config(None, **{**rest, **{k: v for k, v in overrides.items() if v is not None}, "steps": max(total, 1)})
    except TypeError as e:
        raise SubstrateError(f"{where}: {e}") from None
    grow = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
            for k, v in grow.items()}
    return GrowConfig(train=train, lora=lora, **grow)


def load_grow_config(path: str | Path, **overrides: Any) -> GrowConfig:
    """Read a growth schedule from TOML (unknown keys and wrong types are one-line errors)."""
    return parse_grow_config(read_toml(path), str(path), **overrides)


# --- building a stage's model ----------------------------------------------------------------------
def trainable_names(names: list[str], trainable: str, new_blocks: range) -> set[str]:
    """Which parameters train in a growth stage whose new blocks are ``new_blocks``."""
    if trainable == "all" or new_blocks.start == 0:  # a first stage is a new model: all of it trains
        return set(names)
    new = tuple(f"blocks.{i}." for i in new_blocks)
    head = ("head.", "ln_f.") if trainable == "newest+head" else ()
    return {n for n in names if n.startswith(new + head)}


def build_stage_model(mcfg: ModelConfig, table, backend: str, previous: dict | None, previous_layers: int,
                      trainable: str, init: str, lora: LoraSpec | None, lora_blocks: tuple[int, ...] | None = None):
    """The stage's network: ``previous`` weights in the lower blocks, new blocks on top, frozen as configured.
    ``lora_blocks`` (0-based) carry adapters (None: every frozen block); ``previous`` may hold a stage's
    unmerged adapters, which go on training here."""
    import torch

    model = build_gpt(mcfg, table, backend)  # seeded GPT-2 initialisation; the new blocks keep it
    new_blocks = range(previous_layers, mcfg.n_layer)
    if lora_blocks is None:
        lora_blocks = tuple(range(previous_layers)) if lora is not None else ()
    if lora_blocks:
        from unicode_substrate.model.lora import add_lora, lora_targets

        add_lora(model, lora_targets(lora_blocks), lora.rank, lora.alpha)
    if previous is not None:
        names = set(model.state_dict())

        def fit(key: str) -> str:  # a plain weight of a block that now carries an adapter is its base layer
            module, _, leaf = key.rpartition(".")
            wrapped = f"{module}.base_layer.{leaf}"
            return wrapped if key not in names and wrapped in names else key

        previous = {fit(k): v for k, v in previous.items()}
        result = model.load_state_dict(previous, strict=False)
        # new blocks, and adapters that start here (lora_B zero), are what the previous stage lacks
        expected_missing = {n for n in model.state_dict() if n.startswith(tuple(f"blocks.{i}." for i in new_blocks))
                            or (".lora_" in n and n not in previous)}
        if result.unexpected_keys or set(result.missing_keys) != expected_missing:
            bad = (result.unexpected_keys or sorted(set(result.missing_keys) ^ expected_missing))[:3]
            raise SubstrateError(f"the previous stage's weights do not fit the grown model: {', '.join(bad)} ...")
    if init == "identity" and previous_layers > 0:
        with torch.no_grad():
            for i in new_blocks:
                for lin in (model.blocks[i].attn.proj, model.blocks[i].mlp.proj):
                    lin.weight.zero_()
                    if lin.bias is not None:
                        lin.bias.zero_()
    plain = {n: n.replace(".base_layer.", ".") for n, _ in model.named_parameters()}
    keep = trainable_names(list(plain.values()), trainable, new_blocks)
    for name, p in model.named_parameters():
        p.requires_grad_(".lora_" in name or plain[name] in keep)
    return model


def stage_weights(stage: str | Path, lora: LoraSpec | None, merge: bool = True) -> tuple[dict, Path]:
    """A finished stage's final weights and its checkpoint: a plain model state dict (adapters merged),
    or with ``merge`` False the adapters kept as they are, for the next stage to train on."""
    path = ckpt.latest_checkpoint(stage)
    weights, _, _ = ckpt.load_checkpoint(path)
    if merge and lora is not None and any(".base_layer." in k for k in weights):
        from unicode_substrate.model.lora import merge_lora_state

        weights = merge_lora_state(weights, lora.rank, lora.alpha)
    return weights, path


# --- the schedule ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Base:
    layers: int
    weights: dict | None
    checkpoint_sha256: str | None
    steps: int = 0  # the starting run's steps at the checkpoint grown from (0 without one)


def _check_inputs(gcfg: GrowConfig, data: Path, table: str | Path | None, from_run: str | Path | None) -> _Base:
    """Everything that can be refused before a file is written: schedule, data, table, starting run."""
    from unicode_substrate.train.inputs import check_inputs

    inputs = check_inputs(gcfg.train, data, table)
    final, d, table_sha = inputs.model, inputs.data, inputs.table_sha256
    base = _Base(0, None, None)
    if from_run is not None:
        run = Run.load(from_run)
        if run.architecture != ARCH_GPT:
            raise SubstrateError(f"run {from_run} is a {run.architecture} model; growth starts from a plain run")
        have, want = run.model_config.to_dict(), final.to_dict()
        diff = [k for k in want if k != "n_layer" and have.get(k) != want[k]]
        if diff:
            raise SubstrateError(f"run {from_run} differs from the growth model in {diff[0]} ({have.get(diff[0])!r} vs {want[diff[0]]!r})")
        for what, have, found in (("table", run.table_sha256, table_sha), ("tokenizer", run.tokenizer_sha256, d.tokenizer_sha256)):
            if have != found:
                raise SubstrateError(f"run {from_run} was trained with another {what} than the one given")
        weights, path = run.weights()
        base = _Base(run.model_config.n_layer, weights, manifest_sha256(path), ckpt.checkpoint_step(path))
    gcfg.plan(base.layers)  # a schedule that cannot run is refused before anything is written
    added = sum(gcfg.stages)
    if base.layers + added != final.n_layer:
        start = f"{base.layers} layers of {from_run} plus " if from_run is not None else ""
        raise SubstrateError(f"stages {list(gcfg.stages)} add up to {start}{added} layers but preset {gcfg.train.preset} "
                             f"has {final.n_layer}")
    return base


def _without_device(value):
    """A recorded value with the training device left out: a growth may resume on another device."""
    if isinstance(value, dict) and isinstance(value.get("train"), dict):
        return {**value, "train": {k: v for k, v in value["train"].items() if k != "device"}}
    return value


def _check_same(out: Path, record: dict) -> None:
    """A growth is resumed only with the configuration and inputs it was started with."""
    old = _read_record(out / GROW_FILE)
    for key in ("config", "from", "data", "table"):
        if _without_device(old.get(key)) != _without_device(record[key]):
            raise SubstrateError(f"cannot resume {out}: it was grown with another {key} (use force to start over)")


def statistics(out: Path) -> tuple[dict, list]:
    """(summary, differences) of a finished growth in ``out``: over seeds, as its report computed them;
    one growth, the grown model's and its control's figures (one seed: no differences tested)."""
    from unicode_substrate.experiments.report import METRICS, SEEDS_JSON, read_statistics
    from unicode_substrate.experiments.stats import mean_interval

    if (out / SEEDS_JSON).is_file():
        return read_statistics(out)
    record = _read_record(out / GROW_FILE)
    rows = {"grown": record["stages"][-1], **({"monolithic": record["monolithic"]} if record.get("monolithic") else {})}
    return {n: {label: mean_interval([r[k]]).to_dict() for k, label in METRICS if r.get(k) is not None}
            for n, r in rows.items()}, []


def _read_record(file: Path) -> dict:
    return read_json_object(file, "growth record")


def _run_stage(cfg: TrainConfig, data: Path, out: Path, table, progress: bool, hooks=None, label: str = "train") -> Run:
    """Train one run to its last step: skip it when finished, resume it when it has a checkpoint."""
    from unicode_substrate.train.hooks import Hooks
    from unicode_substrate.train.trainer import train

    hooks = hooks or Hooks()
    if (out / RUN_FILE).is_file():
        run = Run.load(out)
        for key, value in hooks.identity.items():
            if run.identity.get(key) != value:
                raise SubstrateError(f"{out} was trained as another stage ({key} differs); start the growth over with force")
        if run.unfinished(cfg.steps) is None:  # finished and verified
            return run
        if run.checkpoints() and run.checkpoints()[-1][0] < cfg.steps:  # stopped on the way: resume
            return train(cfg, data, out, table=table, resume=True, progress=progress, hooks=hooks, label=label)
    return train(cfg, data, out, table=table, force=True, progress=progress, hooks=hooks, label=label)


def grow(gcfg: GrowConfig, data: str | Path, out: str | Path, table: str | Path | None = None,
         from_run: str | Path | None = None, resume: bool = False, force: bool = False, monolithic: bool = True,
         progress: bool = True, inputs=(), seeds: list[int] | None = None) -> Path:
    """Grow a model stage by stage into ``out`` (finished stages are skipped on resume); returns report.md.

    ``inputs`` names more paths the growth reads (its schedule file). With ``force`` an existing
    growth is replaced only once the new one is complete: the new one grows in a hidden folder
    beside ``out`` (so the paths it records relative to itself hold after the rename).
    With several ``seeds`` each seed's growth goes to ``out/seed-S`` (and its own report), and
    ``out/report.md`` sets grown against monolithic, paired by seed (mean difference, interval, t-test).
    """
    from unicode_substrate.experiments.compare import parse_seeds

    seeds = parse_seeds(seeds)
    if seeds is not None and len(seeds) == 1:
        gcfg = dataclasses.replace(gcfg, train=gcfg.train.replace(seed=seeds[0]))
    if seeds is not None and len(seeds) > 1:
        check_not_input(Path(out), (Path(data), table, from_run, *inputs,
                                    *(Run.load(from_run).reads() if from_run is not None else ())))
        with output_lock(Path(out), whole_job=True):  # one writer of the growth over seeds
            return _grow_seeds(gcfg, Path(data), Path(out), table, from_run, resume, force, monolithic, progress,
                               seeds, inputs)
    data, out = Path(data), Path(out)
    inputs = (data, table, from_run, *inputs, *(Run.load(from_run).reads() if from_run is not None else ()))
    check_not_input(out, inputs)  # before anything is read or trained, force or not
    base = _check_inputs(gcfg, data, table, from_run)
    record: dict[str, Any] = {"schema": GROW_SCHEMA, "kind": GROW_KIND, "package": PACKAGE, "config": gcfg.to_dict(),
                              "from": recorded_path(from_run, out), "data": recorded_path(data, out),
                              "table": recorded_path(table, out),
                              **({"from_steps": base.steps} if from_run is not None else {})}
    with output_lock(out, whole_job=True):  # one writer of a growth for its whole length
        if check_resumable(out, GROW_KIND, "growth", force=force, resume=resume, inputs=inputs):
            _check_same(out, record)
            return _grow_stages(gcfg, data, out, table, base, record, monolithic, progress)
        if out.exists() and any(out.iterdir()):  # forced over a growth: the new one replaces it once complete
            with atomic_output_dir(out, force=True, kind=GROW_KIND, inputs=inputs) as tmp:
                atomic_write_bytes(tmp / GROW_FILE, canonical_json(record))
                report = _grow_stages(gcfg, data, tmp, table, base, record, monolithic, progress)
            return out / Path(report).relative_to(tmp)
        with atomic_output_dir(out, force=force, kind=GROW_KIND, inputs=inputs) as tmp:
            atomic_write_bytes(tmp / GROW_FILE, canonical_json(record))
        return _grow_stages(gcfg, data, out, table, base, record, monolithic, progress)


def _grow_stages(gcfg: GrowConfig, data: Path, out: Path, table, base: _Base, record: dict, monolithic: bool,
                 progress: bool) -> Path:
    """Train every stage (skipping finished ones), the final run, the control and the report."""
    from unicode_substrate.train.hooks import Hooks

    from unicode_substrate.experiments.report import load_average

    load_start = load_average()
    previous, previous_sha, layers = base.weights, base.checkpoint_sha256, base.layers
    stages = []
    for plan in gcfg.plan(base.layers):
        k, new_blocks = plan.stage, plan.new_blocks
        cfg = gcfg.stage_config(k, new_blocks.stop)
        lora = gcfg.lora if plan.lora_blocks else None
        lora_record = None
        if lora:
            lora_record = dataclasses.asdict(lora)
            if gcfg.lora_blocks is not None or gcfg.merge is not None:  # a schedule's own adapters, said per stage
                lora_record.update(blocks=[i + 1 for i in plan.lora_blocks], merge=plan.merge)
        growth = {"stage": k, "stages": len(gcfg.stages), "layers": new_blocks.stop, "new_blocks": [new_blocks.start, new_blocks.stop],
                  "trainable": plan.trainable, "init": gcfg.init,
                  "lora": lora_record, "previous_checkpoint_sha256": previous_sha}
        # A stage with adapters stores wrapped weights, which the plain builder cannot load: say so by name.
        identity = {"growth": growth, **({"architecture": ARCH_GPT_LORA} if lora else {})}
        hooks = Hooks(build_model=partial(build_stage_model, previous=previous, previous_layers=layers,
                                          trainable=plan.trainable, init=gcfg.init, lora=gcfg.lora,
                                          lora_blocks=plan.lora_blocks), identity=identity)
        stage = _run_stage(cfg, data, out / STAGES_DIR / str(k), table, progress, hooks, label=f"stage {k}/{len(gcfg.stages)}")
        previous, path = stage_weights(stage.path, lora, merge=plan.merge)
        previous_sha, layers = manifest_sha256(path), new_blocks.stop
        summary = stage.summary() or {}
        stages.append({"stage": k, "run": f"{STAGES_DIR}/{k}", "layers": layers, "new_blocks": growth["new_blocks"],
                       "trainable": growth["trainable"], "lora": growth["lora"],
                       **{key: summary.get(key) for key in ("parameters", "trainable_parameters", "optimizer_state_bytes",
                                                            "steps", "tokens_per_step", "tokens_per_s", "val_loss", "val_bpb")}})
        record["stages"] = stages
        atomic_write_bytes(out / GROW_FILE, canonical_json(record))

    _write_final(out / FINAL_DIR, stage, previous, sum(gcfg.steps_per_stage))
    record["final"] = FINAL_DIR
    if monolithic:  # the grown model's total training: its stages and the run it started from
        mono = _run_stage(gcfg.train.replace(steps=base.steps + sum(gcfg.steps_per_stage)), data, out / MONOLITHIC_DIR,
                          table, progress, label="monolithic")
        record["monolithic"] = {"run": MONOLITHIC_DIR, **(mono.summary() or {})}
    record["load_average"] = [load_start, load_average()]
    atomic_write_bytes(out / GROW_FILE, canonical_json(record))
    from unicode_substrate.experiments.report import write_growth_report

    return write_growth_report(out, record)


def _grow_seeds(gcfg: GrowConfig, data: Path, out: Path, table, from_run, resume: bool, force: bool, monolithic: bool,
                progress: bool, seeds: list[int], inputs=()) -> Path:
    """One growth per seed under ``out/seed-S``, then the report over seeds."""
    import sys

    from unicode_substrate.experiments.report import REPORT_MD, SEEDS_JSON, load_average, write_seed_growth_report

    for seed in seeds:  # a growth killed mid-seed (SIGKILL) leaves its lock: cleared when its process is gone
        clear_stale(out / seed_dir(seed))
    check_resumable(out, GROW_KIND, "growth over seeds", force=force, resume=resume, inputs=inputs,
                    ours=lambda o: all(p.name in (REPORT_MD, SEEDS_JSON) or is_seed_dir(leftover_of(p.name) or p.name)
                                       for p in o.iterdir()))
    load_start = load_average()
    records = {}
    for j, seed in enumerate(seeds, 1):
        if progress:
            print(f"seed {seed} ({j}/{len(seeds)})", file=sys.stderr, flush=True)
        sub = out / seed_dir(seed)
        started = sub.exists() and any(sub.iterdir())
        grow(dataclasses.replace(gcfg, train=gcfg.train.replace(seed=seed)), data, sub, table=table, from_run=from_run,
             resume=resume and started, force=force or not started, monolithic=monolithic, progress=progress,
             inputs=inputs)
        records[seed] = _read_record(sub / GROW_FILE)
    return write_seed_growth_report(out, seeds, records, (load_start, load_average()))


def _write_final(out: Path, last: Run, weights: dict, steps: int) -> None:
    """The grown model as a plain run: the last stage's record, adapters merged, one checkpoint."""
    identity = {k: v for k, v in last.identity.items() if k != "architecture"}
    base = last.path
    record = last.record.replace(identity=identity, data=_rebase(last.record.data, base, out),
                                 table=_rebase(last.record.table, base, out), tokenizer=_rebase(last.record.tokenizer, base, out))
    # Ours, rewritten from the stages whenever the growth finishes; replaced only once complete.
    with atomic_output_dir(out, force=True, kind=RUN_KIND) as tmp:
        Run.write(tmp, record, last.summary())
        ckpt.save_checkpoint(tmp, steps, weights, {"step": steps}, identity, keep_last=1)


def _rebase(recorded: str | None, old_base: Path, new_base: Path) -> str | None:
    """A path recorded relative to one run, recorded again relative to another."""
    return recorded_path(resolve_recorded(recorded, old_base), new_base)
