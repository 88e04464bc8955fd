"""Trainer: configuration, schedule, validation bits per byte, and every bad input refused in one line."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from _cli_helpers import one_line_error as _one_line_error
from _cli_helpers import run_cli as _cli
from _train_helpers import TINY_MODEL, make_data, make_table, tiny_config
from conftest import tolerance
from unicode_substrate.errors import SubstrateError
from unicode_substrate.checkpoint import list_checkpoints, load_checkpoint
from unicode_substrate.train.config import TrainConfig, load_config
from unicode_substrate.tokens import TokenData
from unicode_substrate.train.distributed import dist_info_from_env
from unicode_substrate.run import read_metrics
from unicode_substrate.train.trainer import evaluate, lr_at, train


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    return {"root": root, "data": make_data(root / "data"), "table": make_table(root / "table")}


def _train_args(world, out, *extra):
    model = [f"--set={k}={v}" for k, v in TINY_MODEL.items()]
    return ["train", "--preset", "tiny-glyph", *model, "--data", world["data"], "--table", world["table"], "--out", out,
            "--steps", "4", "--batch-size", "2", "--warmup", "1", "--eval-every", "2", "--ckpt-every", "2",
            "--keep-last", "5", "--device", "cpu", "--no-progress", *extra]


# ---- configuration --------------------------------------------------------------------------
def test_toml_config_rejects_unknown_keys_and_options_override_it(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('steps = 7\nlr = 0.01\nmin_lr = 0.001\n[model]\nn_layer = 3\n', encoding="utf-8")
    cfg = load_config(p, steps=9, model={"d_model": 256})
    assert (cfg.steps, cfg.lr, cfg.model) == (9, 0.01, {"n_layer": 3, "d_model": 256})
    p.write_text("stpes = 7\n", encoding="utf-8")
    with pytest.raises(SubstrateError, match=r"c\.toml: unknown key: stpes \(valid: .*steps"):
        load_config(p)
    p.write_text("steps = [\n", encoding="utf-8")
    with pytest.raises(SubstrateError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(SubstrateError, match="min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)


def test_schedule_warms_up_linearly_then_follows_a_cosine_to_min_lr():
    cfg = TrainConfig(steps=110, warmup=10, lr=1.0, min_lr=0.1)
    assert [lr_at(cfg, s) for s in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert lr_at(cfg, 10) == pytest.approx(1.0)
    assert lr_at(cfg, 60) == pytest.approx(0.55)  # half way down the cosine
    assert lr_at(cfg, 110) == pytest.approx(0.1)
    lrs = [lr_at(cfg, s) for s in range(10, 110)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_validation_bits_per_byte_is_total_nats_over_bytes(world):
    data = TokenData.load(world["data"])
    torch.manual_seed(0)
    from unicode_substrate.model import GPT, get_preset

    model = GPT(get_preset("tiny-unfrozen", **{k: v for k, v in TINY_MODEL.items() if k != "n_embed"}))
    n_tok, n_bytes = data.val_range(0)
    got = evaluate(model, data, 16, 3, 0, torch.device("cpu"), torch.autocast("cpu", enabled=False))
    # The reference: every token after the first predicted once, from at most 16 tokens of left context.
    val = torch.from_numpy(np.asarray(data.val, dtype=np.int64))
    nats = 0.0
    with torch.no_grad():
        for start in range(0, n_tok - 1, 16):
            x, y = val[start : start + 16], val[start + 1 : start + 17]
            logits, _ = model(x[None, : len(y)])
            nats += float(torch.nn.functional.cross_entropy(logits[0], y, reduction="sum"))
    assert got["val_tokens"] == n_tok - 1 and got["val_bytes"] == n_bytes == data.manifest["splits"]["val"]["utf8_bytes"]
    assert got["val_loss"] == pytest.approx(nats / (n_tok - 1), rel=1e-5)
    assert got["val_bpb"] == pytest.approx(nats / math.log(2) / n_bytes, rel=1e-5)
    # A capped evaluation covers whole documents only, and its bytes are exactly theirs.
    tok2, bytes2 = data.val_range(130)
    assert tok2 == int(data.val_docs[0, 0]) and bytes2 == int(data.val_docs[0, 1])


def test_cli_train_writes_metrics_and_checkpoints_and_refuses_to_overwrite(world, tmp_path):
    res = _cli(*_train_args(world, tmp_path / "run"))
    assert res.exit_code == 0, res.output
    metrics = read_metrics(tmp_path / "run")
    assert [m["step"] for m in metrics if m["type"] == "train"] == [1, 2, 3, 4]
    assert [m["step"] for m in metrics if m["type"] == "val"] == [2, 4]
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [2, 4]
    weights, state, manifest = load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000004")
    assert "embed.weight" not in weights and state["step"] == 4 and manifest["step"] == 4
    res = _cli(*_train_args(world, tmp_path / "run"))
    _one_line_error(res, "already exists", "--resume")


# ---- bad input --------------------------------------------------------------------------------
def test_table_for_another_tokenizer_is_refused(world, tmp_path):
    other = make_table(tmp_path / "other", tokenizer_sha="cd" * 32)
    args = _train_args(world, tmp_path / "run")
    args[args.index(world["table"])] = other
    _one_line_error(_cli(*args), "rendered for tokenizer cdcdcdcdcdcd", "abababababab")
    assert not (tmp_path / "run").exists()


def test_table_of_wrong_shape_and_model_of_wrong_vocab_are_refused(world, tmp_path):
    narrow = make_table(tmp_path / "narrow", dim=8)
    args = _train_args(world, tmp_path / "run")
    args[args.index(world["table"])] = narrow
    _one_line_error(_cli(*args), "[64, 8]", "[64, 16]")
    args = [a for a in _train_args(world, tmp_path / "run") if a != "--set=vocab_size=64"]
    _one_line_error(_cli(*args), "64 ids", "65536")
    args = _train_args(world, tmp_path / "run", "--set", "n_layr=2")
    _one_line_error(_cli(*args), "model fields: unknown key: n_layr (valid: ")


def test_presets_and_tables_must_agree(world, tmp_path):
    args = _train_args(world, tmp_path / "run")
    args[args.index("tiny-glyph")] = "tiny-unfrozen"
    _one_line_error(_cli(*args), "takes no frozen table", "(option --table)")
    args = _train_args(world, tmp_path / "run")
    i = args.index("--table")
    del args[i : i + 2]
    _one_line_error(_cli(*args), "needs a table", "(option --table)")


def test_corpus_too_small_for_the_context_is_refused(tmp_path):
    data = make_data(tmp_path / "small", n_docs=10, doc_len=3)
    world = {"data": data, "table": make_table(tmp_path / "table")}
    res = _cli(*_train_args(world, tmp_path / "run", "--set", "context=64"))
    _one_line_error(res, "training split has 35 tokens", "context 64")
    with pytest.raises(SubstrateError, match="too small to split"):
        make_data(tmp_path / "tiny", n_docs=5)


def test_half_set_torchrun_environment_is_refused(world, tmp_path, monkeypatch):
    with pytest.raises(SubstrateError, match="half set: RANK, WORLD_SIZE given but LOCAL_RANK, MASTER_ADDR, MASTER_PORT"):
        dist_info_from_env({"RANK": "0", "WORLD_SIZE": "2"})
    with pytest.raises(SubstrateError, match="inconsistent"):
        dist_info_from_env({"RANK": "3", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "x", "MASTER_PORT": "1"})
    assert not dist_info_from_env({}).enabled
    monkeypatch.setenv("WORLD_SIZE", "2")
    for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    _one_line_error(_cli(*_train_args(world, tmp_path / "run")), "torchrun environment is half set")


def test_corrupt_checkpoint_is_refused_and_left_alone(world, tmp_path):
    run = tmp_path / "run"
    assert _cli(*_train_args(world, run)).exit_code == 0
    newest = run / "checkpoints" / "step-00000004" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as by a full disk
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    res = _cli(*_train_args(world, run, "--resume", "--steps", "6"))
    _one_line_error(res, "newest checkpoint is corrupt", "model.safetensors", "step-00000002")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    # Resuming from the older checkpoint is refused while a newer one exists, rather than overwritten.
    res = _cli(*_train_args(world, run, "--resume-from", run / "checkpoints" / "step-00000002", "--steps", "6"))
    _one_line_error(res, "newer than step-00000002")
    shutil.rmtree(newest.parent)
    res = _cli(*_train_args(world, run, "--resume-from", run / "checkpoints" / "step-00000002", "--steps", "6"))
    assert res.exit_code == 0, res.output
    assert [s for s, _ in list_checkpoints(run)] == [2, 4, 6]


def test_state_file_holding_code_is_never_unpickled(world, tmp_path):
    from unicode_substrate.artifacts import read_manifest, write_manifest

    run = tmp_path / "run"
    assert _cli(*_train_args(world, run)).exit_code == 0
    ck = run / "checkpoints" / "step-00000004"

    class Evil:
        def __reduce__(self):
            return (shutil.rmtree, (str(world["root"]),))

    torch.save({"step": 4, "payload": Evil()}, ck / "state.pt")
    manifest = read_manifest(ck)
    (ck / "manifest.json").unlink()
    write_manifest(ck, "checkpoint", 1, **{k: v for k, v in manifest.items()
                                          if k not in ("kind", "schema_version", "package", "package_version", "files")})
    res = _cli(*_train_args(world, run, "--resume", "--steps", "6"))
    _one_line_error(res, "cannot be read")
    assert world["root"].exists()


def test_nan_loss_stops_and_names_the_step_keeping_the_last_good_checkpoint(world, tmp_path, monkeypatch):
    from unicode_substrate.train import trainer

    run = tmp_path / "run"
    # An absurd learning rate from step 3 on sends the weights to inf in one update; the next loss is not
    # finite. (Set inside the run: a resume with another lr is refused.)
    real = trainer.lr_at
    monkeypatch.setattr(trainer, "lr_at", lambda cfg, step: 1e30 if step >= 2 else real(cfg, step))
    res = _cli(*_train_args(world, run, "--steps", "6", "--ckpt-every", "1"))
    line = _one_line_error(res, "at step", "last good checkpoint is")
    assert "nan" in line or "inf" in line or "non-finite" in line
    failed = int(line.split(" at step ")[1].split(";")[0])
    named = line.rsplit(" ", 1)[1]
    steps = [s for s, _ in list_checkpoints(run)]
    assert 3 <= failed <= 6 and steps[-1] < failed and named.endswith(f"step-{steps[-1]:08d}")
    _, state, _ = load_checkpoint(named)  # still verifies
    assert state["step"] == steps[-1]


def test_resume_refuses_another_model_or_table(world, tmp_path):
    run = tmp_path / "run"
    assert _cli(*_train_args(world, run, "--steps", "2")).exit_code == 0
    _one_line_error(_cli(*_train_args(world, run, "--resume", "--set", "n_layer=3")), "cannot resume", "model differs")
    other = make_table(tmp_path / "other", seed=1)
    args = _train_args(world, run, "--resume")
    args[args.index(world["table"])] = other
    _one_line_error(_cli(*args), "table_manifest_sha256 differs")
    _one_line_error(_cli(*_train_args(world, tmp_path / "nothing", "--resume")), "no checkpoints to resume from")


def test_identical_runs_are_identical_and_seed_matters(world, tmp_path):
    cfg = tiny_config(steps=3, eval_every=0, ckpt_every=0)
    a = train(cfg, world["data"], tmp_path / "a", world["table"], progress=False).path
    b = train(cfg, world["data"], tmp_path / "b", world["table"], progress=False).path
    c = train(cfg.replace(seed=7), world["data"], tmp_path / "c", world["table"], progress=False).path
    la, lb, lc = ([m["loss"] for m in read_metrics(r) if m["type"] == "train"] for r in (a, b, c))
    assert la == lb and la != lc
    wa = (a / "checkpoints" / "step-00000003" / "model.safetensors").read_bytes()
    assert wa == (b / "checkpoints" / "step-00000003" / "model.safetensors").read_bytes()


def test_resume_drops_a_torn_metrics_line(world, tmp_path):
    run = tmp_path / "run"
    assert _cli(*_train_args(world, run, "--ckpt-every", "4")).exit_code == 0
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"type": "train", "step": 5, "lo')  # a process killed in the middle of a write
    res = _cli(*_train_args(world, run, "--resume", "--steps", "6"))
    assert res.exit_code == 0, res.output
    assert [m["step"] for m in read_metrics(run) if m["type"] == "train"] == [1, 2, 3, 4, 5, 6]


def test_bf16_autocast_and_accumulation_run_and_learn(world, tmp_path):
    # The CUDA default (bf16 autocast) exercised on CPU: same code path, looser numbers.
    cfg = tiny_config(steps=6, precision="bf16", grad_accum=2, batch_size=2, eval_every=0, ckpt_every=0)
    run = train(cfg, world["data"], tmp_path / "bf16", world["table"], progress=False).path
    ref = train(cfg.replace(precision="fp32"), world["data"], tmp_path / "fp32", world["table"], progress=False).path
    got = [m["loss"] for m in read_metrics(run) if m["type"] == "train"]
    want = [m["loss"] for m in read_metrics(ref) if m["type"] == "train"]
    assert all(math.isfinite(x) for x in got) and got[-1] < got[0]
    assert got == pytest.approx(want, rel=3e-2)


def test_nan_before_any_checkpoint_says_so(world, tmp_path):
    res = _cli(*_train_args(world, tmp_path / "run", "--steps", "5", "--lr", "1e30", "--min-lr", "1e30", "--ckpt-every", "0"))
    _one_line_error(res, "at step", "no checkpoint had been written yet")
    assert list_checkpoints(tmp_path / "run") == []


# ---- the kernel switch ------------------------------------------------------------------------
def test_kernels_switch_reaches_the_model_and_matches_the_reference(world, tmp_path, kernel_device, monkeypatch):
    if kernel_device != "cpu":
        pytest.skip("the CPU comparison runs the kernels under the interpreter")
    from unicode_substrate.kernels import embed_lift_triton, rope_triton

    calls = {"embed": 0, "rope": 0}
    for name, module, fn in (("embed", embed_lift_triton, "embed_lift_triton"), ("rope", rope_triton, "apply_rope_triton")):
        real = getattr(module, fn)

        def counted(*a, _real=real, _name=name):
            calls[_name] += 1
            return _real(*a)

        monkeypatch.setattr(module, fn, counted)
    losses = {}
    for kernels in ("torch", "triton"):
        before = dict(calls)
        res = _cli(*_train_args(world, tmp_path / kernels, "--kernels", kernels))
        assert res.exit_code == 0, res.output
        ran = {k: calls[k] - before[k] for k in calls}
        # the triton run went through both kernels, the torch run through neither
        assert (all(v > 0 for v in ran.values()) if kernels == "triton" else ran == {"embed": 0, "rope": 0}), ran
        losses[kernels] = [m["loss"] for m in read_metrics(tmp_path / kernels) if m["type"] == "train"]
    torch.testing.assert_close(torch.tensor(losses["triton"]), torch.tensor(losses["torch"]), **tolerance(torch.float32))


def test_kernels_switch_refuses_what_cannot_run_before_writing(world, tmp_path, monkeypatch):
    from unicode_substrate.kernels import BACKENDS
    from unicode_substrate.train.config import KERNELS

    assert KERNELS == BACKENDS  # the config's list (kept torch-free) is the dispatcher's
    p = tmp_path / "c.toml"
    p.write_text('kernels = "fast"\n', encoding="utf-8")
    with pytest.raises(SubstrateError, match="kernels must be one of auto, triton, torch"):
        load_config(p)
    try:
        from unicode_substrate.kernels import embed_lift_triton
    except ImportError:
        pytest.skip("triton does not import here")
    monkeypatch.setattr(embed_lift_triton, "INTERPRETED", False)  # as on a CPU machine without the interpreter
    res = _cli(*_train_args(world, tmp_path / "run", "--kernels", "triton"))
    _one_line_error(res, "need a CUDA device")
    assert not (tmp_path / "run").exists()
