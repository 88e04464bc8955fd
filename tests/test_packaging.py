"""The built wheel works outside the checkout: installed into a fresh virtual environment, its
``substrate`` command builds a tokenizer and renders a glyph table with the default fonts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd, cwd, env, timeout=300) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout}\n{r.stderr}"
    return r


def _source_copy(dest: Path) -> None:
    """What a wheel is built from, copied so the build writes nothing into the checkout."""
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    skip = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc")
    shutil.copytree(REPO / "unicode_substrate", dest / "unicode_substrate", ignore=skip)


@pytest.mark.slow
def test_wheel_installs_and_renders_outside_the_checkout(tmp_path, unifont_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SUBSTRATE_FONTS_TOML", "VIRTUAL_ENV")}
    src = tmp_path / "src"
    src.mkdir()
    _source_copy(src)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", dist, src], tmp_path, env)
    (wheel,) = dist.glob("unicode_substrate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "unicode_substrate/render/fonts.toml" in names and "unicode_substrate/_version.py" in names
    assert any(n.startswith("unicode_substrate/tokenizer/_bpe.") and n.endswith(".so") for n in names)
    assert "unicode_substrate/cli/__main__.py" in names and not any(n.startswith(("cli/", "data/")) for n in names)

    # A fresh environment whose only unicode_substrate is the wheel; the dependencies (torch,
    # numpy, ...) are read from this interpreter's site-packages through a .pth line, which adds
    # that folder to sys.path without running its own .pth files (so the editable install stays out).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", wheel], tmp_path, env)

    work = tmp_path / "work"  # outside the checkout: nothing here but what the commands write
    work.mkdir()
    where = _run([python, "-c", "import unicode_substrate as u; print(u.__file__, u.__version__)"], work, env).stdout
    assert where.startswith(str(site)) and REPO.as_posix() not in where

    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models

    tiny = HFTokenizer(models.BPE(vocab={c: i for i, c in enumerate("abcdeAB☃é")} | {"ab": 9}, merges=[("a", "b")]))
    tiny.save(str(work / "tiny.json"))
    substrate = venv / "bin" / "substrate"
    _run([substrate, "build-tokenizer", "--from-tokenizer", "tiny.json", "--out", "tok"], work, env)
    r = _run([substrate, "render", "--tokenizer", "tok", "--out", "table", "--dim", "8"], work, env)
    assert "table" in r.stdout
    manifest = json.loads((work / "table" / "manifest.json").read_text())
    assert "unifont" in json.dumps(manifest).lower()  # the default font list was found in the installed package
    r = _run([python, "-m", "unicode_substrate.cli", "--version"], work, env)
    assert r.stdout.split()[-1] == where.split()[-1]
