"""substrate study: one file, checked keys, scales, resumable without retraining finished runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from _train_helpers import TINY_MODEL, make_char_tokenizer, make_data, make_table
from unicode_substrate.artifacts import manifest_sha256
from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.experiments.study import load_study, run_study


def _study(tmp_path, data, table, **extra) -> str:
    model = ", ".join(f"{k} = {v}" for k, v in TINY_MODEL.items())
    text = f'''kind = "compare"
[tokenizer]
path = "{Path(data).parent / 'tok'}"
[data]
path = "{data}"
[tables.t]
path = "{table}"
[train]
batch_size = 4
eval_every = 0
ckpt_every = 0
eval_tokens = 300
device = "cpu"
model = {{ {model} }}
[[variants]]
name = "frozen"
preset = "tiny-glyph"
table = "t"
[[variants]]
name = "trainable"
preset = "tiny-unfrozen"
[scales.cpu]
seeds = [1, 2]
train = {{ steps = 2, warmup = 1 }}
[scales.other]
seeds = [3]
'''
    f = tmp_path / "s.toml"
    f.write_text(text + "".join(extra.values()))
    return str(f)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("study_inputs")
    sha = manifest_sha256(make_char_tokenizer(d / "tok", "abc"))  # the tokenizer the data and table were made with
    return make_data(d / "data", tokenizer_sha=sha), make_table(d / "table", tokenizer_sha=sha)


def test_study_files_are_checked(tmp_path, inputs):
    data, table = inputs
    f = _study(tmp_path, data, table)
    s = load_study(f, "cpu")
    assert s["seeds"] == [1, 2] and s["train"]["steps"] == 2 and s["train"]["batch_size"] == 4  # merged, not replaced
    assert load_study(f, "other")["seeds"] == [3]
    with pytest.raises(SubstrateError, match="no scale 'paper'"):
        load_study(f, "paper")
    for extra, words in (("colour = 1\n", "unknown key: colour"), ('[eval]\ntasks = "arc_easy"\nfoo = 1\n', "eval: unknown key: foo"),
                         ("[[variants]]\nname = \"x\"\npreset = \"tiny-glyph\"\ntable = \"nope\"\n", "which [tables] does not define")):
        g = tmp_path / "bad.toml"
        g.write_text(extra + open(f).read() if extra.startswith("colour") else open(f).read() + extra)
        with pytest.raises(SubstrateError, match=words.replace("[", r"\[").replace("]", r"\]")):
            load_study(g, "cpu")
    dup = tmp_path / "dup.toml"
    dup.write_text(open(f).read().replace("seeds = [1, 2]", "seeds = [1, 1]"))
    res = CliRunner().invoke(main, ["study", str(dup), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "given twice" in res.output and len(res.output.strip().splitlines()) == 1
    # every shipped study parses at both scales
    for name in ("emergent-semantics", "growing", "fusion"):
        for scale in ("cpu", "paper"):
            load_study(f"studies/{name}.toml", scale)


def test_interrupted_study_resumes_without_retraining(tmp_path, inputs, monkeypatch):
    from unicode_substrate.experiments import compare as cmp

    data, table = inputs
    f = _study(tmp_path, data, table)
    whole = run_study(f, tmp_path / "whole", progress=False)
    real, trained = cmp.train, []

    def dies_on_third(cfg, data, out, **kw):
        if len(trained) == 2:
            raise KeyboardInterrupt
        trained.append(out)
        return real(cfg, data, out, **kw)

    monkeypatch.setattr(cmp, "train", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_study(f, tmp_path / "cut", progress=False)
    done = [p.stat().st_mtime_ns for p in (d / "summary.json" for d in trained)]
    monkeypatch.setattr(cmp, "train", lambda *a, **k: trained.append(a[2]) or real(*a, **k))
    resumed = run_study(f, tmp_path / "cut", progress=False)
    assert len(trained) == 4  # two before the interruption, only the remaining two after it
    assert [p.stat().st_mtime_ns for p in (d / "summary.json" for d in trained[:2])] == done  # never trained again
    assert resumed.read_text() == whole.read_text().replace(str(tmp_path / "whole"), str(tmp_path / "cut"))
    r = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert set(r["summary"]) == {"frozen", "trainable"} and r["summary"]["frozen"]["val bits/byte"]["n"] == 2
    assert "| val bits/byte |" in resumed.read_text() and (tmp_path / "cut" / "results.png").is_file()
    # another scale is another study: refused, not mixed into this folder
    with pytest.raises(SubstrateError, match="another study"):
        run_study(f, tmp_path / "cut", scale="other", progress=False)


def _fuse_study(tmp_path, inputs, extra: str = "") -> str:
    data, table, b, tune = inputs
    model = ", ".join(f"{k} = {v}" for k, v in TINY_MODEL.items())
    text = f'''kind = "fuse"
[tokenizer]
path = "{Path(data).parent / 'tok'}"
[data.a]
path = "{data}"
[data.b]
path = "{b}"
[data.tune]
path = "{tune}"
[tables.t]
path = "{table}"
[train]
batch_size = 4
eval_every = 0
ckpt_every = 0
eval_tokens = 96
eval_batch_size = 8
device = "cpu"
model = {{ {model} }}
[fuse]
preset = "tiny-glyph"
table = "t"
tune = {{ steps = 2, lr = 1e-2 }}
[scales.cpu]
seeds = [1, 2]
train = {{ steps = 3, warmup = 1 }}
{extra}'''
    f = tmp_path / "fuse.toml"
    f.write_text(text)
    return str(f)


@pytest.fixture(scope="module")
def fuse_inputs(tmp_path_factory, inputs):
    d = tmp_path_factory.mktemp("fuse_inputs")  # b and tune: other Markov chains, the same tokenizer
    sha = manifest_sha256(Path(inputs[0]).parent / "tok")
    return (*inputs, make_data(d / "b", seed=1, tokenizer_sha=sha), make_data(d / "tune", seed=2, tokenizer_sha=sha))


@pytest.fixture(scope="module")
def fused_study(tmp_path_factory, fuse_inputs):
    d = tmp_path_factory.mktemp("fused_study")
    f = _fuse_study(d, fuse_inputs)
    return f, run_study(f, d / "whole", progress=False)


def test_fuse_study_files_are_checked(tmp_path, fuse_inputs):
    f = _fuse_study(tmp_path, fuse_inputs)
    s = load_study(f, "cpu")
    assert s["fuse"]["tune"] == {"steps": 2, "lr": 1e-2} and set(s["data"]) == {"a", "b", "tune"}
    text = open(f).read()
    for bad, words in ((text.replace('table = "t"\ntune', 'table = "t"\ncolour = 1\ntune'), "fuse: unknown key: colour"),
                       (text.replace("[data.tune]", "[data.c]"), "data: unknown key: c"),
                       (text.replace("tune = { steps = 2", "tune = { steps = 0"), "steps of at least 1"),
                       (text.replace('table = "t"\ntune', 'table = "u"\ntune'), "which [tables] does not define"),
                       (text + '[[variants]]\nname = "x"\npreset = "tiny-glyph"\n', 'does not belong to kind = "fuse"'),
                       (text.replace(f'path = "{fuse_inputs[2]}"', "build = { demo_qa = 2 }"), r"demo_qa must be a finite number above 0 and at most 1"),
                       (text.replace(f'path = "{fuse_inputs[2]}"', "build = { demo_qa = 1, recipe = \"r.toml\" }"),
                        "cannot go with recipe")):
        g = tmp_path / "bad.toml"
        g.write_text(bad)
        with pytest.raises(SubstrateError, match=words.replace("[", r"\[").replace("]", r"\]")):
            load_study(g, "cpu")
    g.write_text(open(_study(tmp_path, *fuse_inputs[:2])).read() + '[fuse]\npreset = "tiny-glyph"\n')
    with pytest.raises(SubstrateError, match='fuse. belongs to kind = "fuse"'):
        load_study(g, "cpu")
    res = CliRunner().invoke(main, ["study", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and res.output.startswith("error: ") and len(res.output.strip().splitlines()) == 1


def test_fuse_study_scores_every_model_on_both_corpora(fused_study):
    f, md = fused_study
    out = md.parent
    r = json.loads((out / "results.json").read_text())
    metrics = {"val bits/byte (a)", "val bits/byte (b)", "val bits/byte (mean)"}
    assert set(r["summary"]) == {"expert-a", "expert-b", "fused-mean", "fused-adapter"}
    for name, cells in r["summary"].items():
        assert set(cells) == metrics and all(c["n"] == 2 and c["half_width"] is not None for c in cells.values())
        m = cells["val bits/byte (mean)"]["mean"]
        assert m == pytest.approx((cells["val bits/byte (a)"]["mean"] + cells["val bits/byte (b)"]["mean"]) / 2)
    pairs = {(d["a"], d["b"]) for d in r["differences"]}
    assert pairs == {("fused-mean", "expert-a"), ("fused-mean", "expert-b"), ("fused-adapter", "expert-a"),
                     ("fused-adapter", "expert-b"), ("fused-adapter", "fused-mean")} and len(r["differences"]) == 15
    scores = json.loads((out / "fuse" / "scores.json").read_text())["scores"]
    # each expert scored on both corpora, a and b really are two data sets, and a fusion is neither expert
    ea, eb, fm = (scores[m]["1"] for m in ("expert-a", "expert-b", "fused-mean"))
    assert ea["a"]["data_manifest_sha256"] != ea["b"]["data_manifest_sha256"]
    assert len({ea["val bits/byte (a)"], eb["val bits/byte (a)"], fm["val bits/byte (a)"]}) == 3
    # the tuned adapter started from the adapter fusion of the same seed's experts, and trained only the adapter
    from unicode_substrate.run import Run

    tuned = Run.load(out / "fuse" / "runs" / "fused-adapter" / "seed-1")
    assert tuned.identity["architecture"] == "fused" and tuned.summary()["steps"] == 2
    text = md.read_text()
    for row in ("| val bits/byte (a) |", "| val bits/byte (b) |", "| val bits/byte (mean) |", "| fused-adapter − expert-a |"):
        assert row in text
    assert "fused-mean − expert-b: " in text and (out / "results.png").is_file() and (out / "fuse" / "report.md").is_file()


def test_interrupted_fuse_study_resumes_without_retraining(tmp_path, fuse_inputs, fused_study, monkeypatch):
    from unicode_substrate.experiments import compare as cmp

    f, whole = fused_study
    real, trained = cmp.train, []

    def dies_on_fourth(cfg, data, out, **kw):  # seed 1: expert a, expert b, the adapter; then seed 2's expert a
        if len(trained) == 3:
            raise KeyboardInterrupt
        trained.append(Path(out))
        return real(cfg, data, out, **kw)

    monkeypatch.setattr(cmp, "train", dies_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        run_study(f, tmp_path / "cut", progress=False)
    fused = tmp_path / "cut" / "fuse" / "runs" / "fused-mean" / "seed-1" / "run.json"
    done = [p.stat().st_mtime_ns for p in [*(d / "summary.json" for d in trained), fused]]
    monkeypatch.setattr(cmp, "train", lambda *a, **k: trained.append(Path(a[2])) or real(*a, **k))
    resumed = run_study(f, tmp_path / "cut", progress=False)
    assert len(trained) == 6 and [p.name for p in trained[3:]] == ["seed-2"] * 3  # only seed 2 trained after it
    assert [p.stat().st_mtime_ns for p in [*(d / "summary.json" for d in trained[:3]), fused]] == done
    assert resumed.read_text() == whole.read_text()
    assert (tmp_path / "cut" / "results.json").read_bytes() == (whole.parent / "results.json").read_bytes()


def test_a_study_retrains_what_it_cannot_verify_instead_of_reusing_it(tmp_path, inputs, monkeypatch):
    """A tampered summary, a flipped weight byte and a deleted final weight file: each run is trained again."""
    from unicode_substrate.experiments import compare as cmp

    data, table = inputs
    f = _study(tmp_path, data, table)
    run_study(f, tmp_path / "s", progress=False)
    runs = tmp_path / "s" / "compare" / "runs"
    edited, flipped, deleted = runs / "frozen" / "seed-1", runs / "frozen" / "seed-2", runs / "trainable" / "seed-1"
    s = json.loads((edited / "summary.json").read_text())
    s["val_loss"] = 0.001  # one edited number
    (edited / "summary.json").write_text(json.dumps(s))
    weights = sorted(flipped.glob("checkpoints/step-*/model.safetensors"))[-1]
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0x01
    weights.write_bytes(bytes(raw))
    sorted(deleted.glob("checkpoints/step-*/model.safetensors"))[-1].unlink()
    real, trained = cmp.train, []
    monkeypatch.setattr(cmp, "train", lambda *a, **k: trained.append(a[2]) or real(*a, **k))
    run_study(f, tmp_path / "s", progress=False)
    assert sorted(map(str, trained)) == sorted(map(str, (edited, flipped, deleted)))  # the intact fourth is kept
    from unicode_substrate.run import Run

    assert all(Run.load(p).unfinished(2) is None for p in (edited, flipped, deleted))


def test_what_makes_a_run_unfinished(tmp_path, inputs):
    from unicode_substrate.run import Run

    data, table = inputs
    run_study(_study(tmp_path, data, table), tmp_path / "s", progress=False)
    run = Run.load(tmp_path / "s" / "compare" / "runs" / "trainable" / "seed-2")
    assert run.unfinished() is None and run.unfinished(2) is None
    assert run.unfinished(5) == "unfinished at step 2 of 5"
    (run.path / "summary.json").unlink()
    assert run.unfinished() == "unfinished at step 2 of 2"


def test_a_built_input_is_reused_only_with_the_same_build_options(tmp_path):
    from unicode_substrate.artifacts import atomic_write_bytes
    from unicode_substrate.experiments.study import _built

    builds = []

    def build(out, options):
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "manifest.json", json.dumps(options).encode())
        builds.append(options)

    out = tmp_path / "inputs" / "tables" / "t"
    for options in ({"seed": 0}, {"seed": 0}, {"seed": 1}, {"seed": 1}, {"seed": 1, "dim": 8}):
        assert _built(out, {"build": options}, "table t", build, False) == out
    assert builds == [{"seed": 0}, {"seed": 1}, {"seed": 1, "dim": 8}]  # a seed-1 study never trains on a seed-0 table


def test_a_name_that_escapes_the_study_folder_is_refused_even_with_force(tmp_path, inputs):
    data, table = inputs
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "run.json").write_text("{}")  # a finished run outside the study
    for bad in ("../../../victim", "a/b", ""):
        f = _study(tmp_path, data, table)
        Path(f).write_text(Path(f).read_text().replace('name = "trainable"', f'name = "{bad}"'))
        res = CliRunner().invoke(main, ["study", f, "--out", str(tmp_path / "study" / "x"), "--force"])
        assert res.exit_code == 2 and "variant" in res.output and len(res.output.strip().splitlines()) == 1, res.output
        assert not (tmp_path / "study").exists()
    assert [p.name for p in victim.iterdir()] == ["run.json"] and (victim / "run.json").read_text() == "{}"


def test_study_values_are_checked_before_any_work(tmp_path, inputs):
    data, table = inputs
    cases = ((('description = 42\n', ''), "description must be a string"),
             (('seeds = 7\n', ''), "seeds must be a list"),
             (('', 'name = "trainable"\npreset = "tiny-unfrozen"\nmodel = { n_layer = -2 }'), "n_layer must be an integer at least 1"),
             (('', 'name = "trainable"\npreset = "tiny-unfrozn"'), "unknown preset"))
    for (top, variant), words in cases:
        f = _study(tmp_path, data, table)
        text = Path(f).read_text().replace("[scales.cpu]\nseeds = [1, 2]\n", "[scales.cpu]\n")
        if variant:
            text = text.replace('name = "trainable"\npreset = "tiny-unfrozen"', variant)
        Path(f).write_text(top + text)
        res = CliRunner().invoke(main, ["study", f, "--out", str(tmp_path / "out")])
        assert res.exit_code == 2 and words in res.output and len(res.output.strip().splitlines()) == 1, res.output
        assert not (tmp_path / "out").exists()
    res = CliRunner().invoke(main, ["compare", "--data", str(data), "--variant", "a=tiny-unfrozen", "--variant", "b=tiny-unfrozen",
                                    "--seeds", "²", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "non-negative integers" in res.output and not (tmp_path / "out").exists()


def test_a_growth_study_and_a_data_recipe_are_checked_before_any_work(tmp_path, inputs):
    data, table = inputs
    recipe = tmp_path / "r.toml"
    recipe.write_text('seed = -1\n[[source]]\nname = "a"\nbuiltin = true\n')
    for grow, build, words in (('trainable = "newst+head"\n', f'path = "{data}"', "trainable must be one of"),
                               ("", f'build = {{ recipe = "{recipe}" }}', "seed must be an integer at least 0, got -1")):
        f = tmp_path / "g.toml"
        f.write_text(f'kind = "grow"\n[tokenizer]\npath = "{Path(data).parent / "tok"}"\n[data]\n{build}\n'
                     f'[grow]\nstages = [1, 1]\nsteps_per_stage = [2, 2]\n{grow}[scales.cpu]\n')
        res = CliRunner().invoke(main, ["study", str(f), "--out", str(tmp_path / "out")])
        assert res.exit_code == 2 and words in res.output and len(res.output.strip().splitlines()) == 1, res.output
        assert not (tmp_path / "out").exists()


def test_the_tokenizer_must_be_a_tokenizer_and_the_one_the_data_was_made_with(tmp_path, inputs):
    data, table = inputs
    other = make_data(tmp_path / "other")  # made with another tokenizer
    for old, new, words in ((f"{Path(data).parent / 'tok'}", str(Path(data).parent), "is not a tokenizer folder"),
                            (f'[data]\npath = "{data}"', f'[data]\npath = "{other}"', "made with another tokenizer")):
        f = _study(tmp_path, data, table)
        Path(f).write_text(Path(f).read_text().replace(old, new))
        res = CliRunner().invoke(main, ["study", f, "--out", str(tmp_path / "out")])
        assert res.exit_code == 2 and words in res.output and len(res.output.strip().splitlines()) == 1, res.output
        assert not list((tmp_path / "out").glob("compare/runs/*"))  # nothing trained
