"""Word groups: which words belong together, per language, read from a TOML file or the built-in default.

A groups file::

    description = "..."                      # optional
    [groups.animals]                         # one table per group
    en = ["cat", "dog", "fox"]               # language code -> the group's words
    ru = ["кошка", "собака", "лиса"]
    [templates]                              # optional: sentence templates per language
    en = ["The {word} is"]

Unknown keys, a group of fewer than two words in a language, a word given twice, a template
without ``{word}``: one line, before anything is loaded. The built-in file (``groups.toml``
beside this module) holds the seven groups of the author's t-SNE notebook in English and Russian.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from unicode_substrate.errors import SubstrateError
from unicode_substrate.schema import check_keys

DEFAULT_GROUPS = Path(__file__).with_name("groups.toml")
TOP_KEYS = {"description", "groups", "templates"}
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]+)?")
WORD = "{word}"


@dataclass(frozen=True)
class WordGroups:
    """The words of one language, each with its group, in file order (groups in file order too)."""

    lang: str
    words: tuple[str, ...]
    labels: tuple[str, ...]  # the group of each word
    templates: tuple[str, ...] = ()

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.labels))

    def without(self, drop: set[str]) -> "WordGroups":
        """The same groups less the words in ``drop`` (groups left with fewer than two words go too)."""
        keep = [(w, g) for w, g in zip(self.words, self.labels) if w not in drop]
        sizes = {g: sum(1 for _, h in keep if h == g) for g in self.groups}
        keep = [(w, g) for w, g in keep if sizes[g] >= 2]
        return WordGroups(self.lang, tuple(w for w, _ in keep), tuple(g for _, g in keep), self.templates)


def check_template(template: str, where: str = "template") -> str:
    """A sentence template: text holding ``{word}`` exactly once."""
    if not isinstance(template, str) or template.count(WORD) != 1:
        raise SubstrateError(f"{where} {template!r} must hold {WORD} exactly once, like \"The {WORD} is\"", param="templates")
    return template


def load_groups(path: str | Path | None = None, langs: list[str] | None = None,
                templates: list[str] | None = None) -> list[WordGroups]:
    """The word groups of ``path`` (the built-in ones when None), one ``WordGroups`` per language.

    ``langs`` picks languages (default: every language of the file); ``templates`` replaces the
    file's templates for every language."""
    from unicode_substrate.train.config import read_toml

    where = str(path) if path is not None else "the built-in word groups"
    values = read_toml(path if path is not None else DEFAULT_GROUPS)
    check_keys(values, TOP_KEYS, where, param="groups")  # groups go under [groups.NAME]
    groups = values.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise SubstrateError(f"{where} holds no [groups.NAME] tables", param="groups")
    by_lang: dict[str, list[tuple[str, str]]] = {}
    for name, table in groups.items():
        if not isinstance(table, dict):
            raise SubstrateError(f"{where}: groups.{name} must be a table of language = [words], got {table!r}", param="groups")
        for lang, words in table.items():
            if not _LANG.fullmatch(lang):
                raise SubstrateError(f"{where}: groups.{name} has unknown key {lang!r} (keys are language codes like en, ru)",
                                     param="groups")
            if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() == w and w for w in words):
                raise SubstrateError(f"{where}: groups.{name}.{lang} must be a list of words (no blanks around them)",
                                     param="groups")
            if len(words) < 2:
                raise SubstrateError(f"{where}: group {name} has {len(words)} word{'s' if len(words) != 1 else ''} in {lang}; "
                                     "a group needs at least 2", param="groups")
            by_lang.setdefault(lang, []).extend((w, name) for w in words)
    file_templates = values.get("templates", {})
    if not isinstance(file_templates, dict):
        raise SubstrateError(f"{where}: templates must be a table of language = [templates]", param="groups")
    for lang, ts in file_templates.items():
        if lang not in by_lang:
            raise SubstrateError(f"{where}: templates.{lang} names a language no group has", param="groups")
        if not isinstance(ts, list):
            raise SubstrateError(f"{where}: templates.{lang} must be a list of templates", param="groups")
        for t in ts:
            check_template(t, f"{where}: templates.{lang}:")
    for t in templates or ():
        check_template(t)
    chosen = list(by_lang) if not langs else list(dict.fromkeys(langs))
    missing = [lang for lang in chosen if lang not in by_lang]
    if missing:
        raise SubstrateError(f"{where} has no words in {', '.join(missing)} (it has: {', '.join(by_lang)})", param="langs")
    out = []
    for lang in chosen:
        pairs = by_lang[lang]
        seen: dict[str, str] = {}
        for w, g in pairs:
            if w in seen:
                raise SubstrateError(f"{where}: the word {w!r} ({lang}) is in both {seen[w]} and {g}; a word has one group",
                                     param="groups")
            seen[w] = g
        if len({g for _, g in pairs}) < 2:
            raise SubstrateError(f"{where}: {lang} has one group; separating groups needs at least 2", param="groups")
        ts = tuple(templates) if templates else tuple(file_templates.get(lang, ()))
        out.append(WordGroups(lang, tuple(w for w, _ in pairs), tuple(g for _, g in pairs), ts))
    return out
