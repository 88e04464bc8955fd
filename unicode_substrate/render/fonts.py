"""Fonts: the default-font manifest (fonts.toml beside this module), validation, identity and coverage.

Every font is checked before anything is drawn with it, so a missing, truncated or cmap-less
font stops the run with one line instead of turning tokens into blank rows.
"""

from __future__ import annotations

import io
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from unicode_substrate.artifacts import sha256_bytes
from unicode_substrate.errors import SubstrateError
from unicode_substrate.schema import check_keys

FONTS_TOML = Path(os.environ.get("SUBSTRATE_FONTS_TOML", Path(__file__).with_name("fonts.toml")))  # package data: found where installed
_FONT_KEYS = {"name", "description", "paths", "install"}


@dataclass(frozen=True)
class FontSpec:
    """One default font: a name, where it usually lives and how to install it."""

    name: str
    description: str
    paths: tuple[str, ...]
    install: str


@dataclass(frozen=True)
class FontInfo:
    """A validated font file: identity (family, version, sha256) and the code points its cmap covers."""

    path: Path
    family: str
    version: str
    sha256: str
    codepoints: frozenset[int]

    def describe(self) -> dict:
        """Manifest entry (no absolute path, so artifacts do not depend on where fonts live)."""
        return {"file": self.path.name, "family": self.family, "version": self.version, "sha256": self.sha256, "codepoints": len(self.codepoints)}


def load_font_manifest(path: str | Path = FONTS_TOML) -> tuple[FontSpec, ...]:
    """Read the default-font list; unknown keys are an error."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SubstrateError(f"font manifest {path} not found; give the font files instead", param="fonts") from None
    except tomllib.TOMLDecodeError as e:
        raise SubstrateError(f"font manifest {path} is not valid TOML: {e}") from None
    check_keys(data, {"schema", "font"}, f"font manifest {path}")
    if data.get("schema") != 1:
        raise SubstrateError(f"font manifest {path}: schema must be 1, got {data.get('schema')!r}")
    specs = []
    for entry in data.get("font", []):
        check_keys(entry, _FONT_KEYS, f"font manifest {path} [[font]]")
        if not {"name", "paths"} <= set(entry):
            raise SubstrateError(f"font manifest {path}: a [[font]] entry needs name and paths")
        specs.append(FontSpec(entry["name"], entry.get("description", ""), tuple(entry["paths"]), entry.get("install", "")))
    return tuple(specs)


def default_font_paths(manifest: str | Path = FONTS_TOML) -> list[Path]:
    """First existing path of each manifest font; the first font must exist, later ones are optional."""
    found = []
    for i, spec in enumerate(load_font_manifest(manifest)):
        hit = next((Path(p) for p in spec.paths if Path(p).is_file()), None)
        if hit is None and i == 0:
            raise SubstrateError(
                f"default font {spec.name} not found (looked in {', '.join(spec.paths)}); install it with: {spec.install}, "
                "or give font files", param="fonts")
        if hit is not None:
            found.append(hit)
    return found


@lru_cache(maxsize=16)
def _inspect(path: str, mtime_ns: int, size: int) -> FontInfo:
    from fontTools.ttLib import TTFont, TTLibError

    data = Path(path).read_bytes()
    try:
        font = TTFont(io.BytesIO(data), lazy=True)
        tables = font.reader.tables
    except (TTLibError, Exception) as e:  # fontTools raises many types on garbage
        raise SubstrateError(f"{path} is not a TrueType/OpenType font ({type(e).__name__}: {e})") from None
    for tag, entry in tables.items():
        if entry.offset + entry.length > len(data):
            raise SubstrateError(f"{path} is truncated or corrupt (table {tag.strip()} runs past the end of the file)")
    if "cmap" not in tables:
        raise SubstrateError(f"{path} has no cmap table: it cannot map characters to glyphs")
    try:
        cmap = font.getBestCmap()
        name = font["name"] if "name" in tables else None
    except Exception as e:
        raise SubstrateError(f"{path} is corrupt ({type(e).__name__}: {e})") from None
    if not cmap:
        raise SubstrateError(f"{path} has no Unicode cmap subtable: it cannot map characters to glyphs")
    family = (name.getDebugName(1) if name else None) or Path(path).stem
    version = (name.getDebugName(5) if name else None) or "unknown"
    from PIL import ImageFont

    try:  # FreeType is what draws; make sure it accepts the file too
        ImageFont.truetype(path, 16).getbbox("A")
    except OSError as e:
        raise SubstrateError(f"FreeType cannot load {path}: {e}") from None
    return FontInfo(Path(path), family, version, sha256_bytes(data), frozenset(cmap))


def inspect_font(path: str | Path) -> FontInfo:
    """Validate a font file and return its identity and coverage (cached per file version)."""
    p = Path(path)
    if not p.exists():
        raise SubstrateError(f"font {p} does not exist")
    if not p.is_file():
        raise SubstrateError(f"font {p} is not a file")
    st = p.stat()
    return _inspect(str(p.resolve()), st.st_mtime_ns, st.st_size)


def resolve_fonts(fonts: Sequence[str | Path] | None) -> list[FontInfo]:
    """The fallback chain: the given paths in order, or the manifest defaults; all validated."""
    paths = list(fonts) if fonts else default_font_paths()
    return [inspect_font(p) for p in paths]


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide rendered bits and PCA output."""
    import numpy
    import PIL
    import sklearn
    from PIL import features

    return {
        "pillow": PIL.__version__,
        "freetype": features.version("freetype2") or "unknown",
        "raqm": features.version("raqm") or "none",
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
    }
