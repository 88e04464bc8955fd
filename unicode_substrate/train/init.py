"""Starting a run from something other than random weights: a registry of initial-weight sources.

``substrate train --init PATH`` (or ``hooks_for_init(PATH, cfg)`` from Python) asks each
registered ``Initializer`` in turn whether ``PATH`` is one of its sources (``detect``); the first
that says yes ``load``s it into an ``InitSource``: the model configuration the run must use, the
keys it adds to the run identity, and ``build(mcfg, table, backend)``, which makes the network
with its initial weights. ``hooks_for_init`` turns that into the trainer's ``Hooks``
(``build_model`` and ``identity``) and the training configuration with the source's model, so the
trainer loop has no branch for it. A checkpoint of such a run is an ordinary one (the identity's
``architecture`` picks the builder in ``run.MODEL_BUILDERS`` as for any run).

Registering another source (e.g. fusing several runs into one model) takes one object::

    from unicode_substrate.train.init import INITIALIZERS, InitSource

    class FusionInitializer:
        name = "fusion"
        def detect(self, path): return (Path(path) / "fusion.json").is_file()
        def load(self, path): return InitSource(model_config=..., identity={"architecture": "fused", ...},
                                                build=lambda mcfg, table, backend: ...)

    INITIALIZERS.append(FusionInitializer())

``build`` runs where the trainer builds its model (right after ``torch.manual_seed(cfg.seed)``);
it receives the run's verified frozen table (or None) and must return a module whose
``state_dict`` the trainer checkpoints. An ``identity`` with an ``architecture`` other than
"gpt" needs a builder registered in ``run.MODEL_BUILDERS`` so the run can be loaded later.

Registered here: ``HFExportInitializer``, a GPT-NeoX directory written by ``substrate export``
(detected by the ``unicode_substrate`` key of its config.json).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from unicode_substrate.choices import ARCH_FUSED as FUSED
from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig
from unicode_substrate.run import TABLE_KEY, TOKENIZER_KEY

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unicode_substrate.train.config import TrainConfig
    from unicode_substrate.train.hooks import Hooks

# ModelConfig fields a run started from a source may still choose (they change no weight).
FREE_FIELDS = frozenset({"dropout", "init_std"})


@dataclass(frozen=True)
class InitSource:
    """What the trainer needs to start from a source: its model, its identity keys, its network."""

    model_config: ModelConfig
    build: Callable[[ModelConfig, "torch.Tensor | None", str], "torch.nn.Module"]
    identity: dict[str, Any] = field(default_factory=dict)


class Initializer(Protocol):
    name: str

    def detect(self, path: Path) -> bool:
        """True when ``path`` is a source this initializer reads."""

    def load(self, path: Path) -> InitSource:
        """Read the source (verified); a one-line SubstrateError when it cannot be used."""


class HFExportInitializer:
    """A GPT-NeoX directory from ``substrate export`` (or one fine-tuned from it and saved by transformers)."""

    name = "hf-export"

    def detect(self, path: Path) -> bool:
        from unicode_substrate.export import read_export_config

        return read_export_config(path) is not None

    def load(self, path: Path) -> InitSource:
        from unicode_substrate.artifacts import sha256_file
        from unicode_substrate.export import FILES, read_export
        from unicode_substrate.model.neox import CONFIG_KEY, from_neox
        from unicode_substrate.run import build_gpt

        config, tensors = read_export(path)
        ours = config[CONFIG_KEY]
        try:
            mcfg = ModelConfig(**ours["model"])
        except (KeyError, TypeError, ValueError) as e:
            raise SubstrateError(f"{path} holds a model configuration this version cannot build: {e}") from None
        check_standard_config(path, config, mcfg)
        check_export_tensors(path, tensors, mcfg)

        def build(run_mcfg: ModelConfig, table, backend: str):
            model = build_gpt(run_mcfg, table, backend)
            try:
                model.load_state_dict(from_neox(tensors, run_mcfg, table), strict=True)
            except (RuntimeError, ValueError) as e:  # a shape the checks above did not foresee
                raise SubstrateError(f"the weights of {path} do not fit its configuration: {str(e).splitlines()[0]}") from None
            return model

        identity = {"init": {"source": self.name, "weights_sha256": sha256_file(Path(path) / FILES.weights),
                             TOKENIZER_KEY: ours.get(TOKENIZER_KEY), TABLE_KEY: ours.get(TABLE_KEY)}}
        return InitSource(model_config=mcfg, build=build, identity=identity)


# The standard GPT-NeoX config.json fields, as transformers reads them, that must say what our section says:
# a changed head count (or width, rotary base, ...) would make transformers compute another model.
STANDARD_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                   "hidden_act", "max_position_embeddings", "layer_norm_eps", "use_parallel_residual", "rotary_pct",
                   "rotary_emb_base", "attention_bias", "tie_word_embeddings")


def check_standard_config(path: Path, config: dict, mcfg: ModelConfig) -> None:
    """Refuse an export whose standard config fields disagree with our section's model (fields absent pass)."""
    from unicode_substrate.model.neox import neox_config

    want = neox_config(mcfg, {}, "float32", {})
    for key in STANDARD_FIELDS:
        if key in config and config[key] != want[key]:
            raise SubstrateError(f"{path}/config.json says {key}={config[key]!r} but its unicode_substrate section "
                                 f"describes {want[key]!r}; the two would be different models")
    rope = config.get("rope_parameters")
    if isinstance(rope, dict):
        for key, value in want["rope_parameters"].items():
            if key in rope and rope[key] != value:
                raise SubstrateError(f"{path}/config.json says rope_parameters.{key}={rope[key]!r} but its "
                                     f"unicode_substrate section describes {value!r}; the two would be different models")


def check_export_tensors(path: Path, tensors: dict, mcfg: ModelConfig) -> None:
    """Every tensor a floating-point one of the shape ``mcfg`` gives it (computed on the meta device, no memory)."""
    import torch

    from unicode_substrate.model.neox import to_neox
    from unicode_substrate.run import build_gpt

    for name, t in tensors.items():
        if not t.is_floating_point():
            raise SubstrateError(f"{path}: tensor {name} is {str(t.dtype).replace('torch.', '')}, not floating point; "
                                 "weights stored as integers would be cast silently")
    with torch.device("meta"):
        table = torch.empty(mcfg.vocab_size, mcfg.n_embed) if mcfg.embedding == "frozen" else None
        want = {k: tuple(v.shape) for k, v in to_neox(build_gpt(mcfg, table, "torch").state_dict(), mcfg, table).items()}
    for name, shape in want.items():
        if name in tensors and tuple(tensors[name].shape) != shape:
            raise SubstrateError(f"{path}: tensor {name} has shape {list(tensors[name].shape)}, but its configuration "
                                 f"gives {list(shape)}")


class FusedRunInitializer:
    """``train --init FUSED``: start from a fused run; what trains (adapter or all) is the run's ``fuse.trainable``."""

    name = "fused-run"

    def detect(self, path: Path) -> bool:
        from unicode_substrate.run import Run

        try:
            return Run.load(path).identity.get("architecture") == FUSED
        except SubstrateError:
            return False

    def load(self, path: Path):
        import torch

        from unicode_substrate.model.fused import build_fused
        from unicode_substrate.artifacts import manifest_sha256
        from unicode_substrate.run import Run

        run = Run.load(path)
        trainable = (run.record.sections.get("fuse") or {}).get("trainable", "all")
        weights, ckpt_path = run.weights()
        own_table = run.table()

        def build(mcfg, table, backend: str):
            if (table is None) != (own_table is None) or (table is not None and not torch.equal(table, own_table)):
                raise SubstrateError(f"the table given is not the one fused run {path} was built on")
            model = build_fused(run.identity, table, backend)
            model.load_state_dict(weights, strict=True)
            for name, p in model.named_parameters():
                p.requires_grad_(trainable == "all" or name.startswith("adapter."))
            return model

        identity = {key: run.identity[key] for key in ("architecture", "experts", "adapter")}
        identity["init"] = {"source": self.name, "checkpoint_sha256": manifest_sha256(ckpt_path), "trainable": trainable,
                            TOKENIZER_KEY: run.tokenizer_sha256, TABLE_KEY: run.table_sha256}
        return InitSource(model_config=run.model_config, build=build, identity=identity)


INITIALIZERS: list[Initializer] = [HFExportInitializer(), FusedRunInitializer()]


def load_init(path: str | Path) -> InitSource:
    """The source at ``path`` read by the first registered initializer that recognises it."""
    path = Path(path)
    if not path.exists():
        raise SubstrateError(f"initial model {path} does not exist")
    for init in INITIALIZERS:
        if init.detect(path):
            return init.load(path)
    kinds = ", ".join(i.name for i in INITIALIZERS)
    raise SubstrateError(f"{path} is not a model this version can start from (it reads: {kinds})")


def hooks_for_init(path: str | Path, cfg: "TrainConfig", data: str | Path | None = None) -> tuple["TrainConfig", "Hooks"]:
    """The training configuration and trainer hooks that start a run from the source at ``path``.

    The source fixes the model: ``cfg``'s own model overrides may only set fields that change
    no weight (dropout, init_std) or repeat the source's values. With ``data`` (a token data
    directory), a source trained on another tokenizer than the data's is refused.
    """
    from unicode_substrate.train.hooks import Hooks

    src = load_init(path)
    fixed = src.model_config.to_dict()
    clash = {k: v for k, v in cfg.model.items() if k not in FREE_FIELDS and fixed.get(k, v) != v}
    if clash:
        k = sorted(clash)[0]
        raise SubstrateError(f"the initial model {path} fixes {k}={fixed[k]!r}; it cannot be {clash[k]!r}")
    want = src.identity.get("init", {}).get(TOKENIZER_KEY)
    tokenizer_sha256 = None
    if data is not None:
        from unicode_substrate.tokens import TokenData

        tokenizer_sha256 = TokenData.load(data).tokenizer_sha256
    if tokenizer_sha256 is not None and want is not None and want != tokenizer_sha256:
        raise SubstrateError(f"the initial model {path} was trained with tokenizer {want[:12]}..., "
                             f"but the data was tokenized with {tokenizer_sha256[:12]}...")
    model = {**fixed, **{k: v for k, v in cfg.model.items() if k in FREE_FIELDS}}
    return cfg.replace(model=model), Hooks(build_model=src.build, identity=src.identity, inputs=(path,))
