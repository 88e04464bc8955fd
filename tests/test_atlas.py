"""The glyph atlas: a sample across token kinds and scripts, ids in hex and decimal, the table's rows beside the pictures."""

from __future__ import annotations

from collections import Counter

from click.testing import CliRunner

from _tokenizer_helpers import build_small
from unicode_substrate.cli import main
from unicode_substrate.render.preview import sample_ids, token_kind


def test_token_kinds():
    assert [token_kind(r, d) for r, d in (("A", "A"), ("ing", "ing"), ("<0x41>", "A"), ("</s>", "</s>"), ("[FILE_SEP]", "[FILE_SEP]"),
                                           ("<unused_60000>", "<unused_60000>"), ("<", "<"), ("<>", "<>"))] == \
        ["character", "n-gram", "byte", "special", "special", "filler", "character", "n-gram"]


def test_sample_spreads_over_kinds_and_scripts_not_uniformly():
    raw = [chr(0x4E00 + i) for i in range(900)] + [chr(0x41 + i) for i in range(26)] + [chr(0x410 + i) for i in range(32)] \
        + ["ab", "cd", "efg", "hij"] * 10 + [f"<0x{b:02X}>" for b in range(256)] + ["<s>", "</s>", "<unk>"]
    scripts = ["cjk"] * 900 + ["latin"] * 26 + ["cyrillic"] * 32 + [""] * (40 + 256 + 3)
    ids = sample_ids(raw, raw, scripts, 48)
    assert len(ids) == len(set(ids)) == 48 and ids == sample_ids(raw, raw, scripts, 48)  # seeded
    kinds = Counter(token_kind(raw[i], raw[i]) for i in ids)
    assert kinds["special"] == 3 and kinds["byte"] == 4 and kinds["n-gram"] == 12 and kinds["character"] == 29
    by_script = Counter(scripts[i] for i in ids if token_kind(raw[i], raw[i]) == "character")
    assert by_script["latin"] >= 9 and by_script["cyrillic"] >= 9  # a uniform draw would give about one each


def test_atlas_png_is_deterministic_and_takes_hex_ids(tmp_path):
    tok = build_small(tmp_path / "tok")
    r = CliRunner().invoke(main, ["render", "--tokenizer", str(tok), "--method", "bit", "--dim", "16", "--out", str(tmp_path / "t")])
    assert r.exit_code == 0, r.output
    for name in ("a.png", "b.png"):
        r = CliRunner().invoke(main, ["preview", "--table", str(tmp_path / "t"), "--out", str(tmp_path / name), "--count", "12"])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    r = CliRunner().invoke(main, ["preview", "--table", str(tmp_path / "t"), "--out", str(tmp_path / "h.png"), "--ids", "0x41,1040"])
    assert r.exit_code == 0, r.output
    from PIL import Image

    assert Image.open(tmp_path / "h.png").size[0] > 300
