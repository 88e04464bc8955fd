"""substrate study: one file, checked keys, scales, resumable without retraining finished runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from _train_helpers import TINY_MODEL, make_data, make_table
from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.recipes.study import load_study, run_study


def _study(tmp_path, data, table, **extra) -> str:
    model = ", ".join(f"{k} = {v}" for k, v in TINY_MODEL.items())
    text = f'''kind = "compare"
[tokenizer]
path = "{Path(data).parent}"
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
    return make_data(d / "data"), make_table(d / "table")


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
    for name in ("emergent-semantics", "growing"):
        for scale in ("cpu", "paper"):
            load_study(f"studies/{name}.toml", scale)


def test_interrupted_study_resumes_without_retraining(tmp_path, inputs, monkeypatch):
    from unicode_substrate.recipes import compare as cmp

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
