"""One validator of names and configuration fields (unicode_substrate/schema.py), and tests generated from it.

For every field of every configuration kind (model fields, training options, a study's build
options, evaluation and variants) one wrong type, one value out of range and one unknown key each
give one ``error:`` line before any work, with nothing written.
"""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from _cli_helpers import one_line_error
from _train_helpers import make_data
from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.model.config import ModelConfig
from unicode_substrate.options import INT_MAX
from unicode_substrate.schema import Spec, check_name, dataclass_specs, is_seed_dir, seed_dir
from unicode_substrate.train.config import TrainConfig

BAD_NAMES = ["", ".", "..", "../x", "../../../victim", "a/b", "/abs", "a\\b", "a\nb", "a\0b", "a b", "é", 7, None]


def test_names_are_one_path_component_of_plain_characters():
    for good in ("glyph", "tiny-glyph_2", "v1.2", "..a", "a..b", "A"):
        assert check_name(good) == good
    for bad in BAD_NAMES:
        with pytest.raises(SubstrateError, match="must be a non-empty name of letters, digits"):
            check_name(bad, "variant name")
    assert seed_dir(3) == "seed-3" and is_seed_dir("seed-3") and not is_seed_dir("seed-x") and not is_seed_dir("seed-²")


def test_every_command_name_goes_through_the_one_check(tmp_path):
    from unicode_substrate.experiments.compare import Variant, parse_variant
    from unicode_substrate.data.recipe import parse_recipe

    for bad in ("../x", "a/b", ""):
        with pytest.raises(SubstrateError, match="variant name"):
            Variant(bad, "tiny-glyph")  # what study builds directly
        with pytest.raises(SubstrateError):
            parse_variant(f"{bad}=tiny-glyph")
        with pytest.raises(SubstrateError, match="name must be a non-empty name"):
            parse_recipe({"source": [{"name": bad, "builtin": True}]})
    res = CliRunner().invoke(main, ["compare", "--data", str(tmp_path), "--variant", "../../x=tiny-glyph", "--variant",
                                    "b=tiny-unfrozen", "--out", str(tmp_path / "cmp"), "--no-progress"])
    one_line_error(res, "variant name")
    assert not (tmp_path / "cmp").exists()


# --- generated from the schemas -------------------------------------------------------------------
def _wrong_type(spec: Spec):
    return {"int": "x", "float": "x", "bool": 3, "str": 3, "table": 3, "list": 3, "name": 3}.get(spec.kind)


def _out_of_range(spec: Spec):
    """A value of the right type outside the field's range or choices; None when the field has neither."""
    if spec.choices is not None:
        return "nope"
    r = spec.range
    if r is None:
        return None
    if r.low is not None:
        return (int(r.low) - 1) if r.integer else (r.low if r.low_open else r.low - 1.0)
    if r.high is not None and r.high != INT_MAX:
        return (int(r.high) + 1) if r.integer else (r.high if r.high_open else r.high + 1.0)
    return None


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan"
    return json.dumps(value)


def _cases(specs: dict[str, Spec]):
    for name, spec in specs.items():
        for what, value in (("type", _wrong_type(spec)), ("range", _out_of_range(spec))):
            if value is not None:
                yield name, what, value


def _train_cli(tmp_path, data, toml: str):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml, encoding="utf-8")
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", "--data", str(data), "--config", str(cfg), "--out", str(out), "--no-progress"])
    return res, out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("schema") / "data")


def test_every_training_option_and_model_field_is_checked_before_any_work(tmp_path, data):
    tried = 0
    for name, what, value in _cases(dataclass_specs(TrainConfig)):
        res, out = _train_cli(tmp_path, data, f"{name} = {_toml(value)}\n")
        one_line_error(res, name)
        assert not out.exists(), (name, what)
        tried += 1
    for name, what, value in _cases(dataclass_specs(ModelConfig)):
        res, out = _train_cli(tmp_path, data, f"[model]\n{name} = {_toml(value)}\n")
        one_line_error(res, name)
        assert not out.exists(), (name, what)
        tried += 1
    for toml, words in (("colour = 1\n", "unknown key: colour (valid: "), ("[model]\ncolour = 1\n", "unknown key: colour (valid: ")):
        res, out = _train_cli(tmp_path, data, toml)
        one_line_error(res, words)
        assert not out.exists()
        tried += 1
    assert tried >= 55  # every field of both kinds: a wrong type, and a value out of range where it has one


def test_the_model_sizes_the_issue_named_are_one_line_without_a_run_folder(tmp_path, data):
    for setting in ("n_layer=-2", "mlp_ratio=0", "n_head=0", "n_embed=0", "context=0", "context=-4", "d_model=-128",
                    "init_std=nan", "foo=1"):
        out = tmp_path / "run"
        res = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(out), "--set", setting, "--no-progress"])
        one_line_error(res, setting.split("=")[0])
        assert not out.exists()
    with pytest.raises(SubstrateError, match="n_layer must be an integer at least 1"):
        TrainConfig(model={"n_layer": -2})


def test_set_help_is_derived_from_the_model_schema():
    res = CliRunner().invoke(main, ["train", "--help"], terminal_width=10_000)
    for name in dataclass_specs(ModelConfig):
        assert name in res.output


def test_every_study_option_is_checked_before_any_work(tmp_path):
    from unicode_substrate.experiments import study as st

    base = 'kind = "compare"\n[tokenizer]\nbuild = {}\n[data]\nbuild = {}\n[[variants]]\nname = "a"\npreset = "tiny-glyph"\n' \
           '[[variants]]\nname = "b"\npreset = "tiny-unfrozen"\n[scales.cpu]\n'
    tried = 0
    for section, specs in (("tokenizer", st.TOKENIZER_BUILD), ("data", st.DATA_BUILD), ("tables.t", st.TABLE_BUILD)):
        for name, what, value in [*_cases(specs), ("colour", "key", 1)]:
            f = tmp_path / "s.toml"
            table = "" if section != "tables.t" else "[tables.t]\nbuild = {}\n"
            text = (base + table).replace(f"[{section}]\nbuild = {{}}", f"[{section}]\nbuild = {{ {name} = {_toml(value)} }}")
            f.write_text(text, encoding="utf-8")
            res = CliRunner().invoke(main, ["study", str(f), "--out", str(tmp_path / "out")])
            one_line_error(res, name)
            assert not (tmp_path / "out").exists(), (section, name, what)
            tried += 1
    for name, what, value in [*_cases(st.EVAL_KEYS), ("colour", "key", 1)]:
        f = tmp_path / "s.toml"
        ev = {"tasks": "arc-easy", "data_dir": "x", name: value}
        f.write_text(base.replace("[scales.cpu]", "[eval]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in ev.items())
                                  + "[scales.cpu]"), encoding="utf-8")
        with pytest.raises(SubstrateError, match=name):
            st.load_study(f)
        tried += 1
    assert tried >= 30
