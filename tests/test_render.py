"""substrate render: methods, ID codes, collision handling, bad input, previews."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _cli_helpers import run_cli as run
from _render_helpers import BARS, CROSS, FRAME, make_font, make_tokenizer

from unicode_substrate.artifacts import sha256_file
from unicode_substrate.choices import COLLISION_THRESHOLD
from unicode_substrate.errors import SubstrateError
from unicode_substrate.render import collisions as coll
from unicode_substrate.render.codes import code_table, unique_bits
from unicode_substrate.table import load_table

TOKENS = ["A", "B", "AB", "BA", "☃", "A☃", "BBB", "C", "\n", " "]


@pytest.fixture()
def fonts(tmp_path):
    a = make_font(tmp_path / "a.otf", {"A": FRAME, "☃": CROSS, "0": BARS}, family="Font A")
    b = make_font(tmp_path / "b.otf", {"A": BARS, "B": CROSS}, family="Font B")
    return a, b


@pytest.fixture()
def tok(tmp_path):
    return make_tokenizer(tmp_path / "tok", TOKENS)


def assert_one_line_error(result, fragment, *absent):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    for p in absent:
        assert not p.exists()
        assert not list(p.parent.glob(f".{p.name}.tmp-*"))


# ----------------------------------------------------------------- ID codes


@pytest.mark.slow
@pytest.mark.parametrize("method", ["float", "random"])
def test_codes_have_no_collisions_at_every_dim(method):
    # the full 65,536 rows at 16 and 64 dims; 16,384 rows at 256 and 1,024 dims, where the exact
    # all-pairs cosine search of isotropic codes costs V*V*D and would dominate the test budget
    for dim, v in ((16, 65536), (64, 65536), (256, 16384), (1024, 16384)):
        w = code_table(method, v, dim)
        assert w.shape == (v, dim) and w.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1, atol=1e-5)
        r = coll.find_collisions(w)
        assert r.total == 0, (method, dim, r.summary())


def test_bit_codes_are_unique_at_full_size_and_every_dim():
    for dim in (16, 64, 256, 1024):
        w = code_table("bit", 65536, dim)
        assert len(coll.exact_groups(w)[0]) == 0
        # distinct codes differ in at least one bit: cosine <= 1 - 2/D, below the 0.999 threshold,
        # so there are no near duplicates either (the renderer relies on this bound)
        assert 1 - 2 / dim < COLLISION_THRESHOLD
        assert np.unique(np.abs(w)).size == 1
    # and the exact search agrees on a sample of 8,192 rows at 16 dims, the tightest case
    assert coll.find_collisions(code_table("bit", 65536, 16)[:8192], strategy="matmul").total == 0


def test_bit16_is_the_binary_of_the_token_id():
    bits = unique_bits(65536, 16)
    ids = (bits.astype(np.int64) << np.arange(15, -1, -1)).sum(axis=1)
    np.testing.assert_array_equal(ids, np.arange(65536))
    w = code_table("bit", 65536, 16)
    np.testing.assert_array_equal(w > 0, bits.astype(bool))
    with pytest.raises(SubstrateError, match="fewer than"):
        unique_bits(65537, 16)


def test_codes_are_seeded_and_unique_by_construction():
    assert np.array_equal(code_table("float", 300, 64, seed=5), code_table("float", 300, 64, seed=5))
    assert not np.array_equal(code_table("random", 300, 64, seed=5), code_table("random", 300, 64, seed=6))
    small = unique_bits(200, 8)  # 200 of the 256 possible codes, all distinct
    assert len(np.unique(small, axis=0)) == 200


# ----------------------------------------------------------------- one source for each choice


def test_method_registry_presets_and_cli_share_the_choices():
    from unicode_substrate import choices
    from unicode_substrate.cli.render import render
    from unicode_substrate.render import METHODS, paper

    assert tuple(METHODS) == choices.TABLE_METHODS and choices.DEFAULT_TABLE_METHOD in METHODS
    assert tuple(paper.PAPER_PRESETS) == choices.RENDER_PRESETS
    # the per-method defaults are themselves valid choices
    assert all(m.surface in choices.SURFACES and m.on_collision in choices.ON_COLLISION for m in METHODS.values())
    opts = {p.name: p for p in render.params}
    assert tuple(opts["method"].type.choices) == choices.TABLE_METHODS
    assert tuple(opts["preset"].type.choices) == choices.RENDER_PRESETS
    assert tuple(opts["on_collision"].type.choices) == choices.ON_COLLISION
    assert tuple(opts["surface"].type.choices) == choices.SURFACES
    assert tuple(opts["pca_solver"].type.choices) == choices.PCA_SOLVERS
    assert opts["threshold"].default == choices.COLLISION_THRESHOLD
    # only the glyph methods re-draw pictures for a preview; code tables show their rows
    assert {n for n, m in METHODS.items() if m.pictures} == {"glyph", "glyph-paper"}


def test_unknown_method_is_one_line(tmp_path, tok):
    from unicode_substrate.render import render_table

    with pytest.raises(SubstrateError, match="unknown method 'glyf'; choose from glyph, glyph-paper, bit"):
        render_table(tok, tmp_path / "t", method="glyf")
    assert not (tmp_path / "t").exists()


# ----------------------------------------------------------------- collisions


def test_collision_search_matches_brute_force():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((400, 32)).astype(np.float32)
    w[10] = w[3]  # exact
    w[11] = w[3]
    w[20] = w[5] + 0.01 * rng.standard_normal(32).astype(np.float32)  # near
    w[30] = w[6] + 0.2 * rng.standard_normal(32).astype(np.float32)  # not near
    r = coll.find_collisions(w, 0.999)
    assert r.exact_groups == [[3, 10, 11]]
    u = w / np.linalg.norm(w, axis=1, keepdims=True)
    cos = u.astype(np.float64) @ u.T.astype(np.float64)
    same = (w[:, None, :] == w[None, :, :]).all(-1)
    brute = {(i, j) for i, j in zip(*np.nonzero(np.triu(cos > 0.999, 1) & ~same))}
    assert {(i, j) for i, j, _ in r.near_pairs} == brute and (5, 20) in brute


def _byte_equal_groups(rows):
    """Reference: groups of byte-equal rows (and each row's first id) from numpy's row-wise unique."""
    raw = np.ascontiguousarray(rows).view(np.uint8).reshape(len(rows), -1)
    _, first, inverse = np.unique(raw, axis=0, return_index=True, return_inverse=True)
    groups = [np.nonzero(inverse.ravel() == g)[0].tolist() for g in range(len(first))]
    return sorted(g for g in groups if len(g) > 1), sorted(first.tolist())


def test_exact_groups_are_byte_equality():
    rng = np.random.default_rng(2)
    w = rng.integers(0, 3, (3000, 4)).astype(np.float32)  # many repeats of few rows
    w[5], w[6] = -0.0, 0.0  # equal as numbers, different bytes: different rows
    w[7], w[8] = [1, 0, 2, 0], [0, 1, 0, 2]  # equal sums of their 64-bit words, different rows
    bits = rng.integers(0, 2, (500, 9), dtype=np.uint8)  # rows of 9 bytes: not whole 64-bit words
    bits[400:] = bits[:100]
    for rows in (w, bits):
        groups, first = coll.exact_groups(rows)
        assert (groups, first.tolist()) == _byte_equal_groups(rows)
    groups = coll.exact_groups(w)[0]
    assert not any({5, 6} <= set(g) or {7, 8} <= set(g) for g in groups)
    assert coll.exact_groups(np.zeros((0, 4), dtype=np.float32))[0] == []


def test_resolve_makes_rows_unique_and_keeps_them_close():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((50, 16)).astype(np.float32)
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    w[[7, 8, 9]] = w[2]
    fixed, res = coll.resolve_collisions(w, 0.999, seed=0)
    assert coll.find_collisions(fixed, 0.999).total == 0
    assert res["moved"].tolist() == [7, 8, 9]  # the lowest id of a group keeps its row
    assert res["info"]["min_cosine_to_original"] >= 0.998 - 1e-6
    np.testing.assert_array_equal(fixed[:7], w[:7])
    again, _ = coll.resolve_collisions(w, 0.999, seed=0)
    np.testing.assert_array_equal(fixed, again)


# ----------------------------------------------------------------- render end to end (test fonts)


def test_glyph_render_resolves_collisions_and_is_deterministic(tmp_path, tok, fonts):
    a, b = fonts
    args = ["render", "--tokenizer", tok, "--font", a, "--font", b, "--dim", 6]
    r1 = run(*args, "--out", tmp_path / "t1")
    assert r1.exit_code == 0, r1.output
    assert "resolve: moved" in r1.output  # the summary says what resolve did
    run(*args, "--out", tmp_path / "t2")
    for name in ("embeddings.safetensors", "embeddings.parquet", "manifest.json"):
        assert sha256_file(tmp_path / "t1" / name) == sha256_file(tmp_path / "t2" / name)
    t = load_table(tmp_path / "t1", tokenizer=tok)
    assert t.weight.shape == (len(TOKENS), 6)
    assert coll.find_collisions(t.weight).total == 0
    m = t.manifest
    assert m["method"] == "glyph" and m["parameters"]["dim"] == 6
    assert [f["family"] for f in m["fonts"]] == ["Font A", "Font B"]
    assert m["collisions"]["after"]["exact_duplicate_rows"] == 0
    # C has no glyph in either font, and the pictures for newline and space are not in them either
    assert m["coverage"]["tokens"]["missing"] == 3
    assert {t for _, t in m["coverage"]["missing_examples"]} == {"C", "\n", " "}
    import pyarrow.parquet as pq

    cov = pq.read_table(tmp_path / "t1" / "embeddings.parquet").column("coverage").to_pylist()
    assert cov[TOKENS.index("B")] == "fallback" and cov[TOKENS.index("C")] == "missing"


def test_on_collision_error_and_report(tmp_path, fonts):
    a, _ = fonts
    # w, x and y have no glyph: each becomes a hex box, but font A has only the digit 0, so the
    # three boxes ("00 77", "00 78", "00 79") come out as the same picture
    tok = make_tokenizer(tmp_path / "tok", ["A", "w", "x", "y", "A☃"])
    # found after drawing and PCA: in a log their progress lines come first, so they are silenced here
    r = run("render", "--tokenizer", tok, "--font", a, "--dim", 2, "--on-collision", "error", "--out", tmp_path / "t",
            "--no-progress")
    assert_one_line_error(r, "duplicate another row", tmp_path / "t")
    r = run("render", "--tokenizer", tok, "--font", a, "--dim", 2, "--on-collision", "report", "--out", tmp_path / "t")
    assert r.exit_code == 0, r.output
    c = load_table(tmp_path / "t").manifest["collisions"]
    assert c["identical_pictures"] == {"rows": 3, "groups": 1}
    assert c["before"] == c["after"] and c["resolution"] is None
    assert c["after"]["exact_duplicate_rows"] + 2 * c["after"]["near_duplicate_pairs"] >= 3


@pytest.mark.parametrize("kind", ["missing", "text", "truncated", "no-cmap"])
def test_bad_font_on_the_command_line(tmp_path, tok, fonts, kind):
    path = tmp_path / f"bad-{kind}.otf"
    if kind == "text":
        path.write_text("not a font")
    elif kind == "truncated":
        path.write_bytes(fonts[0].read_bytes()[:300])
    elif kind == "no-cmap":
        make_font(path, {"A": FRAME}, cmap=False)
    out = tmp_path / "t"
    r = run("render", "--tokenizer", tok, "--font", path, "--dim", 4, "--out", out)
    frag = {"missing": "does not exist", "text": "not a TrueType", "truncated": "truncated", "no-cmap": "no cmap"}[kind]
    assert_one_line_error(r, frag, out)


def test_dim_larger_than_the_method_allows(tmp_path, tok, fonts):
    out = tmp_path / "t"
    assert_one_line_error(run("render", "--tokenizer", tok, "--font", fonts[0], "--dim", 11, "--out", out), "width 11", out)
    assert_one_line_error(run("render", "--tokenizer", tok, "--method", "glyph-paper", "--font", fonts[0], "--dim", 1025, "--out", out), "width 1025", out)
    big = make_tokenizer(tmp_path / "big", [f"t{i}" for i in range(20)])
    assert_one_line_error(run("render", "--tokenizer", big, "--method", "bit", "--dim", 4, "--out", out), "fewer than", out)


def test_bad_tokenizer_and_existing_output(tmp_path, tok, fonts):
    out = tmp_path / "t"
    (tok / "tokenizer.json").write_text((tok / "tokenizer.json").read_text().replace('"A"', '"Z"'))
    assert_one_line_error(run("render", "--tokenizer", tok, "--method", "bit", "--dim", 64, "--out", out), "does not match its sha256", out)
    assert_one_line_error(run("render", "--tokenizer", tmp_path / "nowhere", "--method", "bit", "--out", out), "not a directory", out)
    good = make_tokenizer(tmp_path / "good", TOKENS)
    assert run("render", "--tokenizer", good, "--method", "random", "--dim", 8, "--out", out).exit_code == 0
    before = sha256_file(out / "manifest.json")
    assert_one_line_error(run("render", "--tokenizer", good, "--method", "random", "--dim", 8, "--out", out), "already exists")
    assert sha256_file(out / "manifest.json") == before
    r = run("render", "--tokenizer", good, "--method", "bit", "--dim", 8, "--out", out, "--force")
    assert r.exit_code == 0 and load_table(out).manifest["method"] == "bit"


def test_decoded_surface_of_a_byte_level_vocabulary(tmp_path, fonts):
    tok = make_tokenizer(tmp_path / "tok", ["A", "ĠA", "B", "ĠB", "AB"], byte_level=True)
    r = run("render", "--tokenizer", tok, "--font", fonts[0], "--font", fonts[1], "--dim", 4, "--out", tmp_path / "t")
    assert r.exit_code == 0, r.output
    import pyarrow.parquet as pq

    cols = pq.read_table(tmp_path / "t" / "embeddings.parquet")
    assert cols.column("token").to_pylist()[1] == "ĠA"
    assert cols.column("drawn").to_pylist()[1] == " A"
    r = run("render", "--tokenizer", tok, "--font", fonts[0], "--dim", 4, "--surface", "raw", "--out", tmp_path / "raw")
    assert r.exit_code == 0 and load_table(tmp_path / "raw").manifest["parameters"]["surface"] == "raw"


def test_preview_atlas_and_scatter(tmp_path, tok, fonts):
    atlas = tmp_path / "atlas.png"
    r = run("render", "--tokenizer", tok, "--font", fonts[0], "--font", fonts[1], "--dim", 4, "--out", tmp_path / "t", "--preview", atlas)
    assert r.exit_code == 0, r.output
    from PIL import Image

    img = Image.open(atlas)
    assert img.size[0] > 300 and img.size[1] > 100
    r = run("preview", "--table", tmp_path / "t", "--out", tmp_path / "a2.png", "--ids", "0,1,2", "--font", fonts[0], "--scatter", tmp_path / "s.png")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "s.png").size[0] > 200
    assert_one_line_error(run("preview", "--table", tmp_path / "t", "--out", tmp_path / "a3.png", "--ids", "99"), "outside the table")


def test_glyph_with_unifont_covers_astral_planes(tmp_path, unifont_dir):
    toks = ["a", "ab", "\U0001F600", "\U00010330", "日本", "\n", " ", "\xa0", "\u0301"]
    tok = make_tokenizer(tmp_path / "tok", toks)
    r = run("render", "--tokenizer", tok, "--dim", 8, "--out", tmp_path / "t", "--on-collision", "error")
    assert r.exit_code == 0, r.output
    m = load_table(tmp_path / "t").manifest
    assert m["coverage"]["tokens"]["missing"] == 0
    assert m["coverage"]["tokens"]["fallback"] == 2  # both astral characters come from unifont_upper
    assert [f["file"] for f in m["fonts"]] == ["unifont.otf", "unifont_upper.otf"]
    assert json.dumps(m["libraries"])


def test_from_tokenizer_vocabulary_renders_decoded_surface(tmp_path, unifont_dir):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from unicode_substrate.tokenizer import build_tokenizer

    src = Tokenizer(models.BPE())
    src.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    src.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    src.train_from_iterator(["the painted house is painted red " * 20, "Привет мир 中文"], trainer)
    src.save(str(tmp_path / "src.json"))
    tok = build_tokenizer(tmp_path / "tok", from_tokenizer=tmp_path / "src.json")
    r = run("render", "--tokenizer", tok, "--dim", 16, "--out", tmp_path / "t")
    assert r.exit_code == 0, r.output
    import pyarrow.parquet as pq

    cols = pq.read_table(tmp_path / "t" / "embeddings.parquet")
    pairs = dict(zip(cols.column("token").to_pylist(), cols.column("drawn").to_pylist()))
    assert pairs["Ġpainted"] == " painted"
    # a lone continuation byte decodes to U+FFFD: the raw key is drawn instead, keeping rows apart
    assert pairs["Ã"] == "Ã"
    assert coll.find_collisions(load_table(tmp_path / "t", tokenizer=tok).weight).total == 0
