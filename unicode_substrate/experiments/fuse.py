"""``fuse``: trained runs over one tokenizer and frozen table become one fused run (model/fused.py).

The fused run is a run directory like any other: ``run.json`` with an identity whose
``architecture`` is "fused" (``experts``: each expert's model configuration; ``adapter``;
``model``: the first expert's configuration with the shortest context, which names the shared
vocabulary and table width), an empty ``metrics.jsonl``, ``summary.json`` and one checkpoint
``step-00000000`` holding every expert's weights (``experts.<i>.*``) and the adapter's. So
``Run.load(dir).model()``, ``generate`` and ``train --init`` work on it; ``export`` refuses it
(a fusion is not one Hugging Face architecture).
"""

from __future__ import annotations

from pathlib import Path

from unicode_substrate.artifacts import atomic_output_dir, check_output, manifest_sha256, recorded_path
from unicode_substrate.choices import ARCH_FUSED as FUSED
from unicode_substrate.choices import ARCH_GPT
from unicode_substrate.choices import FUSED_TRAINABLE
from unicode_substrate.errors import SubstrateError
from unicode_substrate import checkpoint as ckpt
from unicode_substrate.run import DATA_KEY, RUN_KIND, TABLE_KEY, TOKENIZER_KEY, Run, RunRecord, run_identity

def check_experts(runs: list[Run]) -> None:
    """Refuse experts that do not share tokenizer and frozen table (by manifest hash), naming what differs."""
    if len(runs) < 2:
        raise SubstrateError("a fusion needs at least two experts")
    for r in runs:
        if r.architecture != ARCH_GPT:
            raise SubstrateError(f"expert {r.path} is a {r.architecture} model; fuse plain runs")
    kinds = {r.model_config.embedding for r in runs}
    if "frozen" in kinds and len(kinds) > 1:  # say so, rather than that a table hash differs from None
        r = next(r for r in runs if r.model_config.embedding != "frozen")
        raise SubstrateError(f"expert {r.path} has a trainable embedding while another expert sits on a frozen "
                             "table; fuse experts of one kind (all on one frozen table, or all trainable)")
    first = runs[0]
    for r in runs[1:]:
        for key, what in ((TOKENIZER_KEY, "tokenizer"), (TABLE_KEY, "frozen table")):
            a, b = first.identity.get(key), r.identity.get(key)
            if a != b:
                raise SubstrateError(f"experts {first.path} and {r.path} differ in their {what} "
                                     f"(manifest {str(a)[:12]}... vs {str(b)[:12]}...)")
        for key in ("vocab_size", "embedding", "n_embed"):
            a, b = first.model_config.to_dict()[key], r.model_config.to_dict()[key]
            if a != b:
                raise SubstrateError(f"experts {first.path} and {r.path} differ in {key} ({a} vs {b})")


def fuse(experts: list[str | Path], out: str | Path, adapter: bool = False, trainable: str | None = None,
         table: str | Path | None = None, force: bool = False) -> Path:
    """Write the fused run of ``experts`` to ``out``; ``trainable`` is what ``train --init`` trains later."""
    import torch

    from unicode_substrate.model.fused import FusedModel

    out = Path(out)
    trainable = trainable or ("adapter" if adapter else "all")
    if trainable not in FUSED_TRAINABLE:
        raise SubstrateError(f"trainable must be one of {', '.join(FUSED_TRAINABLE)}, got {trainable!r}")
    if trainable == "adapter" and not adapter:
        raise SubstrateError("only an adapter can train alone; a parameter-free fusion trains all")
    runs = [Run.load(e) for e in experts]
    check_experts(runs)
    inputs = [*experts, table, *(r.table_path for r in runs), *(r.tokenizer_path for r in runs)]
    check_output(out, force=force, kind=RUN_KIND, inputs=inputs)  # before the experts' weights are read
    weights_table = runs[0].table(table)  # verified against the first expert; the others share its hash
    weights, sources = {}, []
    for i, r in enumerate(runs):
        w, path = r.weights()
        weights.update({f"experts.{i}.{k}": v for k, v in w.items()})
        sources.append({"run": recorded_path(r.path, out), "checkpoint_sha256": manifest_sha256(path),
                        DATA_KEY: r.data_sha256})
    configs = [r.model_config for r in runs]
    model = FusedModel(configs, weights_table, adapter=adapter)
    if model.adapter is not None:
        weights.update({f"adapter.{k}": v for k, v in model.adapter.state_dict().items()})
    with torch.no_grad():
        model.load_state_dict(weights, strict=True)  # every expert weight lands somewhere, nothing is left over
    shared = configs[0].replace(context=model.cfg.context)
    identity = run_identity(shared, None, runs[0].table_sha256, runs[0].tokenizer_sha256, architecture=FUSED,
                            experts=[c.to_dict() for c in configs], adapter=adapter)
    record = RunRecord(identity=identity, context=shared.context,
                       table=recorded_path(table if table is not None else runs[0].table_path, out),
                       tokenizer=recorded_path(runs[0].tokenizer_path, out),
                       sections={"fuse": {"experts": sources, "trainable": trainable}})
    summary = {"parameters": model.num_parameters(), "trainable_parameters": model.num_parameters(trainable_only=True),
               "experts": len(runs), "adapter": adapter, "steps": 0}
    # An existing fused run at out is replaced only after the new one is complete.
    with atomic_output_dir(out, force=force, kind=RUN_KIND, inputs=inputs) as tmp:
        Run.write(tmp, record, summary)
        ckpt.save_checkpoint(tmp, 0, model.state_dict(), {"step": 0}, identity, keep_last=1)
    return out
