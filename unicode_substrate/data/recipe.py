"""A data recipe: a TOML mix of text corpora and question-answering sources with their shares of the training tokens.

```toml
seed = 0                # interleaving order
val_every = 50          # every N-th document of each source goes to validation
tokens = 0              # training tokens to build (0 = just enough for every source to be read once)
max_epochs = 10         # how often a source may be repeated to meet its share (per source too)
[[source]]
name = "wiki-en"
path = "corpora/wiki/en"   # a file, folder or glob, relative to the recipe file
format = "text"            # or squad, boolq, csqa, arc, triviaqa, nq-open, hotpotqa
share = 0.9                # fraction of the training tokens
lang = "en"
```

Sources without ``share`` split what the others leave. ``builtin = true`` (instead of ``path``)
names the built-in standard-library corpus. Unknown keys are an error.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from unicode_substrate.errors import SubstrateError
from unicode_substrate.options import check_range
from unicode_substrate.schema import check_keys, check_name

TEXT_FORMAT = "text"
# Question-answering release formats (the readers live in unicode_substrate.data.qa, beside the eval prompts).
DEFAULT_MAX_EPOCHS = 10.0
SHARE_TOLERANCE = 0.01  # achieved shares must be within 1 % (absolute) of their targets
_RECIPE_KEYS = {"seed", "val_every", "tokens", "max_epochs", "source"}
_SOURCE_KEYS = {"name", "path", "builtin", "format", "share", "lang", "max_epochs"}


@dataclass(frozen=True)
class Source:
    """One source of a recipe; ``path`` is absolute (None for the built-in corpus)."""

    name: str
    format: str
    share: float
    path: Path | None = None
    given_path: str | None = None  # as written in the recipe: what the manifest records
    lang: str | None = None
    max_epochs: float = DEFAULT_MAX_EPOCHS

    @property
    def is_text(self) -> bool:
        return self.format == TEXT_FORMAT


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: every source with its resolved share."""

    sources: tuple[Source, ...]
    seed: int = 0
    val_every: int = 50
    tokens: int = 0
    path: Path | None = None


def _number(value, what: str, where: str, kind=(int, float)) -> float:
    if isinstance(value, bool) or not isinstance(value, kind) or (isinstance(value, float) and not math.isfinite(value)):
        raise SubstrateError(f"{where}: {what} must be a {'whole ' if kind is int else ''}number, got {value!r}")
    return value


def parse_recipe(data: dict, where: str = "recipe", base: Path | None = None) -> Recipe:
    """Validate a recipe's TOML table; relative paths are taken from ``base`` (the recipe's folder)."""
    check_keys(data, _RECIPE_KEYS, where)
    seed = int(check_range("seed", _number(data.get("seed", 0), "seed", where, int), f"{where}:"))
    val_every = int(_number(data.get("val_every", 50), "val_every", where, int))
    if val_every < 2:
        raise SubstrateError(f"{where}: val_every must be at least 2, got {val_every}")
    tokens = int(_number(data.get("tokens", 0), "tokens", where, int))
    if tokens < 0:
        raise SubstrateError(f"{where}: tokens must be 0 (automatic) or more, got {tokens}")
    max_epochs = float(_number(data.get("max_epochs", DEFAULT_MAX_EPOCHS), "max_epochs", where))
    raw = data.get("source")
    if not isinstance(raw, list) or not raw:
        raise SubstrateError(f"{where}: no [[source]] table")
    base = base or Path.cwd()
    parsed, names = [], set()
    for i, s in enumerate(raw):
        sw = f"{where} source {i + 1}"
        if not isinstance(s, dict):
            raise SubstrateError(f"{sw}: not a table")
        check_keys(s, _SOURCE_KEYS, sw)
        name = check_name(s.get("name"), f"{sw}: name")
        sw = f"{where} source {name!r}"
        if name in names:
            raise SubstrateError(f"{sw}: the name is used twice")
        names.add(name)
        fmt = s.get("format", TEXT_FORMAT)
        if fmt != TEXT_FORMAT:
            from unicode_substrate.data.qa import FORMATS as QA_FORMATS  # the QA readers name their formats

            if fmt not in QA_FORMATS:
                raise SubstrateError(f"{sw}: unknown format {fmt!r} (known: {', '.join((TEXT_FORMAT, *QA_FORMATS))})")
        builtin = s.get("builtin", False)
        if not isinstance(builtin, bool):
            raise SubstrateError(f"{sw}: builtin must be true or false")
        given = s.get("path")
        if builtin == (given is not None):
            raise SubstrateError(f"{sw}: give a path or builtin = true (the built-in corpus), exactly one")
        if builtin and fmt != TEXT_FORMAT:
            raise SubstrateError(f"{sw}: the built-in corpus is text, not {fmt}")
        if given is not None and (not isinstance(given, str) or not given.strip()):
            raise SubstrateError(f"{sw}: path must be a non-empty string")
        share = s.get("share")
        if share is not None:
            share = float(_number(share, "share", sw))
            if not 0 < share <= 1:
                raise SubstrateError(f"{sw}: share must be above 0 and at most 1, got {share}")
        lang = s.get("lang")
        if lang is not None and (not isinstance(lang, str) or not lang.strip()):
            raise SubstrateError(f"{sw}: lang must be a language code")
        epochs = float(_number(s.get("max_epochs", max_epochs), "max_epochs", sw))
        if epochs <= 0:
            raise SubstrateError(f"{sw}: max_epochs must be above 0, got {epochs}")
        path = None if builtin else (Path(given) if Path(given).is_absolute() else base / given)
        parsed.append(dict(name=name, format=fmt, share=share, path=path, given_path=given, lang=lang, max_epochs=epochs))
    given_sum = sum(p["share"] for p in parsed if p["share"] is not None)
    open_ = [p for p in parsed if p["share"] is None]
    if given_sum > 1 + 1e-9:
        raise SubstrateError(f"{where}: the shares sum to {given_sum:.4g}, above 1 by {given_sum - 1:.4g}")
    if open_:
        rest = 1 - given_sum
        if rest <= 1e-9:
            raise SubstrateError(f"{where}: the shares given sum to 1, leaving nothing for source {open_[0]['name']!r}")
        for p in open_:
            p["share"] = rest / len(open_)
    elif given_sum < 1 - 1e-9:
        raise SubstrateError(f"{where}: the shares sum to {given_sum:.4g}, not 1; leave one source without share to take the rest")
    return Recipe(tuple(Source(**p) for p in parsed), seed=seed, val_every=val_every, tokens=tokens)


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SubstrateError(f"recipe {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SubstrateError(f"cannot read recipe {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SubstrateError(f"{path}: not valid TOML ({e})") from None
    recipe = parse_recipe(data, where=str(path), base=path.resolve().parent)
    return Recipe(recipe.sources, recipe.seed, recipe.val_every, recipe.tokens, path)
