"""Run: the one place a trained run is opened; identity is checked there and nowhere else."""

from __future__ import annotations

import json

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
    return train(tiny_config(steps=4, eval_every=2, ckpt_every=2), data, tmp / "run", table=table, progress=False)


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
