"""substrate semantics: planted groups separate, random ones do not, the same seed gives the same chance,
the per-level states are transformers' hidden states of the export, and bad inputs are one line."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from _cli_helpers import one_line_error
from _cli_helpers import run_cli as cli
from _train_helpers import make_char_corpus
from unicode_substrate.semantics.groups import load_groups
from unicode_substrate.semantics.measures import measure_level, relabellings

TEXT = ["the quick brown fox jumps over the lazy dog. " * 6, "a cat, a rat and a horse ate the red apple! " * 6] * 8
MODEL = dict(d_model=16, n_layer=2, n_head=2, context=32, n_embed=8)
# Single letters as words: each is one token of the character tokenizer, so a table row is a word's vector.
LETTERS = {"g1": "abcde", "g2": "fghij", "g3": "klmno", "g4": "pqrst"}


def _groups_toml(path, groups: dict[str, list[str]], extra: str = "") -> str:
    body = "".join(f'[groups.{g}]\nen = [{", ".join(repr(w).replace(chr(39), chr(34)) for w in ws)}]\n'
                   for g, ws in groups.items())
    path.write_text(extra + body, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A character tokenizer, its data, a bit table, a frozen run and its trainable twin (3 steps each), an export."""
    from unicode_substrate.export import export
    from unicode_substrate.render.codes import code_table
    from unicode_substrate.table import write_table
    from unicode_substrate.train.config import TrainConfig
    from unicode_substrate.train.trainer import train

    root = tmp_path_factory.mktemp("semantics")
    _, tok_dir, tok, data = make_char_corpus(root, TEXT)
    table = write_table(root / "bit", code_table("bit", tok.vocab_size, 8), tok.tokens(),
                        {"method": "bit", "tokenizer_manifest_sha256": tok.manifest_sha256})
    runs = {}
    for name, preset, tbl in (("frozen", "tiny-bit-64", table), ("trainable", "tiny-unfrozen", None)):
        cfg = TrainConfig(preset=preset, model={**MODEL, "vocab_size": tok.vocab_size}, steps=3, batch_size=2, lr=3e-3,
                          warmup=1, eval_every=0, ckpt_every=0, device="cpu")
        runs[name] = train(cfg, data, root / name, table=tbl, progress=False).path
    words = _groups_toml(root / "words.toml", {"animals": ["cat", "dog", "fox", "rat", "horse"],
                                               "colours": ["red", "blue", "black", "white", "gray"],
                                               "other": ["the", "quick", "brown", "lazy", "apple"]})
    return {"root": root, "tok": tok_dir, "tokenizer": tok, "table": table, "export": export(runs["frozen"], root / "hf"),
            "words": words, **runs}


def _planted_table(world, tmp_path, spread: float, seed: int = 0):
    """A table of the world's tokenizer: the letters of each group at rows near their group's centre (``spread`` = noise)."""
    from unicode_substrate.table import write_table

    tok = world["tokenizer"]
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((tok.vocab_size, 16)).astype(np.float32)
    for g, letters in enumerate(LETTERS.values()):
        centre = rng.standard_normal(16) * 4
        for c in letters:
            w[tok.token_to_id(c)] = centre + spread * rng.standard_normal(16)
    return write_table(tmp_path / f"planted-{spread}", w.astype(np.float32), tok.tokens(),
                       {"method": "random", "tokenizer_manifest_sha256": tok.manifest_sha256})


def _rows(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _value(rows, measure, model=None, level="0"):
    return next(r for r in rows if r["measure"] == measure and r["level"] == level and (model is None or r["model"] == model))


def test_planted_groups_separate_near_perfectly_and_random_rows_stay_within_chance(world, tmp_path):
    groups = _groups_toml(tmp_path / "letters.toml", {g: list(s) for g, s in LETTERS.items()})
    planted = _planted_table(world, tmp_path, spread=0.3)
    res = cli("semantics", "--table", f"planted={planted}", "--table", f"random={world['table']}", "--tokenizer", world["tok"],
              "--groups", groups, "--permutations", "200", "--out", tmp_path / "sem", "--no-progress")
    assert res.exit_code == 0, res.output
    rows = _rows(tmp_path / "sem" / "levels.csv")
    for m in ("knn", "silhouette", "gap"):
        r = _value(rows, m, "planted")
        assert float(r["p"]) < 0.01 and float(r["value"]) > float(r["chance_high"]), r
    assert float(_value(rows, "knn", "planted")["value"]) == 1.0
    assert float(_value(rows, "silhouette", "planted")["value"]) > 0.8
    # bit codes of letter ids know nothing of these groups: within the chance band, p well above 0.01
    for m in ("knn", "silhouette", "gap"):
        r = _value(rows, m, "random")
        assert float(r["chance_low"]) <= float(r["value"]) <= float(r["chance_high"]) and float(r["p"]) > 0.05, r
    report = (tmp_path / "sem" / "report.md").read_text(encoding="utf-8")
    assert "smallest possible p is 0.0050" in report
    assert "- planted: kNN accuracy is above chance at level 0 (p < 0.0500" in report
    assert "- random: no level's kNN accuracy is above chance" in report
    assert (tmp_path / "sem" / "tsne" / "planted-L0.png").is_file() and (tmp_path / "sem" / "separability.png").is_file()


def test_measures_equal_scikit_learn_and_the_same_seed_gives_the_same_chance_and_p():
    from sklearn.metrics import silhouette_score
    from sklearn.metrics.pairwise import cosine_distances
    from sklearn.neighbors import KNeighborsClassifier

    from unicode_substrate.semantics.measures import knn_accuracy, silhouette

    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(4), [6, 3, 5, 6])
    x = rng.standard_normal((len(y), 12)) + 1.5 * np.eye(4)[y] @ rng.standard_normal((4, 12))
    d = cosine_distances(x)
    for labels in (y, rng.permutation(y)):
        assert silhouette(d, labels[None], 4)[0] == pytest.approx(silhouette_score(d, labels, metric="precomputed"), abs=1e-12)
        # leave-one-out 1-NN as scikit-learn's classifier sees it, word by word
        loo = [KNeighborsClassifier(1, metric="cosine").fit(np.delete(x, i, 0), np.delete(labels, i)).predict(x[i:i + 1])[0]
               for i in range(len(x))]
        nb = np.argsort(d + np.diag(np.full(len(x), np.inf)), axis=1, kind="stable")[:, :1]
        assert knn_accuracy(nb, labels[None], 4)[0] == pytest.approx(np.mean(np.array(loo) == labels))
    a = measure_level(x, y, relabellings(len(y), 300, seed=7))
    b = measure_level(x, y, relabellings(len(y), 300, seed=7))
    c = measure_level(x, y, relabellings(len(y), 300, seed=8))
    assert a == b
    assert a["knn"].value == c["knn"].value and a["silhouette"].chance != c["silhouette"].chance


def test_same_seed_same_files_other_seed_other_chance(world, tmp_path):
    args = ["semantics", "--run", f"frozen={world['frozen']}", "--groups", world["words"], "--permutations", "200",
            "--tsne-levels", "0", "--no-progress"]
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert cli(*args, "--seed", seed, "--out", tmp_path / name).exit_code == 0
    for f in ("levels.csv", "report.md", "semantics.json", "separability.png", "tsne/frozen-L0.png"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    a, c = _rows(tmp_path / "a" / "levels.csv"), _rows(tmp_path / "c" / "levels.csv")
    assert [r["value"] for r in a] == [r["value"] for r in c]  # the measures themselves do not depend on the seed
    assert [r["chance"] for r in a] != [r["chance"] for r in c]


def test_levels_of_a_run_are_the_hidden_states_transformers_returns_for_its_export(world):
    from transformers import AutoModelForCausalLM

    from unicode_substrate.semantics.groups import WordGroups
    from unicode_substrate.semantics.represent import _locate, hf_source, represent, run_source

    g = WordGroups("en", ("cat", "dog", "red", "blue"), ("a", "a", "b", "b"), ("the {word} sat", "a {word}"))
    src = run_source(world["frozen"])
    ours = represent(src, g).levels
    assert ours.shape == (MODEL["n_layer"] + 1, 4, MODEL["d_model"])
    hf = AutoModelForCausalLM.from_pretrained(str(world["export"]), local_files_only=True).eval()
    expect = np.zeros_like(ours)
    for i, w in enumerate(g.words):
        for t in g.templates:
            ids, pos = _locate(src.encode, t, w)
            with torch.no_grad():
                hs = hf(torch.tensor([ids]), output_hidden_states=True).hidden_states
            for k in range(len(hs)):
                expect[k, i] += hs[k][0, pos].double().mean(0).numpy() / len(g.templates)
    L = MODEL["n_layer"]
    np.testing.assert_allclose(ours[:L], expect[:L], atol=1e-5, rtol=1e-5)
    # transformers' last hidden state is the final LayerNorm of the residual stream after the last block
    final = hf.gpt_neox.final_layer_norm
    for i, w in enumerate(g.words):
        per = []
        for t in g.templates:
            ids, pos = _locate(src.encode, t, w)
            captured = {}
            h = hf.gpt_neox.layers[-1].register_forward_hook(lambda m, a, o: captured.setdefault("x", o[0] if isinstance(o, tuple) else o))
            with torch.no_grad():
                hf(torch.tensor([ids]))
                per.append(final(captured["x"])[0, pos].double().mean(0).numpy())
            h.remove()
            np.testing.assert_allclose(captured["x"][0, pos].double().mean(0).numpy(),
                                       represent(src, WordGroups("en", (w, "x"), ("a", "a"), (t,))).levels[L, 0],
                                       atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(np.mean(per, axis=0), expect[L, i], atol=1e-5, rtol=1e-5)
    # the export measured through --hf-model gives the run's levels
    np.testing.assert_allclose(represent(hf_source(world["export"]), g).levels, ours, atol=1e-5, rtol=1e-5)


def test_frozen_and_trainable_runs_from_the_cli_with_templates(world, tmp_path):
    res = cli("semantics", "--run", f"frozen={world['frozen']}", "--run", f"trainable={world['trainable']}",
              "--groups", world["words"], "--template", "the {word} is", "--template", "a {word}",
              "--permutations", "200", "--out", tmp_path / "sem", "--no-progress")
    assert res.exit_code == 0, res.output
    out = tmp_path / "sem"
    rows = _rows(out / "levels.csv")
    assert {r["model"] for r in rows} == {"frozen", "trainable"}
    assert {r["level"] for r in rows} == {"0", "1", "2"} and {r["measure"] for r in rows} == {"knn", "silhouette", "within",
                                                                                             "between", "gap"}
    assert sorted(p.name for p in (out / "tsne").iterdir()) == [f"{m}-L{k}.png" for m in ("frozen", "trainable") for k in (0, 1, 2)]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "`the {word} is`" in report and "What the numbers allow" in report and "15 of 15" in report
    # frozen level 0 is the bit table itself: lifting by repetition keeps every cosine
    tab = tmp_path / "tab"
    assert cli("semantics", "--table", f"frozen={world['table']}", "--tokenizer", world["tok"], "--groups", world["words"],
               "--permutations", "200", "--out", tab, "--no-progress").exit_code == 0
    lifted = {r["measure"]: r["value"] for r in _rows(out / "levels.csv") if r["model"] == "frozen" and r["level"] == "0"}
    bare = {r["measure"]: r["value"] for r in _rows(tab / "levels.csv")}
    assert lifted.keys() == bare.keys()
    for m in ("silhouette", "within", "between", "gap"):  # not kNN: bit codes tie, and float rounding picks among ties
        assert float(lifted[m]) == pytest.approx(float(bare[m]), abs=2e-6), m


def test_a_comparison_over_seeds_gives_each_variant_a_mean_with_its_interval(world, tmp_path):
    from unicode_substrate.experiments.compare import Variant, compare
    from unicode_substrate.train.config import TrainConfig

    cfg = TrainConfig(preset="tiny-unfrozen", model={**MODEL, "vocab_size": world["tokenizer"].vocab_size}, steps=1,
                      batch_size=2, warmup=0, eval_every=0, eval_tokens=64, ckpt_every=0, device="cpu")
    cmp = tmp_path / "cmp"
    compare([Variant("frozen", "tiny-bit-64", world["table"]), Variant("trainable", "tiny-unfrozen")],
            world["root"] / "data", cmp, cfg, seeds=[1, 2], progress=False)
    res = cli("semantics", "--run", cmp, "--groups", world["words"], "--permutations", "200", "--tsne-levels", "all",
              "--out", tmp_path / "sem", "--no-progress")
    assert res.exit_code == 0, res.output
    rows = _rows(tmp_path / "sem" / "levels.csv")
    assert {(r["model"], r["seed"]) for r in rows} == {(v, s) for v in ("frozen", "trainable") for s in ("1", "2")}
    report = (tmp_path / "sem" / "report.md").read_text(encoding="utf-8")
    assert "95 % t-interval over seeds 1, 2" in report and " ± " in report
    assert "/2 |" in report  # p: how many of the two seeds reach 0.05


# ---- bad inputs -----------------------------------------------------------------------------------------------
def test_unknown_keys_small_groups_and_a_foreign_table_are_one_line(world, tmp_path):
    bad = tmp_path / "bad.toml"
    out = tmp_path / "never"
    base = ["semantics", "--run", world["frozen"], "--out", out]
    _groups_toml(bad, {"a": ["cat", "dog"], "b": ["red", "blue"]}, extra="colour = 1\n")
    one_line_error(cli(*base, "--groups", bad), "unknown key", "colour")
    _groups_toml(bad, {"a": ["cat", "dog"], "b": ["red"]})
    one_line_error(cli(*base, "--groups", bad), "group b has 1 word in en", "at least 2")
    bad.write_text('[groups.a]\nen = ["cat", "dog"]\nenglish = ["x", "y"]\n[groups.b]\nen = ["red", "blue"]\n')
    one_line_error(cli(*base, "--groups", bad), "unknown key 'english'")
    _groups_toml(bad, {"a": ["cat", "dog"], "b": ["red", "cat"]})
    one_line_error(cli(*base, "--groups", bad), "'cat'", "one group")
    one_line_error(cli(*base, "--template", "The word is"), "{word}")
    # a table made for another tokenizer (another vocabulary)
    from unicode_substrate.table import write_table

    foreign = write_table(tmp_path / "foreign", np.ones((7, 4), np.float32), [f"t{i}" for i in range(7)],
                          {"method": "random", "tokenizer_manifest_sha256": "ab" * 32})
    one_line_error(cli("semantics", "--table", foreign, "--tokenizer", world["tok"], "--out", out), "tokenizer")
    one_line_error(cli("semantics", "--table", world["table"], "--out", out), "tokenizer")
    one_line_error(cli("semantics", "--run", f"x={world['frozen']}", "--run", f"x={world['trainable']}", "--out", out),
                   "two models are named 'x'")
    one_line_error(cli("semantics", "--run", world["root"], "--out", out), "neither a run")
    assert not out.exists()


def test_words_the_tokenizer_maps_to_unk_are_listed_and_left_out_with_a_count(world, tmp_path):
    from unicode_substrate.semantics.represent import represent, run_source

    # the character tokenizer knows the lowercase Latin letters (its corpus holds a pangram) and nothing Cyrillic
    en, ru = load_groups(None)
    src = run_source(world["frozen"])
    assert represent(src, en).dropped == () and represent(src, ru).dropped == ru.words
    groups = _groups_toml(tmp_path / "g.toml", {"animals": ["cat", "dog", "fox", "Lion"],
                                                 "colours": ["red", "blue", "Gold"], "cities": ["Rome", "Rio"]})
    res = cli("semantics", "--run", world["frozen"], "--groups", groups, "--permutations", "200", "--out", tmp_path / "sem",
              "--no-progress")
    assert res.exit_code == 0, res.output
    report = (tmp_path / "sem" / "report.md").read_text(encoding="utf-8")
    assert "| 5 of 9 | 4: Lion, Gold, Rome, Rio; groups with fewer than 2 words left: cities |" in report
    assert {r["words"] for r in _rows(tmp_path / "sem" / "levels.csv")} == {"5"}
    res = cli("semantics", "--run", world["frozen"], "--permutations", "200", "--out", tmp_path / "both", "--no-progress")
    assert res.exit_code == 0, res.output
    report = (tmp_path / "both" / "report.md").read_text(encoding="utf-8")
    assert "frozen (ru): not measured" in report and "| 0 of 39 | 39: " in report
    assert {r["lang"] for r in _rows(tmp_path / "both" / "levels.csv")} == {"en"}


def test_the_builtin_groups_hold_the_notebooks_seven_groups_in_english_and_russian():
    en, ru = load_groups(None)
    assert (en.lang, ru.lang) == ("en", "ru")
    assert en.groups == ru.groups == ("animals", "fruits", "cities", "colours", "professions", "emotions", "digits")
    assert en.words[:3] == ("cat", "dog", "fox") and "orange" in en.words and len(en.words) == len(ru.words) == 39


def test_a_study_with_a_semantics_table_measures_every_variant_and_seed(world, tmp_path):
    from unicode_substrate.errors import SubstrateError
    from unicode_substrate.experiments.study import load_study, run_study

    model = ", ".join(f"{k} = {v}" for k, v in {**MODEL, "vocab_size": world["tokenizer"].vocab_size}.items())
    f = tmp_path / "s.toml"
    text = (f'kind = "compare"\nseeds = [1, 2]\n[tokenizer]\npath = "{world["tok"]}"\n[data]\npath = "{world["root"] / "data"}"\n'
            f'[tables.t]\npath = "{world["table"]}"\n[train]\nsteps = 1\nbatch_size = 2\neval_every = 0\neval_tokens = 64\n'
            f'device = "cpu"\nmodel = {{ {model} }}\n[[variants]]\nname = "frozen"\npreset = "tiny-bit-64"\ntable = "t"\n'
            f'[[variants]]\nname = "trainable"\npreset = "tiny-unfrozen"\n[scales.cpu]\n'
            f'[semantics]\ngroups = "{world["words"]}"\npermutations = 200\ntsne_levels = [0]\n')
    f.write_text(text, encoding="utf-8")
    run_study(f, tmp_path / "study", progress=False)
    rows = _rows(tmp_path / "study" / "semantics" / "levels.csv")
    assert {(r["model"], r["seed"]) for r in rows} == {(v, s) for v in ("frozen", "trainable") for s in ("1", "2")}
    for extra, words in (("colour = 1\n", "semantics: unknown key: colour"), ("permutations = 10\n", "at least 200")):
        f.write_text(text.replace("permutations = 200\n", "") + extra, encoding="utf-8")
        with pytest.raises(SubstrateError, match=words):
            load_study(f, "cpu")


def test_a_growth_gives_one_curve_per_stage_and_one_for_its_monolithic_control(world, tmp_path):
    from unicode_substrate.experiments.grow import grow, parse_grow_config
    from unicode_substrate.experiments.semantics import members

    gcfg = parse_grow_config({"preset": "tiny-bit-64", "model": {**MODEL, "vocab_size": world["tokenizer"].vocab_size},
                              "stages": [1, 1], "steps_per_stage": [1, 1], "batch_size": 2, "eval_every": 0,
                              "eval_tokens": 64, "device": "cpu"})
    grown = tmp_path / "grown"
    grow(gcfg, world["root"] / "data", grown, table=world["table"], progress=False)
    assert [(m.model, m.path.relative_to(grown).as_posix()) for m in members(runs=[f"g={grown}"])] == [
        ("g-stage-1", "stages/1"), ("g-stage-2", "stages/2"), ("g-monolithic", "monolithic")]
    res = cli("semantics", "--run", f"g={grown}", "--groups", world["words"], "--permutations", "200", "--tsne-levels", "0",
              "--out", tmp_path / "sem", "--no-progress")
    assert res.exit_code == 0, res.output
    levels = {}
    for r in _rows(tmp_path / "sem" / "levels.csv"):
        levels.setdefault(r["model"], set()).add(int(r["level"]))
    assert levels == {"g-stage-1": {0, 1}, "g-stage-2": {0, 1, 2}, "g-monolithic": {0, 1, 2}}
