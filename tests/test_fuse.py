"""substrate fuse: the fused logits are exactly the mean of the experts' (fp32), an adapter starts as
that mean, a fused run loads, generates and trains like any run, and mismatched experts are refused."""

from __future__ import annotations


import pytest
import torch
from click.testing import CliRunner

from _train_helpers import TINY_MODEL, make_char_corpus, make_data, make_table, tiny_config
from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.experiments.fuse import fuse
from unicode_substrate.run import Run
from unicode_substrate.train.trainer import train


@pytest.fixture(scope="module")
def experts(tmp_path_factory):
    """Two experts of different sizes over one char tokenizer and one frozen table, plus their inputs."""
    d = tmp_path_factory.mktemp("fuse")
    _, tok_dir, tok, data = make_char_corpus(d)
    table = make_table(d / "table", dim=8, vocab=tok.vocab_size, tokenizer_sha=tok.manifest_sha256)
    base = {"vocab_size": tok.vocab_size, "n_head": 2, "context": 16, "n_embed": 8}
    runs = []
    for name, size, seed in (("a", {"d_model": 16, "n_layer": 1}, 1), ("b", {"d_model": 32, "n_layer": 2}, 2)):
        cfg = tiny_config(model={**base, **size}, steps=3, seed=seed, eval_tokens=200)
        runs.append(train(cfg, data, d / name, table=table, progress=False))
    return {"runs": runs, "data": data, "table": table, "tok": tok, "base": base, "dir": d}


def _logits(run, ids):
    with torch.no_grad():
        return Run.load(run).model()(ids)[0]


def test_fused_logits_are_exactly_the_mean(experts, tmp_path):
    a, b = experts["runs"]
    ids = torch.randint(0, experts["tok"].vocab_size, (3, 16))
    mean = (_logits(a, ids) + _logits(b, ids)) / 2
    fused = fuse([a, b], tmp_path / "mean")
    assert Run.load(fused).identity["architecture"] == "fused"
    assert torch.equal(_logits(fused, ids), mean)  # bit for bit in fp32
    with_adapter = fuse([a, b], tmp_path / "adapter", adapter=True)
    assert torch.equal(_logits(with_adapter, ids), mean)  # the adapter starts as the mean
    model = Run.load(with_adapter).model()
    assert model.num_parameters(trainable_only=True) == sum(
        Run.load(r).model().num_parameters(trainable_only=True) for r in (a, b)) + 3 * experts["tok"].vocab_size
    with pytest.raises(SubstrateError, match="already exists"):
        fuse([a, b], tmp_path / "mean")
    with pytest.raises(SubstrateError, match="only an adapter can train alone"):
        fuse([a, b], tmp_path / "x", trainable="adapter")


def test_fused_run_generates_and_trains_its_adapter(experts, tmp_path):
    a, b = experts["runs"]
    run = CliRunner().invoke
    res = run(main, ["fuse", "--expert", str(a), "--expert", str(b), "--adapter", "--out", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    args = ["generate", "--run", str(tmp_path / "f"), "--prompt", "the c", "--max-new-tokens", "5", "--temperature", "0"]
    res, again = run(main, args), run(main, args)
    assert res.exit_code == 0, res.output
    assert res.output == again.output and res.output.startswith("the c")
    res = run(main, ["export", "--run", str(tmp_path / "f"), "--out", str(tmp_path / "hf")])
    assert res.exit_code == 2 and "'fused'" in res.output and not (tmp_path / "hf").exists(), res.output

    res = run(main, ["train", "--init", str(tmp_path / "f"), "--data", str(experts["data"]), "--table", str(experts["table"]),
                     "--out", str(tmp_path / "tuned"), "--steps", "2", "--batch-size", "2", "--eval-tokens", "200",
                     "--device", "cpu", "--lr", "0.01"])
    assert res.exit_code == 0, res.output
    from unicode_substrate import checkpoint as ckpt

    weights, state, _ = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "tuned"))
    assert set(state["optimizer"]["state"]) == {"adapter.weight", "adapter.bias"}  # only the adapter trains
    start, _ = Run.load(tmp_path / "f").weights()
    assert all(torch.equal(weights[k], start[k]) for k in start if k.startswith("experts."))
    assert not torch.equal(weights["adapter.weight"], start["adapter.weight"])
    assert Run.load(tmp_path / "tuned").model().adapter is not None


def test_mismatched_experts_are_refused_in_one_line(experts, tmp_path):
    a, _ = experts["runs"]
    d = experts["dir"]
    other_table = make_table(tmp_path / "t2", dim=8, vocab=experts["tok"].vocab_size,
                             tokenizer_sha=experts["tok"].manifest_sha256, seed=7)
    c = train(tiny_config(model={**experts["base"], "d_model": 16, "n_layer": 1}, steps=1, eval_tokens=200),
              experts["data"], tmp_path / "c", table=other_table, progress=False).path
    synthetic = train(tiny_config(model=dict(TINY_MODEL), steps=1, eval_tokens=200), make_data(tmp_path / "sd"),
                      tmp_path / "s", table=make_table(tmp_path / "st"), progress=False).path
    for other, what in ((c, "differ in their frozen table"), (synthetic, "differ in their tokenizer")):
        res = CliRunner().invoke(main, ["fuse", "--expert", str(a), "--expert", str(other), "--out", str(tmp_path / "out")])
        assert res.exit_code == 2 and res.output.startswith("error: experts") and what in res.output, res.output
        assert res.output.count("\n") == 1 and not (tmp_path / "out").exists()
    res = CliRunner().invoke(main, ["fuse", "--expert", str(a), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "at least two experts" in res.output and not (tmp_path / "out").exists()
    assert d.exists()


def test_a_trainable_expert_is_named_as_such_not_as_a_hash_mismatch():
    from types import SimpleNamespace

    from unicode_substrate.choices import ARCH_GPT
    from unicode_substrate.experiments.fuse import check_experts

    def run(name, embedding):
        fields = {"vocab_size": 8, "embedding": embedding, "n_embed": 4}
        return SimpleNamespace(path=name, architecture=ARCH_GPT, identity={},
                               model_config=SimpleNamespace(embedding=embedding, to_dict=lambda: fields))

    with pytest.raises(SubstrateError, match="expert b has a trainable embedding while another expert sits on a frozen"):
        check_experts([run("a", "frozen"), run("b", "trainable")])
    check_experts([run("a", "trainable"), run("b", "trainable")])  # experts of one kind: no refusal here


def test_a_folder_of_runs_given_as_a_run_names_the_runs_inside(tmp_path):
    from unicode_substrate.run import RUN_FILE, Run

    for sub in ("final", "stages/1", "stages/2"):
        (tmp_path / "grown" / sub).mkdir(parents=True)
        (tmp_path / "grown" / sub / RUN_FILE).write_text("{}")
    with pytest.raises(SubstrateError) as e:
        Run.load(tmp_path / "grown")
    assert f"it holds runs: give one of them, e.g. {tmp_path / 'grown' / 'final'}" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SubstrateError, match=r"is not a training run \(no run.json\)$"):
        Run.load(tmp_path / "empty")
