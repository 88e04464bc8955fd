"""The README is an executable document: its shell and Python blocks run, in order, as written.

The rules (also stated in the README under "Running the README's examples"):

- ```` ```bash ```` and ```` ```sh ```` blocks run with ``bash -euo pipefail``, ```` ```python ````
  blocks with this interpreter, one after the other in one scratch directory, with the
  project's ``.venv/bin`` first on PATH (so ``substrate`` is found) and ``STEPS`` set small:
  commands that train write ``--steps "${STEPS:-N}"``.
- A fence whose info string holds ``no-ci`` (a GPU, several nodes) is skipped, visibly.
- ``make ...`` lines are not re-run: ``make test`` is what runs this file, and ``make demo``
  is timed on a fresh clone instead. Each is reported as a skipped case, by rule.
- Every fence names its language, so no command block escapes the test unlabelled.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHELL = ("bash", "sh")
STEPS = "2"  # training steps for every README command that reads ${STEPS:-N}
MAKE_LINE = re.compile(r"^\s*make\b")


@dataclass(frozen=True)
class Block:
    lang: str  # first word of the info string ("" for a bare fence)
    flags: tuple[str, ...]  # the other words, e.g. ("no-ci",)
    code: str
    line: int  # 1-based line of the opening fence

    @property
    def runs(self) -> bool:
        return self.lang in (*SHELL, "python") and "no-ci" not in self.flags


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, in order."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^(`{3,})([^`]*)$", lines[i])  # a backtick fence's info string holds no backtick
        if not m:
            i += 1
            continue
        fence, words = m.group(1), m.group(2).split()
        start, i = i, i + 1
        body = []
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1
        blocks.append(Block(words[0] if words else "", tuple(words[1:]), "\n".join(body) + "\n", start + 1))
    return blocks


def without_make(code: str) -> str:
    return "".join(ln for ln in code.splitlines(keepends=True) if not MAKE_LINE.match(ln))


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_fences_parse_and_name_a_language():
    text = "x\n```bash no-ci\nsubstrate train\n```\n\n```python\nprint(1)\n```\n"
    assert readme_blocks(text) == [Block("bash", ("no-ci",), "substrate train\n", 2), Block("python", (), "print(1)\n", 6)]
    assert without_make("make demo   # all\nsubstrate --help\n  make test\n") == "substrate --help\n"
    bare = [b.line for b in BLOCKS if not b.lang]
    assert not bare, f"README fences without a language (label them bash, python, text, ...): lines {bare}"
    assert any(b.runs for b in BLOCKS)


_SKIPS = [(b.line, f"README line {b.line}: fence marked no-ci ({b.lang}); needs what CI lacks") for b in BLOCKS
          if "no-ci" in b.flags] + [
    (b.line + 1 + k, f"README line {b.line + 1 + k}: `{ln.strip()}` is not re-run by rule (make test runs this file; make demo is timed on a fresh clone)")
    for b in BLOCKS if b.lang in SHELL and "no-ci" not in b.flags
    for k, ln in enumerate(b.code.splitlines()) if MAKE_LINE.match(ln)
]


@pytest.mark.parametrize("reason", [r for _, r in _SKIPS], ids=[f"line{n}" for n, _ in _SKIPS])
def test_block_not_run_in_ci(reason):
    pytest.skip(reason)


def _venv_bin() -> Path:
    local = REPO / ".venv" / "bin"
    return local if (local / "substrate").exists() else Path(sys.executable).parent


@pytest.mark.slow
def test_readme_runs_as_written(tmp_path, unifont_dir):
    env = dict(os.environ, PATH=f"{_venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}", STEPS=STEPS)
    env.pop("TRITON_INTERPRET", None)  # what a reader's shell has
    timings = []
    for b in (b for b in BLOCKS if b.runs):
        code = without_make(b.code) if b.lang in SHELL else b.code
        if not code.strip():
            continue
        argv = ["bash", "-euo", "pipefail", "-c", code] if b.lang in SHELL else [sys.executable, "-c", code]
        t0 = time.perf_counter()
        r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        timings.append((b.line, time.perf_counter() - t0))
        assert r.returncode == 0, (
            f"README block at line {b.line} ({b.lang}) failed with exit {r.returncode}:\n{code}\n"
            f"--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
        )
        assert "Traceback" not in r.stderr, f"README block at line {b.line} printed a traceback:\n{r.stderr[-3000:]}"
    print("README blocks (line: seconds):", ", ".join(f"{n}: {s:.1f}" for n, s in timings))
