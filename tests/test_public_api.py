"""The package's public objects: importable from ``unicode_substrate`` itself, lazily, and the ones the docs use."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import unicode_substrate

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_every_public_name_resolves():
    for name in unicode_substrate.__all__:
        assert getattr(unicode_substrate, name) is not None, name
    from unicode_substrate.run import Run
    from unicode_substrate.train.config import TrainConfig

    assert unicode_substrate.Run is Run and unicode_substrate.TrainConfig is TrainConfig
    with pytest.raises(AttributeError):
        unicode_substrate.no_such_thing  # noqa: B018


def test_train_is_the_training_loop_whatever_was_imported_first(tmp_path):
    from _train_helpers import make_data, make_table, tiny_config

    import unicode_substrate.train.trainer  # noqa: F401  (the subpackage is an attribute of the package now)
    from unicode_substrate import train

    data, table = make_data(tmp_path / "data"), make_table(tmp_path / "table")
    run = train(tiny_config(steps=2, eval_every=0, ckpt_every=0), data, tmp_path / "run", table=table, progress=False).path
    assert (run / "summary.json").is_file()
    assert train.TrainConfig is unicode_substrate.TrainConfig  # and still the package


def test_import_is_instant_and_torch_free():
    code = ("import sys, unicode_substrate as u; from unicode_substrate import TrainConfig, Run; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:3]")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def _doc_imports() -> list[tuple[Path, int, str, list[str]]]:
    """(file, line, module, names) of every ``from unicode_substrate... import`` in the docs' code blocks."""
    found = []
    for doc in DOCS:
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            m = re.match(r"\s*from (unicode_substrate[\w.]*) import (.+)$", line)
            if m:
                tree = ast.parse(line.strip())
                found.append((doc, n, m.group(1), [a.name for a in tree.body[0].names]))
    return found


def test_docs_import_public_names_from_the_package():
    """A name the package exports is imported from the package, not from the submodule it lives in;
    every other imported name exists there and is public (no underscore)."""
    import importlib

    found = _doc_imports()
    assert found, "the README imports nothing from the package"
    for doc, line, module, names in found:
        where = f"{doc.name}:{line}"
        for name in names:
            assert not name.startswith("_"), f"{where} imports private {name}"
            assert hasattr(importlib.import_module(module), name), f"{where}: {module} has no {name}"
            if module != "unicode_substrate" and name in unicode_substrate.__all__:
                pytest.fail(f"{where}: import {name} from unicode_substrate, not {module}")
