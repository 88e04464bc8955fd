"""Run: the one place a trained run is opened; identity is checked there and nowhere else."""

from __future__ import annotations

import json
import re

import pytest
import torch

from _train_helpers import make_data, make_table, tiny_config
from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig
from unicode_substrate.checkpoint import load_checkpoint
from unicode_substrate.run import RUN_FILE, Run, build_gpt, build_model, check_identity
from unicode_substrate.train.trainer import Hooks, train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    data, table = make_data(tmp / "data"), make_table(tmp / "table")
    return train(tiny_config(steps=4, eval_every=2, ckpt_every=2), data, tmp / "run", table=table, progress=False).path


def test_run_opens_what_the_trainer_wrote(run_dir):
    run = Run.load(run_dir)
    assert [s for s, _ in run.checkpoints()] == [2, 4]
    assert run.checkpoint().name == "step-00000004"
    assert run.model_config == ModelConfig(**run.identity["model"])
    assert [m["step"] for m in run.metrics() if m["type"] == "val"] == [2, 4]
    assert run.summary()["steps"] == 4
    model = run.model()
    assert not model.training
    weights, _, _ = load_checkpoint(run.checkpoint())
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
    older = run.model(run.checkpoints()[0][1])
    assert not torch.equal(older.head.weight, model.head.weight)  # the checkpoint argument is honoured


def test_run_refuses_what_does_not_belong(run_dir, tmp_path):
    with pytest.raises(SubstrateError, match="not a training run"):
        Run.load(tmp_path)
    (tmp_path / RUN_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(SubstrateError, match="not valid JSON"):
        Run.load(tmp_path)
    (tmp_path / RUN_FILE).write_text(json.dumps({"train": {}}), encoding="utf-8")
    with pytest.raises(SubstrateError, match="no identity"):
        Run.load(tmp_path)
    run = Run.load(run_dir)
    other = make_table(tmp_path / "other", seed=5)
    with pytest.raises(SubstrateError, match="not the one run"):
        run.table(other)
    with pytest.raises(SubstrateError, match="does not record its tokenizer"):
        run.tokenizer()  # synthetic data: no tokenizer directory was recorded


def test_identity_check_names_the_key():
    check_identity({"a": 1}, {"a": 1, "b": 2}, "x")
    with pytest.raises(SubstrateError, match="x: its a differs"):
        check_identity({"a": 1}, {"a": 2}, "x")


def test_model_construction_errors_are_one_line():
    cfg = ModelConfig(vocab_size=16, d_model=8, n_layer=1, n_head=2, context=4, n_embed=8)
    with pytest.raises(SubstrateError, match="cannot build the model"):
        build_gpt(cfg, torch.zeros(3, 8))  # the table does not fit the vocabulary
    with pytest.raises(SubstrateError, match="unknown model architecture 'nope'"):
        build_model({"architecture": "nope", "model": cfg.to_dict()}, None)


def test_hooks_choose_the_network_and_the_evaluation(tmp_path):
    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    built, evaluated = [], []

    def build(mcfg, weight, backend):
        built.append(mcfg.n_layer)
        return build_gpt(mcfg.replace(n_layer=1), weight, backend)

    def evaluate(model, step):
        evaluated.append(step)
        return {"custom": float(step)}

    hooks = Hooks(build_model=build, identity={"stage": 1}, evaluate=evaluate)
    out = train(tiny_config(steps=2, eval_every=1), data, tmp_path / "run", table=table, progress=False, hooks=hooks).path
    run = Run.load(out)
    assert built == [2] and evaluated == [1, 2]
    assert run.identity["stage"] == 1
    assert [m.get("custom") for m in run.metrics() if m["type"] == "val"] == [1.0, 2.0]
    # The identity says 2 layers but the hook built 1: opening the run refuses, in one line.
    with pytest.raises(SubstrateError, match="do not fit the model"):
        run.model()


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_run_json_names_its_schema_kind_and_architecture(run_dir):
    from unicode_substrate.artifacts import artifact_kind
    from unicode_substrate.run import RUN_SCHEMA

    raw = json.loads((run_dir / RUN_FILE).read_text())
    assert (raw["schema"], raw["kind"], raw["package"], raw["architecture"]) == (RUN_SCHEMA, "run", "unicode-substrate", "gpt")
    assert artifact_kind(run_dir) == "run"
    assert raw["data"] == "../data" and raw["table"] == "../table"  # beside the run: recorded relative to it


def test_a_run_of_the_previous_schema_still_loads_and_is_recognised(run_dir, tmp_path):
    import shutil

    from unicode_substrate.artifacts import artifact_kind

    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    shutil.copytree(run_dir.parent / "table", tmp_path / "table")
    raw = json.loads((old / RUN_FILE).read_text())
    for key in ("schema", "kind", "package", "architecture"):
        raw.pop(key)
    raw["table"] = str((tmp_path / "table").resolve())  # schema 1 recorded absolute paths
    (old / RUN_FILE).write_text(json.dumps(raw))
    run = Run.load(old)
    assert run.architecture == "gpt" and run.record.table == raw["table"]
    assert artifact_kind(old) == "run"
    torch.testing.assert_close(run.model()(torch.zeros(1, 4, dtype=torch.long))[0],
                               Run.load(run_dir).model()(torch.zeros(1, 4, dtype=torch.long))[0])


def test_a_newer_schema_or_another_kind_is_refused(run_dir, tmp_path):
    import shutil

    for change, message in (({"schema": 99}, "newer than this version reads"), ({"kind": "tokens"}, "not a run")):
        d = tmp_path / str(len(message))
        shutil.copytree(run_dir, d)
        raw = {**json.loads((d / RUN_FILE).read_text()), **change}
        (d / RUN_FILE).write_text(json.dumps(raw))
        with pytest.raises(SubstrateError, match=message):
            Run.load(d)


def test_a_moved_folder_of_runs_still_opens(tmp_path):
    import shutil

    a = tmp_path / "a"
    data, table = make_data(a / "data"), make_table(a / "table")
    train(tiny_config(steps=2, eval_every=2, ckpt_every=2), data, a / "run", table=table, progress=False)
    ids = torch.zeros(1, 4, dtype=torch.long)
    before = Run.load(a / "run").model()(ids)[0]
    shutil.move(a, tmp_path / "b")
    moved = Run.load(tmp_path / "b" / "run")
    assert moved.table_path.resolve() == (tmp_path / "b" / "table").resolve()
    torch.testing.assert_close(moved.model()(ids)[0], before)
    shutil.rmtree(tmp_path / "b" / "table")
    with pytest.raises(SubstrateError, match="the table recorded by run .* is gone") as e:
        moved.model()
    assert e.value.param == "table"


def test_a_checkpoint_of_a_run_on_another_table_is_refused(tmp_path):
    """The whole identity decides: same model settings, other table, is not the run's checkpoint."""
    data = make_data(tmp_path / "data")
    cfg = tiny_config(steps=2, eval_every=2, ckpt_every=2)
    a = train(cfg, data, tmp_path / "a", table=make_table(tmp_path / "ta"), progress=False)
    b = train(cfg, data, tmp_path / "b", table=make_table(tmp_path / "tb", seed=5), progress=False)
    with pytest.raises(SubstrateError, match="does not belong to run .*table_manifest_sha256 differs"):
        a.weights(b.checkpoint())


def test_force_replaces_a_run_only_once_the_new_one_is_complete(tmp_path, monkeypatch):
    """A failing write under --force leaves the old run as it was, byte for byte (train and fuse)."""
    from unicode_substrate import checkpoint as ckpt
    from unicode_substrate import run as run_module
    from unicode_substrate.experiments.fuse import fuse

    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    cfg = tiny_config(steps=2, eval_every=2, ckpt_every=2)
    a = train(cfg, data, tmp_path / "a", table=table, progress=False)
    b = train(cfg.replace(seed=4), data, tmp_path / "b", table=table, progress=False)
    fused = fuse([a.path, b.path], tmp_path / "fused")
    before = {"a": _tree(a.path), "fused": _tree(fused)}

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", fail, raising=False)
    monkeypatch.setattr("safetensors.torch.save_file", fail)
    with pytest.raises(OSError):
        fuse([a.path, b.path], tmp_path / "fused", force=True)
    assert _tree(fused) == before["fused"]
    monkeypatch.setattr(run_module, "atomic_write_bytes", fail)
    with pytest.raises(OSError):
        train(cfg.replace(seed=9), data, tmp_path / "a", table=table, force=True, progress=False)
    assert _tree(a.path) == before["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "data", "fused", "table"]  # no leftovers


def test_force_never_replaces_an_input_or_another_kind(tmp_path):
    from unicode_substrate.experiments.fuse import fuse

    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    cfg = tiny_config(steps=2, eval_every=2, ckpt_every=2)
    a = train(cfg, data, tmp_path / "a", table=table, progress=False)
    b = train(cfg.replace(seed=4), data, tmp_path / "b", table=table, progress=False)
    kept = _tree(a.path)
    with pytest.raises(SubstrateError, match="also an input"):
        fuse([a.path, b.path], a.path, force=True)
    with pytest.raises(SubstrateError, match="'tokens' artifact, not a 'run'"):
        fuse([a.path, b.path], data, force=True)
    with pytest.raises(SubstrateError, match="holds an input"):
        train(cfg, data, tmp_path, table=table, force=True, progress=False)
    assert _tree(a.path) == kept


def test_record_files_are_read_by_one_reader_that_names_file_and_kind(tmp_path):
    """run.json, summary.json, grow.json and manifests: a torn, deep or non-object file is one line."""
    from unicode_substrate.artifacts import read_json_object

    for body, words in (("{broken", "is not valid JSON"), ("[" * 100_000 + "]" * 100_000, "is not valid JSON"),
                        ("[1, 2]", "is not a growth record (not a JSON object)"), (b"\xff", "is not valid JSON")):
        f = tmp_path / "grow.json"
        f.write_bytes(body if isinstance(body, bytes) else body.encode())
        with pytest.raises(SubstrateError, match=re.escape(words)) as e:
            read_json_object(f, "growth record")
        assert str(f) in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "grow.json").write_text('{"stages": []}')
    assert read_json_object(tmp_path / "grow.json", "growth record") == {"stages": []}
