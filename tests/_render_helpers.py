"""Builders shared by the render tests: tiny fonts with known bitmaps, tiny tokenizer directories."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

UPM, PX = 1024, 64  # one bitmap pixel = 64 font units = 2 px at size 32
ASCENT, DESCENT = 14 * PX, -2 * PX


def bitmap(rows: Sequence[str]) -> np.ndarray:
    """'#'/'.' rows (16 x 16, top first) -> uint8 array, 1 = ink."""
    a = np.array([[ch == "#" for ch in r] for r in rows], dtype=np.uint8)
    assert a.shape == (16, 16)
    return a


# ink touches column 0, column 15, row 2 and row 13: the drawn 32x32 picture is then exactly
# the 2x2-upscaled bitmap (see make_font for the metrics that make this so)
FRAME = bitmap(["." * 16, "." * 16, "#" * 16] + ["#" + "." * 14 + "#"] * 10 + ["#" * 16, "." * 16, "." * 16])
CROSS = bitmap(["." * 16, "." * 16] + ["#" + "." * 6 + "##" + "." * 6 + "#"] * 5 + ["#" * 16, "#" * 16]
               + ["#" + "." * 6 + "##" + "." * 6 + "#"] * 5 + ["." * 16, "." * 16])
BARS = bitmap(["." * 16, "." * 16] + [("#." * 8) if r % 2 else ("#" * 16) for r in range(12)] + ["." * 16, "." * 16])


def make_font(path: str | Path, glyphs: dict[str, np.ndarray], family: str = "Test Pixels", cmap: bool = True) -> Path:
    """A TrueType font whose glyph for each character is its 16x16 bitmap drawn as squares."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.t2CharStringPen import T2CharStringPen
    from fontTools.ttLib import TTFont

    # CFF outlines, like Unifont's OTF: FreeType's CFF engine keeps pixel-aligned squares crisp
    # for every script (the TrueType autohinter would shift non-Latin glyphs by fractions)
    names = {c: f"uni{ord(c):04X}" for c in glyphs}
    fb = FontBuilder(UPM, isTTF=False)
    fb.setupGlyphOrder([".notdef", *names.values()])
    fb.setupCharacterMap({ord(c): n for c, n in names.items()})
    outlines, metrics = {}, {}
    pen = T2CharStringPen(16 * PX, None)
    outlines[".notdef"], metrics[".notdef"] = pen.getCharString(), (16 * PX, 0)
    for c, bm in glyphs.items():
        pen = T2CharStringPen(16 * PX, None)
        for r, col in zip(*np.nonzero(bm)):
            x0, y0 = int(col) * PX, (14 - int(r) - 1) * PX
            pen.moveTo((x0, y0))
            pen.lineTo((x0, y0 + PX))
            pen.lineTo((x0 + PX, y0 + PX))
            pen.lineTo((x0 + PX, y0))
            pen.closePath()
        outlines[names[c]] = pen.getCharString()
        metrics[names[c]] = (16 * PX, int(np.nonzero(bm.any(0))[0].min()) * PX if bm.any() else 0)
    fb.setupCFF(family.replace(" ", ""), {"FullName": family}, outlines, {})
    fb.setupHorizontalMetrics(metrics)
    fb.setupHorizontalHeader(ascent=ASCENT, descent=DESCENT)
    fb.setupNameTable({"familyName": family, "styleName": "Regular", "version": "Version 1.000"})
    fb.setupOS2(sTypoAscender=ASCENT, sTypoDescender=DESCENT, usWinAscent=ASCENT, usWinDescent=-DESCENT)
    fb.setupPost()
    path = Path(path)
    fb.save(str(path))
    if not cmap:
        font = TTFont(str(path))
        del font["cmap"]
        font.save(str(path))
    return path


def make_tokenizer(out: str | Path, tokens: Sequence[str], byte_level: bool = False) -> Path:
    """A tokenizer directory (HF tokenizer.json + verified manifest) whose vocabulary is ``tokens`` in id order."""
    from tokenizers import Tokenizer, decoders
    from tokenizers.models import BPE

    from unicode_substrate.artifacts import write_manifest

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(BPE({t: i for i, t in enumerate(tokens)}, []))
    if byte_level:
        tok.decoder = decoders.ByteLevel()
    tok.save(str(out / "tokenizer.json"))
    write_manifest(out, "tokenizer", 1, layout="test")
    return out
