"""substrate grow: frozen blocks stay bit-identical, only the named parameters train, the grown model
starts as its construction says, resume across a stage boundary is exact, bad schedules are one line."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from _train_helpers import TINY_MODEL, make_data, make_table, tiny_config
from unicode_substrate.errors import SubstrateError
from unicode_substrate import checkpoint as ckpt
from unicode_substrate.experiments.grow import GrowConfig, build_stage_model, grow, parse_grow_config, stage_weights, trainable_names
from unicode_substrate.run import Run

MODEL3 = {**TINY_MODEL, "n_layer": 3}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("grow_inputs")
    return make_data(d / "data"), make_table(d / "table")


def _gcfg(**changes) -> GrowConfig:
    base = dict(train=tiny_config(model=dict(MODEL3), ckpt_every=2, eval_every=2, eval_tokens=300),
                stages=(1, 1, 1), steps_per_stage=(4, 4, 4))
    return GrowConfig(**{**base, **changes})


def _final(stage_dir):
    return ckpt.load_checkpoint(ckpt.latest_checkpoint(stage_dir))


def _losses(out, n_stages):
    return [[(m["type"], m["step"], m.get("loss"), m.get("val_loss")) for m in Run.load(out / "stages" / str(k)).metrics()]
            for k in range(1, n_stages + 1)]


# --- presets against SPEC.md ------------------------------------------------------------------------
def _meta_gpt(name: str, **changes):
    from unicode_substrate.model.config import get_preset
    from unicode_substrate.model.gpt import GPT

    c = get_preset(name, **changes)
    with torch.device("meta"):
        return GPT(c, table=torch.empty(c.vocab_size, c.n_embed) if c.embedding == "frozen" else None)


def test_presets_match_the_papers_parameter_counts():
    # SPEC D, controlled study: 180.5M active for the monolithic model on a frozen table, 247.6M fully trainable.
    assert round(_meta_gpt("gt-9l").num_parameters(trainable_only=True) / 1e6, 1) == 180.5
    assert round(_meta_gpt("gt-9l-unfrozen").num_parameters(trainable_only=True) / 1e6, 1) == 247.6
    # The grown model's last stage trains blocks 7-9 plus head and final norm: 104.9M by our count;
    # the paper prints 105.0M (a 0.1M gap no layout of ours explains; see README).
    m = _meta_gpt("gt-9l")
    names = trainable_names([n for n, _ in m.named_parameters()], "newest+head", range(6, 9))
    active = sum(p.numel() for n, p in m.named_parameters() if n in names)
    assert active == 104_899_584 and round(active / 1e6, 1) == 104.9
    # SPEC C, abs-bvv-1..6: 1.3B rising about 0.2B per layer (frozen 4096-wide table counted, as the paper does).
    totals = [_meta_gpt(f"abs-bvv-{n}").num_parameters() for n in range(1, 7)]
    assert round(totals[0] / 1e9, 1) == 1.3
    assert {round((b - a) / 1e9, 1) for a, b in zip(totals, totals[1:])} == {0.2}
    # SPEC D, the long run: a 16-layer model on frozen 16-bit codes, 269.7M.
    assert round(_meta_gpt("bit-16").num_parameters() / 1e6, 1) == 269.7


# --- what a stage builds ----------------------------------------------------------------------------
def test_output_at_growth_is_the_construction():
    from unicode_substrate.model.config import ModelConfig
    from unicode_substrate.model.gpt import GPT

    m1, m2 = ModelConfig(**{**TINY_MODEL, "n_layer": 1}), ModelConfig(**{**TINY_MODEL, "n_layer": 2})
    table = torch.nn.functional.normalize(torch.randn(m1.vocab_size, m1.n_embed), dim=1)
    torch.manual_seed(0)
    prev = GPT(m1, table).eval()
    ids = torch.randint(0, m1.vocab_size, (2, 12))

    torch.manual_seed(5)
    grown = build_stage_model(m2, table, "auto", prev.state_dict(), 1, "newest+head", "random", None).eval()
    torch.manual_seed(5)
    fresh = GPT(m2, table)  # the seeded GPT-2 initialisation the new block keeps
    assert all(torch.equal(a, b) for a, b in zip(grown.blocks[1].state_dict().values(), fresh.blocks[1].state_dict().values()))
    with torch.no_grad():
        h = prev.embed(ids)
        h = prev.blocks[0](h, prev.rope_cos, prev.rope_sin)  # the previous model's hidden state, unchanged
        expect = prev.head(prev.ln_f(grown.blocks[1](h, grown.rope_cos, grown.rope_sin)))
        assert torch.equal(grown(ids)[0], expect)
        assert not torch.allclose(grown(ids)[0], prev(ids)[0])  # a random block changes the output (the papers' spike)

    ident = build_stage_model(m2, table, "auto", prev.state_dict(), 1, "newest+head", "identity", None).eval()
    with torch.no_grad():
        assert torch.equal(ident(ids)[0], prev(ids)[0])  # zeroed output projections: exactly the previous model

    # Only the named parameters receive gradients.
    ident.train()
    _, loss = ident(ids, ids)
    loss.backward()
    with_grad = {n for n, p in ident.named_parameters() if p.grad is not None}
    assert with_grad == {n for n, _ in ident.named_parameters() if n.startswith(("blocks.1.", "head.", "ln_f."))}
    only_new = trainable_names([n for n, _ in ident.named_parameters()], "newest", range(1, 2))
    assert only_new == {n for n, _ in ident.named_parameters() if n.startswith("blocks.1.")}


# --- a whole growth ---------------------------------------------------------------------------------
def test_growth_freezes_trains_named_params_and_resumes_exactly(tmp_path, inputs, monkeypatch):
    from unicode_substrate.train import trainer

    data, table = inputs
    out = tmp_path / "grown"
    grow(_gcfg(), data, out, table=table, monolithic=False, progress=False)
    record = json.loads((out / "grow.json").read_text())
    assert [s["layers"] for s in record["stages"]] == [1, 2, 3]

    for k in (2, 3):
        w_prev, _, _ = _final(out / "stages" / str(k - 1))
        w, state, _ = _final(out / "stages" / str(k))
        frozen = [n for n in w if n.startswith(tuple(f"blocks.{i}." for i in range(k - 1)))]
        assert frozen and all(torch.equal(w[n], w_prev[n]) for n in frozen)  # bit-identical
        assert not torch.equal(w["head.weight"], w_prev["head.weight"])  # the head carried over and trained on
        named = {n for n in w if n.startswith((f"blocks.{k - 1}.", "head.", "ln_f."))}
        assert set(state["optimizer"]["state"]) == named  # optimizer state for exactly those
        s = record["stages"][k - 1]
        assert s["trainable_parameters"] == sum(w[n].numel() for n in named)
        # AdamW: two fp32 moments per trainable value and a 4-byte step count per tensor
        assert s["optimizer_state_bytes"] == 2 * 4 * s["trainable_parameters"] + 4 * len(named)
        assert s["steps"] == 4

    # The final run is a plain run: Run.load(...).model() gives the last stage's network.
    final = Run.load(out / "final").model()
    ids = torch.randint(0, 64, (1, 10))
    last = build_stage_model(final.cfg, Run.load(out / "final").table(), "auto", None, 0, "all", "random", None)
    last.load_state_dict(stage_weights(out / "stages" / "3", None)[0])
    assert torch.equal(final(ids)[0], last.eval()(ids)[0])

    # Interrupt stage 2 after its step-2 checkpoint, resume: the same losses and weights as uninterrupted.
    real = trainer._train_step

    def crash(job, step, *a):
        if job.out.parts[-2:] == ("stages", "2") and step == 3:
            raise RuntimeError("injected crash")
        return real(job, step, *a)

    again = tmp_path / "again"
    monkeypatch.setattr(trainer, "_train_step", crash)
    with pytest.raises(RuntimeError, match="injected"):
        grow(_gcfg(), data, again, table=table, monolithic=False, progress=False)
    assert not (again / "stages" / "3").exists()
    monkeypatch.setattr(trainer, "_train_step", real)
    with pytest.raises(SubstrateError, match="already exists"):
        grow(_gcfg(), data, again, table=table, monolithic=False, progress=False)
    grow(_gcfg(), data, again, table=table, monolithic=False, progress=False, resume=True)
    assert _losses(again, 3) == _losses(out, 3)
    wa, _, _ = _final(again / "stages" / "3")
    wb, _, _ = _final(out / "stages" / "3")
    assert all(torch.equal(wa[n], wb[n]) for n in wb)
    # A resume with another schedule is refused in one line.
    with pytest.raises(SubstrateError, match="another config"):
        grow(_gcfg(trainable="all"), data, again, table=table, monolithic=False, progress=False, resume=True)


def test_grow_from_a_run_with_lora_and_report(tmp_path, inputs):
    pytest.importorskip("peft")
    from unicode_substrate.train.trainer import train

    data, table = inputs
    base = train(tiny_config(model={**MODEL3, "n_layer": 1}, steps=3), data, tmp_path / "base", table=table, progress=False).path
    g = _gcfg(stages=(1, 1), steps_per_stage=(3, 3), lora=parse_grow_config(
        {"stages": [1], "steps_per_stage": [1], "lora": {"rank": 2, "alpha": 4}}).lora)
    report = grow(g, data, tmp_path / "g", table=table, from_run=base, progress=False)
    w_base, _ = Run.load(base).weights()
    w1, state, _ = _final(tmp_path / "g" / "stages" / "1")
    # Adapters over the frozen block train with the new block and head; the base weights stay put until the merge.
    assert torch.equal(w1["blocks.0.attn.qkv.base_layer.weight"], w_base["blocks.0.attn.qkv.weight"])
    assert {n for n in state["optimizer"]["state"] if n.startswith("blocks.0.")} == {
        n for n in w1 if n.startswith("blocks.0.") and ".lora_" in n}
    merged, _ = stage_weights(tmp_path / "g" / "stages" / "1", g.lora)
    assert not torch.equal(merged["blocks.0.attn.qkv.weight"], w_base["blocks.0.attn.qkv.weight"])
    # A stage with adapters is a run like any other: its recorded architecture has a builder.
    stage = Run.load(tmp_path / "g" / "stages" / "2")  # the last stage: the final run is its weights merged
    assert stage.architecture == "gpt-lora"
    ids = torch.randint(0, 64, (2, 12))
    final = Run.load(tmp_path / "g" / "final")
    with torch.no_grad():
        torch.testing.assert_close(stage.model()(ids)[0], final.model()(ids)[0], atol=1e-5, rtol=1e-5)

    # The merged weights compute what the adapter-wrapped network computed.
    from unicode_substrate.model.config import ModelConfig

    m2 = ModelConfig(**{**MODEL3, "n_layer": 2})
    tbl = Run.load(base).table()
    wrapped = build_stage_model(m2, tbl, "auto", None, 1, "newest+head", "random", g.lora)
    wrapped.load_state_dict(w1)
    plain = build_stage_model(m2, tbl, "auto", None, 0, "all", "random", None)
    plain.load_state_dict(merged)
    ids = torch.randint(0, 64, (2, 12))
    torch.testing.assert_close(plain.eval()(ids)[0], wrapped.eval()(ids)[0], atol=1e-5, rtol=1e-5)

    # The report sets the grown model beside the monolithic control, with deterministic figures.
    text = report.read_text()
    assert "| monolithic | 3 |" in text and "stage 2" in text and "LoRA" in text
    # A fair control: trained whole for the grown model's total training, the base run's 3 steps included.
    mono = json.loads((tmp_path / "g" / "grow.json").read_text())["monolithic"]
    assert mono["steps"] == 3 + 3 + 3 and Run.load(tmp_path / "g" / "monolithic").checkpoints()[-1][0] == 9
    assert "trained whole from scratch for 9 steps" in text
    assert "(3 steps of `" in text and "+ 6 of the stages = 9)" in text and "(9 steps): the same total steps" in text
    png = (tmp_path / "g" / "loss_curves.png").read_bytes()
    from unicode_substrate.experiments.report import write_growth_report as write_report

    write_report(tmp_path / "g", json.loads((tmp_path / "g" / "grow.json").read_text()))
    assert (tmp_path / "g" / "loss_curves.png").read_bytes() == png and png[:4] == b"\x89PNG"
    assert Run.load(tmp_path / "g" / "final").model().cfg.n_layer == 3


def test_lora_schedules_choose_blocks_add_no_layer_and_merge_when_asked(tmp_path, inputs):
    pytest.importorskip("peft")
    data, table = inputs
    lora = parse_grow_config({"stages": [1], "steps_per_stage": [1], "lora": {"rank": 2, "alpha": 4}}).lora
    # v3-like: layer 2 with an adapter on layer 1 kept unmerged, a LoRA-only stage adding no layer, then layer 3
    g = _gcfg(stages=(1, 1, 0, 1), steps_per_stage=(2, 2, 2, 2), lora=lora,
              trainable=("all", "newest+head", "newest", "newest+head"),
              lora_blocks=((), (1,), "frozen", (2,)), merge=(True, False, True, True))
    assert [(p.new_blocks, p.trainable, p.lora_blocks, p.merge) for p in g.plan()] == [
        (range(0, 1), "all", (), True), (range(1, 2), "newest+head", (0,), False),
        (range(2, 2), "newest", (0, 1), True), (range(2, 3), "newest+head", (1,), True)]
    grow(g, data, tmp_path / "g", table=table, monolithic=False, progress=False)
    w2, _, _ = _final(tmp_path / "g" / "stages" / "2")
    w3, state3, _ = _final(tmp_path / "g" / "stages" / "3")
    # stage 2 kept its adapter: stage 3 starts from the same base weight and trains the adapter on
    assert torch.equal(w3["blocks.0.attn.qkv.base_layer.weight"], w2["blocks.0.attn.qkv.base_layer.weight"])
    assert not torch.equal(w3["blocks.0.attn.qkv.lora_B.default.weight"], w2["blocks.0.attn.qkv.lora_B.default.weight"])
    assert w2["blocks.0.attn.qkv.lora_B.default.weight"].abs().sum() > 0
    # the LoRA-only stage: adapters on layers 1 and 2, and nothing else has optimizer state or moves
    assert state3["optimizer"]["state"] and all(".lora_" in n for n in state3["optimizer"]["state"])
    assert {n.split(".")[1] for n in state3["optimizer"]["state"]} == {"0", "1"}
    assert torch.equal(w3["head.weight"], w2["head.weight"]) and torch.equal(w3["blocks.1.attn.qkv.base_layer.weight"],
                                                                                w2["blocks.1.attn.qkv.weight"])
    # merged at its end: stage 4 starts from plain weights with an adapter on layer 2 only
    w4, _, _ = _final(tmp_path / "g" / "stages" / "4")
    merged3, _ = stage_weights(tmp_path / "g" / "stages" / "3", lora)
    assert torch.equal(w4["blocks.0.attn.qkv.weight"], merged3["blocks.0.attn.qkv.weight"])
    assert "blocks.1.attn.qkv.lora_A.default.weight" in w4 and "blocks.0.attn.qkv.lora_A.default.weight" not in w4
    assert Run.load(tmp_path / "g" / "stages" / "4").model().cfg.n_layer == 3  # its recorded adapters rebuild it
    text = (tmp_path / "g" / "report.md").read_text()
    assert "| stage 3 | 2 | none | newest + LoRA on layers [1, 2] |" in text and "on layers [1], not merged" in text


@pytest.mark.parametrize("changes, message", [
    (dict(stages=(1, 1, 1), lora_blocks=((), (2,), "frozen")), "lora_blocks of stage 2 names layer 2, which is not frozen"),
    (dict(stages=(1, 1, 1), merge=(True, True, False)), "merge ends with true"),
    (dict(stages=(1, 1, 1), lora_blocks=((), (1,), (2,)), merge=(True, False, True)), "layer 1 is missing from its lora_blocks"),
    (dict(stages=(1, 1, 0, 1), steps_per_stage=(1, 1, 1, 1), trainable="newest", lora_blocks=((), (1,), (), (1,))),
     "stage 3 adds no layer, carries no adapters and trains nothing"),
    (dict(stages=(0, 3), steps_per_stage=(1, 1)), "stage 1 adds no layer to no model"),
    (dict(stages=(1, 1, 1), lora_blocks=((), (1,))), "lora_blocks must be given once or once per stage (3 entries)"),
])
def test_bad_lora_schedules(changes, message):
    lora = None if "lora_blocks" not in changes and "merge" not in changes else \
        parse_grow_config({"stages": [1], "steps_per_stage": [1], "lora": {"rank": 2, "alpha": 4}}).lora
    with pytest.raises(SubstrateError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        _gcfg(lora=lora, **changes).plan()


@pytest.mark.parametrize("name, adapted, lora_only", [
    ("lora-v1", {3: (1, 2), 4: (1, 2, 3)}, set()),  # v1: LoRA "from 3 layers on"
    ("lora-cards", {5: (1, 2, 3, 4), 6: (1, 2, 3, 4, 5)}, set()),  # the model cards: "layers 5 and 6"
    ("lora-v3", {3: (1, 2)}, {3}),  # v3: an interleaved LoRA-only stage, merged afterwards
])
def test_the_papers_lora_schedules_as_study_files(name, adapted, lora_only):
    from pathlib import Path

    from unicode_substrate.experiments.study import load_study

    study = load_study(Path(__file__).resolve().parents[1] / "studies" / f"{name}.toml", "cpu")
    grow_values = {k: v for k, v in study["grow"].items() if k != "table"}
    plans = parse_grow_config({**study["train"], **grow_values}).plan()
    assert {p.stage: tuple(i + 1 for i in p.lora_blocks) for p in plans if p.lora_blocks} == adapted
    assert {p.stage for p in plans if not p.new_blocks and p.trainable == "newest"} == lora_only
    assert all(p.merge for p in plans)


# --- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("toml, message", [
    ('stages = [1, 1]\nsteps_per_stage = [2, 2]', "add up to 2 layers but preset tiny-glyph has 3"),
    ('stages = [1, 1, 1]\nsteps_per_stage = [2, 2, 2]\ntrainable = "newest+tail"', "trainable must be one of"),
    ('stages = [1, 1, 1]\nsteps_per_stage = [2, 2]', "steps_per_stage has 2 entries but stages has 3"),
    ('stages = "3"\nsteps_per_stage = [2]', "stages must be a non-empty list of positive integers"),
    ('stages = [1, 1, 1]\nsteps_per_stage = [2, 2, 2]\nstage = 1', "unknown key"),
    ('stages = [3]\nsteps_per_stage = [2]\nsteps = 2', "steps is set per stage"),
    ('stages = [3]\nsteps_per_stage = [2]\nlora = { rank = 0, alpha = 1 }', "lora rank must be a positive integer"),
    ('stages = [3]\nsteps_per_stage = [2]\ntrainable = "all"\nlora = { rank = 2, alpha = 1 }', "no block is frozen"),
])
def test_bad_schedules_are_one_line_and_write_nothing(tmp_path, inputs, toml, message):
    from unicode_substrate.cli import main

    data, table = inputs
    cfg = tmp_path / "grow.toml"
    model = ", ".join(f"{k} = {v}" for k, v in MODEL3.items())
    cfg.write_text(f'preset = "tiny-glyph"\nmodel = {{ {model} }}\ndevice = "cpu"\n{toml}\n')
    res = CliRunner().invoke(main, ["grow", "--config", str(cfg), "--data", str(data), "--table", str(table),
                                    "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and message in res.output and res.output.count("\n") == 1
    assert not (tmp_path / "out").exists()
