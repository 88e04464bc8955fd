"""substrate export: a trained run as a plain GPTNeoXForCausalLM with our logits, and train --init back from it."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from _train_helpers import make_char_corpus
from conftest import UNIFONT_DIR
from unicode_substrate.cli import main
from unicode_substrate.run import Run

TEXT = ["the cat sat on the mat. " * 6, "a dog ate the hat! " * 6] * 10
MODEL = dict(d_model=16, n_layer=2, n_head=2, context=32, n_embed=8)
# Each preset family: frozen glyph lifted x2 and scaled, bit codes lifted x2 without biases, trainable.
FAMILIES = {
    "glyph": ("tiny-glyph", {"embed_scale": 1.5}),
    "bit": ("tiny-bit-64", {"bias": False}),
    "trainable": ("tiny-unfrozen", {}),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A character tokenizer, token data, and one table per frozen family."""
    from unicode_substrate.render.codes import code_table
    from unicode_substrate.table import write_table
    root = tmp_path_factory.mktemp("export")
    _, tok_dir, tok, _ = make_char_corpus(root, TEXT)
    tables = {"bit": write_table(root / "bit", code_table("bit", tok.vocab_size, 8), tok.tokens(),
                                 {"method": "bit", "tokenizer_manifest_sha256": tok.manifest_sha256})}
    if (UNIFONT_DIR / "unifont.otf").is_file():
        from unicode_substrate.render.build import render_table

        tables["glyph"] = render_table(tok_dir, root / "glyph", method="glyph", dim=8)
    return root, tok, tables


@pytest.fixture(scope="module")
def runs(base):
    """family -> (run dir, fp32 export dir): each a real tiny model trained three steps."""
    from unicode_substrate.train.config import TrainConfig
    from unicode_substrate.export import export
    from unicode_substrate.train.trainer import train

    root, tok, tables = base
    out = {}
    for family, (preset, extra) in FAMILIES.items():
        if preset != "tiny-unfrozen" and family not in tables:
            continue
        cfg = TrainConfig(preset=preset, model={**MODEL, "vocab_size": tok.vocab_size, **extra}, steps=3, batch_size=2,
                          lr=3e-3, warmup=1, eval_every=0, ckpt_every=0, device="cpu")
        run = train(cfg, root / "data", root / f"run-{family}", table=tables.get(family), progress=False).path
        out[family] = (run, export(run, root / f"hf-{family}"))
    return out


def _family(runs, family):
    if family not in runs:
        pytest.skip(f"GNU Unifont is not installed at {UNIFONT_DIR}: no glyph table")
    return runs[family]


def _load_hf(path):
    """The export through the standard Auto classes, offline, with every transformers warning captured."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = hf_logging.get_logger()
    logger.addHandler(handler)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(str(path), output_loading_info=True, local_files_only=True)
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    finally:
        logger.removeHandler(handler)
    return model.eval(), tok, info, [r.getMessage() for r in records]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_export_is_a_plain_neox_with_our_logits_and_greedy_tokens(runs, base, family):
    from transformers import GPTNeoXForCausalLM

    run_dir, hf = _family(runs, family)
    _, tok, _ = base
    model, hf_tok, info, warnings = _load_hf(hf)
    assert type(model) is GPTNeoXForCausalLM
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")), info
    assert not [w for w in warnings if any(s in w.lower() for s in ("missing", "unexpected", "newly initialized", "not used"))], warnings
    assert model.config.use_parallel_residual is False and model.config.hidden_act == "gelu"
    ours = Run.load(run_dir).model()
    ids = torch.randint(0, tok.vocab_size, (3, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ours(ids)[0], atol=1e-5, rtol=1e-5)
    # The tokenizer loads through AutoTokenizer with our ids and </s> as end of sequence.
    assert hf_tok("the cat sat").input_ids == tok.encode("the cat sat")
    eos = tok.token_to_id("</s>")
    assert hf_tok.eos_token_id == eos and model.generation_config.eos_token_id == eos
    # Greedy generation, token for token (transformers stops at </s>, so compare up to it).
    prompt = torch.tensor([tok.encode("the c")])
    mine = ours.generate(prompt, 20, temperature=0)[0].tolist()
    theirs = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=20, do_sample=False)[0].tolist()
    n = len(prompt[0])
    cut = next((i + 1 for i in range(n, len(mine)) if mine[i] == eos), len(mine))
    assert theirs == mine[:cut] and len(theirs) > n


@pytest.mark.parametrize("family", list(FAMILIES))
def test_init_from_export_gives_bit_identical_weights(runs, base, family):
    from unicode_substrate.train.config import TrainConfig
    from unicode_substrate.train.init import hooks_for_init

    run_dir, hf = _family(runs, family)
    root = base[0]
    run = Run.load(run_dir)
    cfg, hooks = hooks_for_init(hf, TrainConfig(preset="tiny-glyph", device="cpu"), data=root / "data")
    assert cfg.model_config() == run.model_config and hooks.identity["init"]["source"] == "hf-export"
    model = hooks.build_model(cfg.model_config(), run.table(), "torch")
    weights, _ = run.weights()
    state = model.state_dict()
    assert set(state) == set(weights)
    assert all(torch.equal(state[k], weights[k]) for k in weights)


def test_train_init_from_the_command_line_continues_the_export(runs, base, tmp_path):
    run_dir, hf = _family(runs, "bit")
    root, _, tables = base
    cli = CliRunner().invoke
    res = cli(main, ["train", "--init", str(hf), "--data", str(root / "data"), "--table", str(tables["bit"]),
                     "--out", str(tmp_path / "more"), "--steps", "1", "--batch-size", "2", "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    more = Run.load(tmp_path / "more")
    assert more.model_config == Run.load(run_dir).model_config and more.identity["init"]["source"] == "hf-export"
    assert more.model() is not None  # its checkpoint loads like any run's
    # The source fixes the architecture; a clashing override is one line.
    res = cli(main, ["train", "--init", str(hf), "--data", str(root / "data"), "--table", str(tables["bit"]),
                     "--out", str(tmp_path / "clash"), "--set", "n_layer=3", "--steps", "1"])
    assert res.exit_code == 2 and res.output.startswith("error: the initial model") and "n_layer=2" in res.output
    assert not (tmp_path / "clash").exists()
    # A frozen model's embed_in must be the lifted table: a changed one is refused.
    other = tmp_path / "edited"
    shutil.copytree(hf, other)
    (other / "manifest.json").unlink()  # as if fine-tuned and saved by transformers (no manifest)
    from safetensors.torch import load_file, save_file

    t = load_file(str(other / "model.safetensors"))
    t["gpt_neox.embed_in.weight"][0, 0] += 1.0
    save_file(t, str(other / "model.safetensors"))
    res = cli(main, ["train", "--init", str(other), "--data", str(root / "data"), "--table", str(tables["bit"]),
                     "--out", str(tmp_path / "bad"), "--steps", "1"])
    assert res.exit_code == 2 and "embed_in is not the lifted frozen table" in res.output


def test_bf16_export_and_deterministic_bytes(runs, tmp_path):
    run_dir, hf = _family(runs, "trainable")
    cli = CliRunner().invoke
    res = cli(main, ["export", "--run", str(run_dir), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in hf.iterdir())
    assert names == ["README.md", "config.json", "generation_config.json", "manifest.json", "model.safetensors",
                     "tokenizer.json", "tokenizer_config.json"]
    assert all((tmp_path / "a" / n).read_bytes() == (hf / n).read_bytes() for n in names)
    res = cli(main, ["export", "--run", str(run_dir), "--out", str(tmp_path / "a"), "--dtype", "bfloat16", "--force"])
    assert res.exit_code == 0, res.output
    model, _, _, _ = _load_hf(tmp_path / "a")
    assert model.dtype == torch.bfloat16 and model.gpt_neox.embed_in.weight.dtype == torch.bfloat16
    card = (hf / "README.md").read_text(encoding="utf-8")
    assert "| parameters |" in card and "3 steps" in card and "bits per byte" in card


def test_model_card_of_a_frozen_export_names_its_table(runs):
    run_dir, hf = _family(runs, "bit")
    card = (hf / "README.md").read_text(encoding="utf-8")
    summary = Run.load(run_dir).summary()  # GPT.num_parameters: the frozen table counts in the total only
    assert f"| parameters | {summary['parameters']:,} total, {summary['trainable_parameters']:,} trainable" in card
    config = json.loads((hf / "config.json").read_text(encoding="utf-8"))
    assert "frozen bit table, 8 wide, lifted x2" in card and "embed_in.requires_grad_(False)" in card
    assert config["attention_bias"] is False and config["rotary_pct"] == 1.0 and config["tie_word_embeddings"] is False


def test_bad_inputs_are_one_line_and_write_nothing(runs, tmp_path):
    run_dir, hf = _family(runs, "trainable")
    cli = CliRunner().invoke

    def refused(args, needle):
        res = cli(main, ["export", *args])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("error: ") and res.output.count("\n") == 1 and needle in res.output, res.output

    # a run without a checkpoint
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run_dir / "run.json", bare / "run.json")
    refused(["--run", str(bare), "--out", str(tmp_path / "o1")], "no checkpoints")
    # an existing --out without --force; with --force, a directory that is not an export
    refused(["--run", str(run_dir), "--out", str(hf)], "already exists")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused(["--run", str(run_dir), "--out", str(tmp_path / "mine"), "--force"], "not a unicode-substrate artifact")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    # an architecture with no exact GPT-NeoX equivalent
    fused = tmp_path / "fused"
    shutil.copytree(run_dir, fused)
    record = json.loads((fused / "run.json").read_text())
    record["identity"]["architecture"] = "fused-moe"
    (fused / "run.json").write_text(json.dumps(record))
    refused(["--run", str(fused), "--out", str(tmp_path / "o2")], "'fused-moe' has no exact GPT-NeoX equivalent")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def _lm_eval_task(tmp_path, items):
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    (tmp_path / "substrate_mc.yaml").write_text(
        "task: substrate_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {json.dumps(str(tmp_path / 'items.jsonl'))}\n"
        "test_split: test\noutput_type: multiple_choice\n"
        'doc_to_text: "{{question}}"\ndoc_to_choice: "{{choices}}"\ndoc_to_target: "{{answer}}"\n'
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n", encoding="utf-8")


def _our_loglik(model, tok, context: str, continuation: str) -> float:
    """Sum of log p(continuation | context) from our model, cutting tokens as the harness does."""
    whole, ctx = tok.encode(context + continuation), tok.encode(context)
    ids = torch.tensor([whole])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids[:, :-1])[0].float(), dim=-1)[0]
    return float(sum(logp[i - 1, whole[i]] for i in range(len(ctx), len(whole))))


@pytest.mark.slow
def test_lm_evaluation_harness_agrees_with_our_log_likelihoods(runs, base, tmp_path, monkeypatch):
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    run_dir, hf = _family(runs, "glyph")
    _, tok, _ = base
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    words = ["cat", "mat", "hat", "dog", "the", "sat", "ate"]
    items = [{"question": q, "choices": [str(w) for w in rng.choice(words, 3, replace=False)], "answer": int(rng.integers(0, 3))}
             for q in ("the cat sat on the", "a dog ate the", "the", "the mat", "a", "on the hat", "the dog sat", "a cat ate")]
    _lm_eval_task(tmp_path, items)
    res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={hf},dtype=float32,device=cpu",
                                  tasks=["substrate_mc"], task_manager=TaskManager(include_path=str(tmp_path)),
                                  log_samples=True, batch_size=1)
    ours = Run.load(run_dir).model()
    picks = []
    for sample in sorted(res["samples"]["substrate_mc"], key=lambda s: s["doc_id"]):
        doc = items[sample["doc_id"]]
        lls = [_our_loglik(ours, tok, doc["question"], " " + c) for c in doc["choices"]]
        np.testing.assert_allclose([r[0][0] for r in sample["resps"]], lls, atol=1e-4, rtol=1e-5)
        picks.append(int(np.argmax(lls)) == doc["answer"])
    assert res["results"]["substrate_mc"]["acc,none"] == pytest.approx(float(np.mean(picks)), abs=1e-12)


def test_exported_tokenizer_knows_the_model_context(runs, tmp_path):
    from unicode_substrate.export import _copy_tokenizer

    _, hf = _family(runs, "bit")
    _, tok, _, _ = _load_hf(hf)
    assert tok.model_max_length == MODEL["context"]
    # A tokenizer directory's own config says 1e9 (build-tokenizer: a tokenizer knows no context); the export says the context.
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir(), dst.mkdir()
    (src / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1_000_000_000, "unk_token": "<unk>"}))
    _copy_tokenizer(src, dst, {}, 1024)
    assert json.loads((dst / "tokenizer_config.json").read_text()) == {"model_max_length": 1024, "unk_token": "<unk>"}
