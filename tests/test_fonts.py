"""Fonts: validation and identity, the font manifest, known bitmaps, fallback order, missing glyphs."""

from __future__ import annotations

import numpy as np
import pytest
from _render_helpers import BARS, CROSS, FRAME, make_font

from unicode_substrate.errors import SubstrateError
from unicode_substrate.render import fonts as fontlib
from unicode_substrate.render import glyph, paper


def up2(bm: np.ndarray) -> np.ndarray:
    return np.kron(bm, np.ones((2, 2), dtype=np.uint8))


@pytest.fixture()
def font_a(tmp_path):
    return make_font(tmp_path / "a.otf", {"A": FRAME, "☃": CROSS}, family="Font A")


@pytest.fixture()
def font_b(tmp_path):
    return make_font(tmp_path / "b.otf", {"A": BARS, "B": CROSS}, family="Font B")


def test_inspect_font_identity_and_coverage(font_a):
    info = fontlib.inspect_font(font_a)
    assert info.family == "Font A"
    assert info.version == "Version 1.000"
    assert info.codepoints == {ord("A"), ord("☃")}
    assert len(info.sha256) == 64
    assert info.describe()["file"] == "a.otf"


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "truncated", "no-cmap"])
def test_bad_fonts_are_refused_with_one_line(tmp_path, font_a, kind):
    path = tmp_path / f"{kind}.otf"
    if kind == "missing":
        expected = "does not exist"
    elif kind == "directory":
        path.mkdir()
        expected = "not a file"
    elif kind == "text":
        path.write_text("this is not a font\n" * 20)
        expected = "not a TrueType/OpenType font"
    elif kind == "truncated":
        data = font_a.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
        expected = "truncated"
    else:
        make_font(path, {"A": FRAME}, cmap=False)
        expected = "no cmap"
    with pytest.raises(SubstrateError, match=expected) as e:
        fontlib.inspect_font(path)
    assert "\n" not in str(e.value)


def test_font_manifest_reads_and_rejects_unknown_keys(tmp_path):
    specs = fontlib.load_font_manifest()
    assert [s.name for s in specs][:2] == ["unifont", "unifont_upper"]
    assert all(s.paths and s.install for s in specs)
    bad = tmp_path / "fonts.toml"
    bad.write_text('schema = 1\n[[font]]\nname = "x"\npaths = ["/nope"]\ncolour = "red"\n')
    with pytest.raises(SubstrateError, match=r"unknown key: colour \(valid: "):
        fontlib.load_font_manifest(bad)
    bad.write_text('schema = 1\n[[font]]\nname = "x"\npaths = ["/nope.otf"]\ninstall = "get it"\n')
    with pytest.raises(SubstrateError, match="get it"):
        fontlib.default_font_paths(bad)


def test_paper_recipe_draws_known_bitmap(font_a):
    """A non-easy-script glyph gets no rotation, shift or blur: bits = upscaled bitmap + the seed-42 noise."""
    p = paper.PAPER_PRESETS["2-3"]
    expected = up2(CROSS).reshape(-1).copy()
    noise = np.random.RandomState(42).rand(32, 32).reshape(-1) < p.other_noise
    expected[noise] = 1
    expected = expected[paper.polar_snake_order(32)]
    naive = paper.render_bits_naive(["☃"], font_a, p)
    fast = paper.render_bits_fast(["☃"], font_a, p, workers=1)
    np.testing.assert_array_equal(naive[0], expected)
    np.testing.assert_array_equal(fast[0], expected)


def test_glyph_method_known_bitmaps_and_fallback_order(font_a, font_b):
    chain = [fontlib.inspect_font(font_a), fontlib.inspect_font(font_b)]
    feats, cover = glyph.render_glyphs(["A", "B", "C", "AB"], chain, workers=1)
    imgs = feats.reshape(-1, 32, 32)
    np.testing.assert_array_equal(imgs[0], up2(FRAME))  # first font wins
    np.testing.assert_array_equal(imgs[1], up2(CROSS))  # only the second font has B
    assert [glyph.COVERAGE_NAMES[int(c)] for c in cover] == ["ok", "fallback", "missing", "fallback"]
    assert imgs[2].sum() > 20  # a missing glyph is drawn as a hex box, never a blank row
    # two characters: each drawn in its own cell, then every pair of columns averaged
    strip = np.concatenate([up2(FRAME), up2(CROSS)], axis=1).astype(np.float32)
    np.testing.assert_allclose(imgs[3], strip.reshape(32, 32, 2).mean(axis=2))
    reversed_chain = chain[::-1]
    feats, _ = glyph.render_glyphs(["A"], reversed_chain, workers=1)
    np.testing.assert_array_equal(feats.reshape(32, 32), up2(BARS))


def test_glyph_method_gives_invisible_characters_a_picture(font_a, tmp_path):
    full = make_font(tmp_path / "pics.otf", {chr(0x2423): FRAME, chr(0x240A): CROSS, chr(0x237D): BARS})
    feats, cover = glyph.render_glyphs([" ", "\n", "\xa0"], [fontlib.inspect_font(full)], workers=1)
    imgs = feats.reshape(-1, 32, 32)
    np.testing.assert_array_equal(imgs[0], up2(FRAME))
    np.testing.assert_array_equal(imgs[1], up2(CROSS))
    np.testing.assert_array_equal(imgs[2], up2(BARS))
    assert {glyph.COVERAGE_NAMES[int(c)] for c in cover} == {"picture"}
