"""Fault tests generated from the CLI's command list, not written case by case.

Every command of ``COMMANDS`` that takes ``--out`` is run against one tiny world of artifacts
(tokenizer, n-grams, data, table, runs, an export, a fused run, an eval), built once per session:

* ``--out`` equal to each input, inside it, and holding it, with and without ``--force``: one
  ``error:`` line, exit 2, and every input byte-identical;
* ``--out`` held by another writer's lock: one line, nothing written;
* a full disk at the real write calls (safetensors, Parquet, torch.save, JSON and text files):
  one line, nothing left behind;
* every numeric option of every command: refused just beyond each bound, accepted at it.

A new command is covered by giving its invocation in ``BASE`` (the test fails until it has one);
its options and inputs are then found from the command itself.
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import click
import pytest

from _cli_helpers import one_line_error
from _cli_helpers import run_cli as cli
from _train_helpers import make_char_tokenizer
from unicode_substrate.artifacts import artifact_kind, output_lock
from unicode_substrate.cli import COMMANDS, main
from unicode_substrate.cli.options import RangedType

TEXT = "the quick brown fox jumps over the lazy dog; then the other thing happened again and again.\n"
MODEL = {"d_model": 16, "n_layer": 2, "n_head": 2, "context": 16, "n_embed": 16}
SETS = [f"--set={k}={v}" for k, v in MODEL.items()] + ["--set=vocab_size={vocab}"]
TRAIN = ["--steps", "1", "--batch-size", "2", "--eval-every", "0", "--eval-batch-size", "2", "--device", "cpu",
         "--no-progress"]
# A valid invocation of each command that writes --out ({name} = an artifact of the world); a
# variant key "name:what" runs the same command another way. Adding a command: add its line here.
BASE: dict[str, list[str]] = {
    "ngrams": ["--corpus", "{corpus}", "--max-n", "3", "--top-k", "20"],
    "build-tokenizer": ["--ngrams", "{ngrams}"],
    "tokenizer-stats": ["--texts", "{corpus}", "--tokenizer", "t={tok}", "--no-progress"],
    "render": ["--tokenizer", "{tok}", "--method", "bit", "--dim", "16", "--no-progress"],
    "preview": ["--table", "{table}"],
    "import-table": ["{rows}", "--tokenizer", "{tok}"],
    "prepare": ["--tokenizer", "{tok}", "--corpus", "{corpus}", "--val-every", "3", "--no-progress"],
    "demo-qa": [],
    "train": ["--preset", "tiny-bit-64", "--data", "{data}", "--table", "{table}", *TRAIN, *SETS],
    "train:init": ["--data", "{data}", "--table", "{table}", "--init", "{export}", *TRAIN],
    "compare": ["--data", "{data}", "--variant", "a=tiny-bit-64:{table}", "--variant", "b=tiny-unfrozen", *TRAIN,
                *SETS],
    "plot": ["{run}"],
    "eval": ["--run", "{run}", "--data", "{data}", "--no-progress"],
    "results-table": ["{scores}"],
    "semantics": ["--run", "{run}", "--permutations", "200", "--tsne-levels", "0", "--no-progress"],
    "grow": ["--config", "{growcfg}", "--data", "{data}", "--table", "{table}", "--no-monolithic", "--no-progress"],
    "grow:from": ["--config", "{growfrom}", "--data", "{data}", "--table", "{table}", "--from", "{run}", "--no-monolithic", "--no-progress"],
    "fuse": ["--expert", "{run}", "--expert", "{run2}"],
    "export": ["--run", "{run}"],
    "study": ["{study}", "--no-progress"],
}
RESUMABLE = {"train", "compare", "grow", "study"}  # long jobs that write into --out as they go, and resume from it
FILE_OUTPUT = {"plot": "loss.png", "preview": "atlas.png"}  # commands whose --out is one file, not a folder


def _command(name: str) -> click.Command:
    return main.get_command(click.Context(main), name)


def _writes_out(name: str) -> bool:
    return any(isinstance(p, click.Option) and "--out" in p.opts for p in _command(name).params)


def _args(key: str, world: dict, out: Path) -> list[str]:
    name = key.split(":")[0]
    return [name, *(a.format(**{k: str(v) for k, v in world.items()}) for a in BASE[key]), "--out", str(out)]


def _inputs(key: str, world: dict) -> list[Path]:
    """The world's artifacts an invocation reads (each named by a placeholder in its arguments)."""
    found = []
    for a in BASE[key]:
        for k, v in world.items():
            if isinstance(v, Path) and "{" + k + "}" in a and v not in found:
                found.append(v)
    return found


def snapshot(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.rglob("*") if ".tmp-" in p.name or ".old-" in p.name or p.name.endswith(".lock"))


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """Every artifact a command reads, each alone in its own folder (so a folder holding it holds nothing else)."""
    import torch

    root = tmp_path_factory.mktemp("world")
    at = {k: root / f"in-{k}" / k for k in ("corpus", "tok", "ngrams", "data", "table", "rows", "run", "run2",
                                            "export", "evaldir", "growcfg", "growfrom", "scores", "study")}
    for p in at.values():
        p.parent.mkdir()
    at["corpus"].mkdir()
    for i in range(8):
        (at["corpus"] / f"doc{i}.txt").write_text(TEXT * (2 + i), encoding="utf-8")
    make_char_tokenizer(at["tok"], TEXT)
    at["rows"] = at["rows"].with_suffix(".pt")
    from unicode_substrate.tokenizer import Tokenizer

    vocab = Tokenizer.load(at["tok"]).vocab_size
    torch.save(torch.randn(vocab, 8), at["rows"])

    def ok(*args):
        res = cli(*args)
        assert res.exit_code == 0, (args, res.output)

    sets = [a.format(vocab=vocab) for a in SETS]
    ok("ngrams", "--corpus", at["corpus"], "--out", at["ngrams"], "--max-n", "3", "--top-k", "20")
    ok("prepare", "--tokenizer", at["tok"], "--corpus", at["corpus"], "--out", at["data"], "--val-every", "3",
       "--no-progress")
    ok("render", "--tokenizer", at["tok"], "--method", "bit", "--dim", "16", "--out", at["table"], "--no-progress")
    for name, seed in (("run", "0"), ("run2", "1")):
        ok("train", "--preset", "tiny-bit-64", "--data", at["data"], "--table", at["table"], "--out", at[name],
           "--seed", seed, "--ckpt-every", "1", *TRAIN, *sets)
    # a run of another table (random codes): its checkpoint and table are foreign parts to "run"
    at["table2"], at["run3"] = root / "in-table2" / "table2", root / "in-run3" / "run3"
    ok("render", "--tokenizer", at["tok"], "--method", "random", "--dim", "16", "--out", at["table2"], "--no-progress")
    ok("train", "--preset", "tiny-bit-64", "--data", at["data"], "--table", at["table2"], "--out", at["run3"],
       "--set=table_method=random", "--ckpt-every", "1", *TRAIN, *sets)
    ok("export", "--run", at["run"], "--out", at["export"])
    ok("eval", "--run", at["run"], "--data", at["data"], "--out", at["evaldir"], "--no-progress")
    at["scores"] = at["scores"].with_name("_models_benchmarking_tiny.txt")  # a result file in the papers' format
    at["scores"].write_text("tiny MMLU: 25.00% ± 0.10% (σ=0.20%)\n", encoding="utf-8")
    for name, layers in (("growcfg", 2), ("growfrom", 4)):  # a growth from scratch, and on top of the 2-layer run
        model = ", ".join(f"{k} = {v}" for k, v in {**MODEL, "n_layer": layers, "vocab_size": vocab}.items())
        at[name] = at[name].with_suffix(".toml")
        at[name].write_text(f'preset = "tiny-bit-64"\nmodel = {{ {model} }}\ndevice = "cpu"\nbatch_size = 2\n'
                            f'eval_every = 0\neval_batch_size = 2\nstages = [1, 1]\nsteps_per_stage = [1, 1]\n')
    model = ", ".join(f"{k} = {v}" for k, v in {**MODEL, "vocab_size": vocab}.items())
    at["study"] = at["study"].with_suffix(".toml")  # a study of two variants on the world's data and table
    at["study"].write_text(f'kind = "compare"\n[tokenizer]\npath = "{at["tok"]}"\n[data]\npath = "{at["data"]}"\n'
                           f'[tables.t]\npath = "{at["table"]}"\n[train]\nsteps = 1\nbatch_size = 2\neval_every = 0\n'
                           f'eval_batch_size = 2\ndevice = "cpu"\nmodel = {{ {model} }}\n'
                           f'[[variants]]\nname = "a"\npreset = "tiny-bit-64"\ntable = "t"\n'
                           f'[[variants]]\nname = "b"\npreset = "tiny-unfrozen"\n[scales.cpu]\nseeds = [1]\n', encoding="utf-8")
    return {**at, "vocab": vocab, "_root": root}


def _world(world: dict) -> dict:
    return {k: v for k, v in world.items() if not k.startswith("_")}  # the artifacts and the vocabulary size


def test_every_command_that_writes_has_an_invocation():
    writing = {n for n in COMMANDS if _writes_out(n)}
    assert writing == {k.split(":")[0] for k in BASE}, "give each command that writes --out a line in BASE"


def test_out_at_inside_or_holding_an_input_is_refused_and_inputs_stay_byte_identical(world, tmp_path):
    w = _world(world)
    before = snapshot(world["_root"])
    tried = 0
    for key in BASE:
        for src in _inputs(key, w):
            inside = FILE_OUTPUT.get(key.split(":")[0], "sub")
            outs = [src, src.parent] + ([src / inside] if src.is_dir() else [])
            for out in outs:
                for force in ((), ("--force",)) if "--force" in _options(key) else ((),):
                    res = cli(*_args(key, w, out), *force)
                    line = one_line_error(res)
                    assert "input" in line or "exists" in line or "directory" in line, (key, out, force, line)
                    tried += 1
    assert snapshot(world["_root"]) == before
    assert tried >= 150  # 163 today: the count benchmarks/RESULTS.md reports


def test_an_existing_output_not_ours_is_refused_even_forced_and_left_byte_identical(world, tmp_path):
    """The one output rule, for every command: an existing --out is refused unless forced, and --force
    replaces only what this toolkit wrote (a folder of ours, a picture), never a user's file or folder."""
    w = _world(world)
    for key in BASE:
        name = key.split(":")[0]
        out = tmp_path / key.replace(":", "-") / FILE_OUTPUT.get(name, "out")
        if name in FILE_OUTPUT:  # a user's file that happens to bear the picture's name
            out.parent.mkdir(parents=True)
            out.write_text("my notes\n")
        else:
            out.mkdir(parents=True)
            (out / "notes.txt").write_text("my notes\n")
        before = snapshot(out.parent)
        for force in ((), ("--force",)) if "--force" in _options(key) else ((),):
            line = one_line_error(cli(*_args(key, w, out), *force))
            wanted = ("not a", "no comparison", "holds no", "not empty", "left alone") if force else ("exists", "not empty", "holds no")
            assert any(word in line for word in wanted), (key, force, line)
        assert snapshot(out.parent) == before, key
        assert leftovers(out.parent) == [], key


def _options(key: str) -> set[str]:
    return {o for p in _command(key.split(":")[0]).params for o in getattr(p, "opts", ())}


def test_a_second_writer_of_the_same_output_is_refused(world, tmp_path):
    w = _world(world)
    for key in BASE:
        out = tmp_path / key.replace(":", "-") / FILE_OUTPUT.get(key.split(":")[0], "out")
        with output_lock(out):  # another writer holds the output for its whole write
            res = cli(*_args(key, w, out))
        one_line_error(res, "is writing")
        assert not out.exists(), key


# ---- a full disk at the real write calls ---------------------------------------------------------------
def _full_disk(monkeypatch, only: str | None = None) -> list[str]:
    """Make the write calls fail with ENOSPC for paths inside a temporary output; returns the calls hit."""
    import pyarrow.parquet as pq
    import safetensors.torch
    import torch
    from safetensors import SafetensorError

    hit: list[str] = []

    def in_tmp(path) -> bool:
        return ".tmp-" in str(path)

    def wrap(name, real, error):
        def fake(*a, **k):
            path = a[0] if name == "file" else (a[1] if len(a) > 1 else next(iter(k.values()), None))
            if (only is None or only == name) and in_tmp(path):
                hit.append(name)
                raise error(path)
            return real(*a, **k)
        return fake

    def enospc(path):
        return OSError(errno.ENOSPC, "No space left on device", str(path))

    def safetensors_full(path):  # what the safetensors library raises on a full tmpfs: not an OSError
        return SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    def torch_full(path):  # what torch.save raises: a RuntimeError without an error code
        return RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file "
                            "data/0: file write failed")

    monkeypatch.setattr(safetensors.torch, "save_file", wrap("safetensors", safetensors.torch.save_file, safetensors_full))
    monkeypatch.setattr(pq, "write_table", wrap("parquet", pq.write_table, enospc))
    monkeypatch.setattr(torch, "save", wrap("torch", torch.save, torch_full))
    monkeypatch.setattr(Path, "write_bytes", wrap("file", Path.write_bytes, enospc))
    monkeypatch.setattr(Path, "write_text", wrap("file", Path.write_text, enospc))
    real_fsync = os.fsync

    def fsync(fd):  # a single file written atomically (run.json, a picture) is committed here; patched in os
        if only is None or only == "file":  # so that every module's imported name of the writer meets it
            hit.append("file")
            raise enospc(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else fd)
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return hit


def _disk_cases():
    cases = [(key, None) for key in BASE]
    # the safetensors writers, each alone: a checkpoint, an export, a fused run, a growth
    cases += [("train", "safetensors"), ("export", "safetensors"), ("fuse", "safetensors"), ("grow", "safetensors"),
              ("train", "torch"), ("render", "parquet")]
    return cases


@pytest.mark.parametrize("key, only", _disk_cases(), ids=lambda v: str(v))
def test_a_full_disk_is_one_line_and_leaves_nothing_behind(world, tmp_path, monkeypatch, key, only):
    w = _world(world)
    out = tmp_path / "o" / FILE_OUTPUT.get(key.split(":")[0], "out")
    out.parent.mkdir()
    hit = _full_disk(monkeypatch, only)
    res = cli(*_args(key, w, out))
    monkeypatch.undo()
    assert hit, f"{key}: no write call was reached: {res.output}"
    line = one_line_error(res)
    assert "no space left" in line or "disk full" in line, line
    assert leftovers(out.parent) == [], (key, leftovers(out.parent))
    if key.split(":")[0] in RESUMABLE and out.exists():  # a long job keeps what it finished, to resume
        assert artifact_kind(out) is not None or (out / "runs").is_dir(), key
    else:
        assert not out.exists(), key


# ---- every numeric option at its bounds and beyond ------------------------------------------------------
def _numeric_options():
    for name in COMMANDS:
        for p in _command(name).params:
            if isinstance(p, click.Option) and isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType,
                                                                  RangedType)):
                yield name, p


def _beyond(r) -> list[str]:
    out = []
    if r.integer:
        if r.low is not None:
            out.append(str(int(r.low) - 1))
        out.append(str(int(r.high) + 1))
        out.append("1.5")
    else:
        out += ["nan", "inf", "-inf"]
        if r.low is not None:
            out.append(repr(r.low) if r.low_open else repr(r.low - 1))
        if r.high is not None:
            out.append(repr(r.high) if r.high_open else repr(r.high + 1))
    return out


def _at(r) -> list[str]:
    vals = []
    if r.low is not None:
        vals.append(str(int(r.low)) if r.integer else repr(math.nextafter(r.low, math.inf) if r.low_open else r.low))
    if r.high is not None:
        vals.append(str(int(r.high)) if r.integer else repr(math.nextafter(r.high, -math.inf) if r.high_open else r.high))
    return vals


def test_every_numeric_option_has_one_range():
    plain = [(n, p.name) for n, p in _numeric_options() if not isinstance(p.type, RangedType)]
    assert plain == [], "declare these options with cli.options.ranged(...) so their range is defined once"


def test_every_numeric_option_refuses_values_beyond_its_bounds_and_takes_them_at_it():
    tried = 0
    for name, p in _numeric_options():
        flag = max(p.opts, key=len)
        for value in _beyond(p.type.range):
            line = one_line_error(cli(name, f"{flag}={value}"), flag)
            assert "out of range" in line or "not a valid" in line, line
            tried += 1
        for value in _at(p.type.range):
            assert p.type.convert(value, p, None) is not None
            tried += 1
    assert tried >= 300  # 310 today (60 options)


def test_a_cuda_device_this_build_lacks_is_one_line_in_eval_and_generate(world):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    w = _world(world)
    one_line_error(cli("generate", "--run", w["run"], "--device", "cuda"), "not available")
    one_line_error(cli("eval", "--run", w["run"], "--data", w["data"], "--device", "cuda", "--out",
                       w["run"].parent.parent / "never"), "not available")
    assert not (w["run"].parent.parent / "never").exists()


def test_grow_force_replaces_the_old_growth_only_once_the_new_one_is_complete(world, tmp_path, monkeypatch):
    w = _world(world)
    out = tmp_path / "growth"
    assert cli(*_args("grow", w, out)).exit_code == 0
    before = snapshot(out)
    _full_disk(monkeypatch, "safetensors")  # the new growth's first checkpoint cannot be written
    one_line_error(cli(*_args("grow", w, out), "--force"), "no space left")
    monkeypatch.undo()
    assert snapshot(out) == before and leftovers(tmp_path) == []
    res = cli(*_args("grow", w, out), "--force")
    assert res.exit_code == 0, res.output
    from unicode_substrate.run import Run

    final = Run.load(out / "final")
    assert final.data_path.resolve() == w["data"].resolve()  # paths recorded beside the rename still hold
    assert leftovers(tmp_path) == []


# ---- foreign or edited parts ------------------------------------------------------------------------------
def _edited_export(world, tmp_path, edit_config=None, edit_tensors=None) -> Path:
    """A copy of the export as transformers would save it (no manifest), its config or tensors edited."""
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    out = tmp_path / "hf"
    shutil.copytree(world["export"], out)
    (out / "manifest.json").unlink()
    if edit_config:
        config = json.loads((out / "config.json").read_text())
        edit_config(config)
        (out / "config.json").write_text(json.dumps(config))
    if edit_tensors:
        tensors = load_file(str(out / "model.safetensors"))
        edit_tensors(tensors)
        save_file(tensors, str(out / "model.safetensors"))
    return out


@pytest.mark.parametrize("what, edit_config, edit_tensors, fragment", [
    ("heads", lambda c: c.update(num_attention_heads=1), None, "num_attention_heads=1"),
    ("rope", lambda c: c["rope_parameters"].update(rope_theta=500.0), None, "rope_theta=500.0"),
    ("width", lambda c: c.update(hidden_size=32), None, "hidden_size=32"),
    ("integers", None, lambda t: t.update({k: v.to(__import__("torch").int32) for k, v in t.items()
                                           if k.endswith("dense.weight")}), "not floating point"),
    ("shape", None, lambda t: t.update({k: v[:, :-1].contiguous() for k, v in t.items()
                                        if k.endswith("attention.dense.weight")}), "has shape"),
])
def test_train_init_refuses_an_export_whose_parts_disagree(world, tmp_path, what, edit_config, edit_tensors, fragment):
    w = _world(world)
    hf = _edited_export(w, tmp_path, edit_config, edit_tensors)
    out = tmp_path / "run"
    one_line_error(cli("train", "--data", w["data"], "--table", w["table"], "--init", hf, "--out", out, *TRAIN), fragment)
    assert not out.exists()


def test_import_table_refuses_tensors_that_are_no_table_and_bounds_the_collision_search(world, tmp_path):
    import numpy as np
    import torch

    from unicode_substrate.errors import SubstrateError
    from unicode_substrate.render.collisions import find_collisions

    w = _world(world)
    v = w["vocab"]
    cases = {
        "zero-width": (torch.zeros(v, 0), "column"),
        "one-wide": (torch.randn(v, 1), "column"),
        "sparse": (torch.randn(v, 8).to_sparse(), "sparse"),
        "meta": (torch.empty(v, 8, device="meta"), "meta"),
    }
    for name, (tensor, fragment) in cases.items():
        pt = tmp_path / f"{name}.pt"
        torch.save(tensor, pt)
        one_line_error(cli("import-table", pt, "--tokenizer", w["tok"], "--out", tmp_path / name), fragment)
        assert not (tmp_path / name).exists()
    # a narrow table whose every pair is near: refused once the bound is passed, not collected
    narrow = np.random.default_rng(0).standard_normal((3000, 2)).astype(np.float32)
    with pytest.raises(SubstrateError, match="near-duplicate row pairs"):
        find_collisions(narrow, max_pairs=10_000)
    # huge finite values: the same near pair as at unit scale, not "none" from a float32 overflow
    rows = np.random.default_rng(1).standard_normal((500, 16)).astype(np.float32)
    rows[7] = rows[3] * np.float32(1.00001)
    for strategy in ("kdtree", "matmul"):
        assert [p[:2] for p in find_collisions(rows * np.float32(1e30), strategy=strategy).near_pairs] == [(3, 7)]


def test_a_pickle_in_a_hugging_face_folder_is_refused_in_one_line_without_running(world, tmp_path):
    import datetime
    import shutil

    import torch

    w = _world(world)
    hf = tmp_path / "hf"
    shutil.copytree(w["export"], hf)
    (hf / "model.safetensors").unlink()
    (hf / "manifest.json").unlink()
    torch.save({"when": datetime.datetime(2020, 1, 1)}, hf / "pytorch_model.bin")  # not a plain tensor: refused
    before = snapshot(hf)
    items = tmp_path / "boolq.jsonl"
    items.write_text('{"question": "is the fox quick", "passage": "the quick brown fox", "answer": true}\n')
    one_line_error(cli("eval", "--hf-model", hf, "--task-path", f"boolq={items}", "--out", tmp_path / "e"),
                   "cannot load the Hugging Face model")
    assert snapshot(hf) == before and not (tmp_path / "e").exists()


def test_every_command_that_loads_a_run_refuses_a_checkpoint_table_or_tokenizer_of_another(world, tmp_path):
    from unicode_substrate.checkpoint import latest_checkpoint

    w = _world(world)
    tok2 = make_char_tokenizer(tmp_path.parent / f"{tmp_path.name}-tok2", "another alphabet: xyzw 0123")
    foreign = {"--checkpoint": latest_checkpoint(w["run3"]), "--table": w["table2"], "--tokenizer": tok2}
    extra = {"eval": ["--data", w["data"], "--no-progress"]}
    tried = 0
    for name in COMMANDS:
        opts = _options(name)
        if "--run" not in opts:
            continue
        for flag, part in foreign.items():
            if flag not in opts:
                continue
            out = ["--out", tmp_path / f"{name}-{flag[2:]}"] if "--out" in opts else []
            one_line_error(cli(name, "--run", w["run"], flag, part, *extra.get(name, []), *out))
            assert not any(tmp_path.iterdir()), name
            tried += 1
    assert tried >= 9  # generate, eval and export, each with all three


def test_train_force_replaces_the_old_run_only_once_the_new_one_is_complete(world, tmp_path, monkeypatch):
    import shutil

    w = _world(world)
    run = tmp_path / "run"
    shutil.copytree(w["run"], run)
    before = snapshot(run)
    args = [*_args("train", w, run), "--force", "--ckpt-every", "1"]
    _full_disk(monkeypatch, "safetensors")  # the new run's first checkpoint cannot be written
    one_line_error(cli(*args), "no space left")
    monkeypatch.undo()
    assert snapshot(run) == before and leftovers(tmp_path) == []
    res = cli(*args, "--seed", "9")
    assert res.exit_code == 0, res.output
    from unicode_substrate.run import Run

    new = Run.load(run)
    assert new.record.train["seed"] == 9 and new.data_path.resolve() == w["data"].resolve()
    assert leftovers(tmp_path) == []


# ---- a real full disk: a tiny tmpfs, where the test may mount one ------------------------------------------
@pytest.fixture
def tiny_fs(tmp_path):
    """A 256 KiB tmpfs and ``fill(free)``: leave ``free`` bytes of it unused; skipped where mounting is refused."""
    import shutil
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tiny tmpfs here (needs root and a mount namespace)")

    def fill(free: int) -> None:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        size = (mnt / "filler").stat().st_size
        os.truncate(mnt / "filler", max(size - free, 0))
        assert shutil.disk_usage(mnt).free <= free + 4096

    try:
        yield mnt, fill
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def _real_disk_cases():
    # every command with no room at all, then the safetensors writers with room for the small files first
    return [(key, 0) for key in BASE] + [("train", 8192), ("fuse", 16384), ("grow", 8192), ("export", 16384)]


@pytest.mark.parametrize("key, free", _real_disk_cases(), ids=lambda v: str(v))
def test_a_real_full_disk_is_one_line_and_leaves_nothing_behind(world, tiny_fs, key, free):
    mnt, fill = tiny_fs
    fill(free)
    out = mnt / FILE_OUTPUT.get(key.split(":")[0], "out")
    one_line_error(cli(*_args(key, _world(world), out)), "no space left on the device")  # the real errors carry ENOSPC
    assert leftovers(mnt) == [], leftovers(mnt)
    if not (key.split(":")[0] in RESUMABLE and out.exists() and artifact_kind(out) is not None):
        assert sorted(p.name for p in mnt.iterdir()) == ["filler"], sorted(p.name for p in mnt.iterdir())


def test_model_safetensors_gets_the_umask_mode_everywhere(world, tmp_path):
    from unicode_substrate.checkpoint import latest_checkpoint

    w = _world(world)
    old = os.umask(0o027)
    try:
        assert cli(*_args("fuse", w, tmp_path / "fused")).exit_code == 0
        assert cli(*_args("export", w, tmp_path / "export")).exit_code == 0
    finally:
        os.umask(old)
    for f in (latest_checkpoint(tmp_path / "fused") / "model.safetensors", tmp_path / "export" / "model.safetensors"):
        assert f.stat().st_mode & 0o777 == 0o640, f
    for f in (latest_checkpoint(w["run"]) / "model.safetensors", w["export"] / "model.safetensors"):
        assert f.stat().st_mode & 0o777 == 0o666 & ~old, f


def test_corrupt_records_are_one_line(world, tmp_path):
    import json
    import shutil

    from unicode_substrate.checkpoint import latest_checkpoint

    w = _world(world)
    run = tmp_path / "run"
    shutil.copytree(w["run"], run)
    manifest = latest_checkpoint(run) / "manifest.json"
    record = json.loads(manifest.read_text())
    for step in ("seven", None, -1, 2.5):
        manifest.write_text(json.dumps({**record, "step": step}))
        one_line_error(cli("export", "--run", run, "--tokenizer", w["tok"], "--table", w["table"], "--out", tmp_path / "hf"),
                       "no valid step")
    manifest.write_text(json.dumps(record))
    for text in ("{not json", '["a list"]', '{"val_loss": "low", "val_bpb": null}'):
        (run / "summary.json").write_text(text)
        res = cli(*_args("train", w, run), "--resume", "--seed", "0", "--steps", "2", "--ckpt-every", "1")
        assert res.exit_code in (0, 2) and "Traceback" not in res.output, res.output
        if res.exit_code == 2:
            one_line_error(res, "summary")
    growth = tmp_path / "growth"
    assert cli(*_args("grow", w, growth)).exit_code == 0
    for text in ("{not json", "[]"):
        (growth / "grow.json").write_text(text)
        one_line_error(cli(*_args("grow", w, growth), "--resume"), "grow.json")
    assert not (tmp_path / "hf").exists()
