"""The README and the manual in docs/ are executable documents: their shell and Python blocks run, in order, as written.

The rules (also stated in the README under "Running the examples" and in docs/README.md):

- Each document is its own test (``test_documents_run_as_written[docs/eval.md]``) and runs, from the
  root, in its own temporary copy of the repository holding what the README wrote under
  ``artifacts/`` and what the documents it names in a ``<!-- runs after: a.md -->`` line wrote
  (earlier ones of docs/README.md's index). Each document's copy is built once per test run, by
  whichever pytest-xdist worker asks first, under a file lock; the others reuse it.
  ``test_documents_name_the_documents_they_use`` fails when a document uses another's output
  without naming it.
- ```` ```bash ```` and ```` ```sh ```` blocks run with ``bash -euo pipefail``, ```` ```python ````
  blocks with this interpreter, with the project's ``.venv/bin`` first on PATH (so ``substrate``
  is found) and ``STEPS`` set small: commands that train write ``--steps "${STEPS:-N}"``.
- A block may write only under ``artifacts/``: after each block, the copy's files outside it are
  compared with what they were before the first block.
- A fence whose info string holds ``no-ci`` (a GPU, several nodes) is skipped, visibly.
- ``make ...`` lines are not re-run: ``make test`` is what runs this file, and ``make demo``
  is timed on a fresh clone instead. Each is reported as a skipped case, by rule.
- Every fence names its language, so no command block escapes the test unlabelled.

Beside that, fast checks: the README's command table is the CLI's command list, every file in
docs/ is in the index, every relative link resolves, and no tracked text file names a directory
of one particular machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
INDEX = DOCS / "README.md"
SHELL = ("bash", "sh")
STEPS = "2"  # training steps for every command that reads ${STEPS:-N}
MAKE_LINE = re.compile(r"^\s*make\b")
INDEX_LINE = re.compile(r"^- \[[^\]]+\]\(([^)#\s]+)\)")  # "- [Title](file.md): what it covers", one per document
WRITABLE = "artifacts"  # the one top-level folder a block may write into (git ignores it)


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


def doc_index(text: str) -> list[str]:
    """The documents an index lists, in its order (one line each)."""
    return [m.group(1) for m in map(INDEX_LINE.match, text.splitlines()) if m]


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


INDEXED = doc_index(INDEX.read_text(encoding="utf-8")) if INDEX.is_file() else []
# The run order: the README, the index, then what the index lists (missing files are test_docs_index's to report).
DOCUMENTS = [README, INDEX] + [DOCS / n for n in INDEXED if (DOCS / n).is_file()]
BLOCKS = {doc: readme_blocks(doc.read_text(encoding="utf-8")) for doc in DOCUMENTS if doc.is_file()}


def test_fences_parse_and_name_a_language():
    text = "x\n```bash no-ci\nsubstrate train\n```\n\n```python\nprint(1)\n```\n"
    assert readme_blocks(text) == [Block("bash", ("no-ci",), "substrate train\n", 2), Block("python", (), "print(1)\n", 6)]
    assert without_make("make demo   # all\nsubstrate --help\n  make test\n") == "substrate --help\n"
    bare = [f"{_rel(doc)}:{b.line}" for doc, blocks in BLOCKS.items() for b in blocks if not b.lang]
    assert not bare, f"fences without a language (label them bash, python, text, ...): {bare}"
    assert any(b.runs for b in BLOCKS[README])


def test_docs_index_lists_every_document():
    assert doc_index("# Docs\n- [A](a.md): first\n* not an entry\n- [B](b.md)\ntext [C](c.md)\n") == ["a.md", "b.md"]
    assert INDEXED, f"{_rel(INDEX)} lists no document (lines of the form '- [Title](file.md): ...')"
    on_disk = sorted(p.name for p in DOCS.glob("*.md") if p != INDEX)
    missing = [n for n in on_disk if n not in INDEXED]
    assert not missing, f"docs files not in the index of {_rel(INDEX)}, so the test would never run them: {missing}"
    absent = [n for n in INDEXED if not (DOCS / n).is_file()]
    assert not absent, f"{_rel(INDEX)} lists documents that do not exist in docs/: {absent}"
    twice = sorted({n for n in INDEXED if INDEXED.count(n) > 1})
    assert not twice, f"{_rel(INDEX)} lists these documents twice: {twice}"


def _section(text: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"README has no '## {heading}' section"
    return m.group(1)


def test_readme_command_table_is_the_cli_command_list():
    from unicode_substrate.cli import COMMANDS

    from _cli_helpers import run_cli

    table = re.findall(r"^\|\s*`substrate ([a-z0-9-]+)`\s*\|", _section(README.read_text(encoding="utf-8"), "Commands"), re.M)
    assert len(table) == len(set(table)), f"README command table repeats a command: {table}"
    assert sorted(table) == sorted(COMMANDS), (
        f"README command table != the CLI's COMMANDS: missing {sorted(set(COMMANDS) - set(table))}, "
        f"extra {sorted(set(table) - set(COMMANDS))}")
    shown = run_cli("--help").output.split("Commands:", 1)[-1]
    listed = re.findall(r"^  ([a-z0-9-]+)\s", shown, re.M)
    assert sorted(listed) == sorted(COMMANDS), f"`substrate --help` lists {listed}, COMMANDS holds {list(COMMANDS)}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    for b in readme_blocks(text):  # a "# comment" inside a code block is no heading
        text = text.replace(b.code, "")
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def test_relative_links_resolve():
    assert _slug("Fusion (`substrate fuse`)") == "fusion-substrate-fuse"
    broken = []
    for doc in DOCUMENTS:
        text = doc.read_text(encoding="utf-8")
        for b in readme_blocks(text):
            text = text.replace(b.code, "")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s):, mailto:
            file, _, anchor = target.partition("#")
            dest = (doc.parent / file).resolve() if file else doc
            if not dest.exists():
                broken.append(f"{_rel(doc)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and dest.is_relative_to(REPO) and anchor not in _anchors(dest):
                broken.append(f"{_rel(doc)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


# A directory of one particular machine: a path under the top-level folders work or root, or two
# levels down under home, tmp or Users (a user's or a job's folder). The brackets keep the
# pattern from matching itself; a path built under tmp_path at run time is no literal and not seen.
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:wor[k]|roo[t])/[^\s/]|(?<![\w.~-])/(?:hom[e]|tm[p]|User[s])/[^\s/]+/[^\s/]")


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [REPO / n for n in out.decode("utf-8", "surrogateescape").split("\0") if n and (REPO / n).is_file()]


def test_no_tracked_file_names_a_machine_directory():
    hits = ["/".join(["", "home", "ann", "src"]), "git clone " + "/".join(["", "work", "main"]),
            "(" + "/".join(["", "tmp", "demo3", "run"]) + ")"]
    misses = ["/tmp/x", "tmp_path / 'run'", "docs/work/x", "/usr/bin/time", "/home/ alone", "~/home/x/y"]
    assert all(MACHINE_PATH.search(s) for s in hits) and not any(MACHINE_PATH.search(s) for s in misses)
    found = []
    for path in _tracked_files():
        data = path.read_bytes()
        if b"\0" in data:
            continue  # a binary file
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{_rel(path)}:{n}: {line.strip()[:120]}")
    assert not found, "tracked files name a directory of one machine (write a relative or placeholder path):\n" + "\n".join(found)


_SKIPS = [(f"{_rel(doc)}:{b.line}", f"{_rel(doc)} line {b.line}: fence marked no-ci ({b.lang}); needs what CI lacks")
          for doc, blocks in BLOCKS.items() for b in blocks if "no-ci" in b.flags] + [
    (f"{_rel(doc)}:{b.line + 1 + k}",
     f"{_rel(doc)} line {b.line + 1 + k}: `{ln.strip()}` is not re-run by rule (make test runs this file; make demo is timed on a fresh clone)")
    for doc, blocks in BLOCKS.items() for b in blocks if b.lang in SHELL and "no-ci" not in b.flags
    for k, ln in enumerate(b.code.splitlines()) if MAKE_LINE.match(ln)
]


@pytest.mark.parametrize("reason", [r for _, r in _SKIPS], ids=[i for i, _ in _SKIPS])
def test_block_not_run_in_ci(reason):
    pytest.skip(reason)


def _venv_bin() -> Path:
    local = REPO / ".venv" / "bin"
    return local if (local / "substrate").exists() else Path(sys.executable).parent


_NOT_COPIED = {".git", ".venv", WRITABLE, "__pycache__", "build", "dist", ".pytest_cache", ".hypothesis"}


def _copy_repo(dst: Path) -> Path:
    """The repository as a checkout holds it: tracked files plus the compiled extension modules."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        files = [n for n in out.decode("utf-8", "surrogateescape").split("\0") if n and (REPO / n).is_file()]
    except (OSError, subprocess.CalledProcessError):  # an unpacked source tree: everything but build outputs
        files = [p.relative_to(REPO).as_posix() for p in REPO.rglob("*") if p.is_file()
                 and not any(part in _NOT_COPIED or part.endswith(".egg-info") for part in p.relative_to(REPO).parts)]
    files += [p.relative_to(REPO).as_posix() for ext in ("*.so", "*.pyd") for p in (REPO / "unicode_substrate").rglob(ext)]
    for name in files:
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dst / name)
    (dst / WRITABLE).mkdir(exist_ok=True)
    return dst


def _outside_artifacts(root: Path) -> dict[str, str]:
    """Every file of the copy outside artifacts/, with its sha256 (a block may neither add nor change one)."""
    paths = [p for top in root.iterdir() if top.name != WRITABLE for p in (top, *top.rglob("*")) if p.is_file()]
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


# "<!-- runs after: training.md, export.md -->" near a document's top: the documents whose artifacts it uses.
NEEDS_LINE = re.compile(r"^<!-- runs after: ([^>]*?) -->$", re.M)


def needs(doc: Path) -> list[Path]:
    """The documents ``doc`` runs after: the README (for every other document) and those it names."""
    if doc == README:
        return []
    named = [n.strip() for m in NEEDS_LINE.finditer(doc.read_text(encoding="utf-8")) for n in m.group(1).split(",")]
    return [README] + [DOCS / n for n in named if n]


def _closure(doc: Path) -> set[Path]:
    out: set[Path] = set()
    for d in needs(doc):
        out |= {d} | _closure(d)
    return out


# A block that makes a path itself (an output, a folder, a redirect) does not use another document's.
WRITES = re.compile(rf"(?:--out[ =]|mkdir -p |> ?)({WRITABLE}/[\w.\-]+)")


def test_documents_name_the_documents_they_use():
    """Each document's blocks run in a copy holding what the README and the documents it names wrote; so a
    path under artifacts/ that another document writes first, and this one does not make, must come from a
    named one (transitively)."""
    order = {doc: i for i, doc in enumerate(DOCUMENTS)}
    first: dict[str, Path] = {}
    for doc, blocks in BLOCKS.items():
        for b in (b for b in blocks if b.runs):
            for p in re.findall(rf"{WRITABLE}/[\w.\-]+", b.code):
                first.setdefault(p, doc)
    wrong = []
    for doc in BLOCKS:
        own = {p for b in BLOCKS[doc] if b.runs for p in WRITES.findall(b.code)}
        for d in needs(doc):
            if d not in order or order[d] >= order[doc]:
                wrong.append(f"{_rel(doc)} runs after {_rel(d)}, which is not an indexed document before it")
        seen = _closure(doc)
        for b in (b for b in BLOCKS[doc] if b.runs):
            for p in sorted(set(re.findall(rf"{WRITABLE}/[\w.\-]+", b.code))):
                if first[p] != doc and first[p] not in seen and p not in own:
                    wrong.append(f"{_rel(doc)}:{b.line} uses {p} from {_rel(first[p])}: add "
                                 f"'<!-- runs after: {first[p].name} -->' to {_rel(doc)}")
    assert not wrong, "\n".join(wrong)


def _shared_dir(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this test run shares (the run's own base folder)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "documents"


def _run_blocks(doc: Path, root: Path, env: dict) -> list[tuple[str, float]]:
    """Run ``doc``'s blocks in order in the copy ``root``; a block that fails or writes outside artifacts/ fails."""
    before = _outside_artifacts(root)
    timings = []
    for b in (b for b in BLOCKS[doc] if b.runs):
        code = without_make(b.code) if b.lang in SHELL else b.code
        if not code.strip():
            continue
        where = f"{_rel(doc)} block at line {b.line} ({b.lang})"
        argv = ["bash", "-euo", "pipefail", "-c", code] if b.lang in SHELL else [sys.executable, "-c", code]
        t0 = time.perf_counter()
        r = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        timings.append((f"{_rel(doc)}:{b.line}", time.perf_counter() - t0))
        assert r.returncode == 0, (
            f"{where} failed with exit {r.returncode}:\n{code}\n"
            f"--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
        )
        assert "Traceback" not in r.stderr, f"{where} printed a traceback:\n{r.stderr[-3000:]}"
        after = _outside_artifacts(root)
        added, changed = sorted(after.keys() - before.keys()), sorted(n for n in before if after.get(n) != before[n])
        assert not added and not changed, (
            f"{where} wrote outside {WRITABLE}/ (keep every file a block writes under {WRITABLE}/): "
            f"added {added}, changed or removed {changed}")
    return timings


def _built(doc: Path, shared: Path) -> tuple[Path, str]:
    """The copy of the repository in which ``doc`` ran, on top of what its needs wrote, and its blocks' timings;
    built once per test run.

    Under pytest-xdist the first worker to ask builds it while holding a file lock; the others wait and
    reuse it (a failure is recorded, so it is reported once and not rerun)."""
    from filelock import FileLock

    key = _rel(doc).replace("/", "--")
    dest = shared / key
    shared.mkdir(parents=True, exist_ok=True)
    with FileLock(str(shared / f"{key}.lock")):
        if (dest / "ok").is_file():
            return dest / "repo", (dest / "ok").read_text(encoding="utf-8")
        if (dest / "failed").is_file():
            pytest.fail(f"{_rel(doc)} failed earlier in this test run:\n{(dest / 'failed').read_text()}")
        deps = [_built(d, shared)[0] for d in needs(doc)]  # the dependency graph runs down the index: no lock cycle
        if dest.exists():
            shutil.rmtree(dest)
        root = _copy_repo(dest / "repo")
        for dep in deps:  # in index order, so a later document's files win, as in one sequential run
            shutil.copytree(dep / WRITABLE, root / WRITABLE, symlinks=True, dirs_exist_ok=True)
        env = dict(os.environ, PATH=f"{_venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}", STEPS=STEPS,
                   PYTHONPATH=str(root),  # `substrate` and `python` both run the copy under test
                   PYTHONPYCACHEPREFIX=str(dest / "pycache"))  # bytecode caches are no block's output
        env.pop("TRITON_INTERPRET", None)  # what a reader's shell has
        try:
            timings = _run_blocks(doc, root, env)
        except Exception as e:  # a failed block, or one past its timeout: reported once, not rerun by the next test
            (dest / "failed").write_text(f"{type(e).__name__}: {str(e)[:6000]}", encoding="utf-8")
            raise
        (dest / "ok").write_text(", ".join(f"{n}: {t:.1f}" for n, t in timings), encoding="utf-8")
        return root, (dest / "ok").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def document_builds(tmp_path_factory):
    """Builds a document's copy (and those of the documents it needs) once per test run, shared by workers."""
    shared = _shared_dir(tmp_path_factory)
    return lambda doc: _built(doc, shared)


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCUMENTS, ids=[_rel(d) for d in DOCUMENTS])
def test_documents_run_as_written(doc, document_builds, unifont_dir):
    """One document's blocks, in order, in a copy holding what the README and its needs wrote under artifacts/."""
    root, timings = document_builds(doc)
    assert (root / WRITABLE).is_dir()
    print(f"{_rel(doc)} blocks (file:line: seconds): {timings or 'none run'}")


OUT_OPTION = re.compile(r"--out[ =](\S+)")


def _commands(code: str) -> list[str]:
    """A shell block's commands, one per entry, with backslash continuations joined."""
    return [c for c in re.sub(r"\\\n\s*", " ", code).splitlines() if c.strip() and not c.lstrip().startswith("#")]


def reused_outputs(blocks: dict[Path, list[Block]]) -> list[str]:
    """Outputs that a later runnable block writes again without --force (the command would refuse)."""
    seen, clashes = {}, []
    for doc, doc_blocks in blocks.items():
        for b in (b for b in doc_blocks if b.runs and b.lang in SHELL):
            for k, cmd in enumerate(_commands(without_make(b.code))):
                for out in OUT_OPTION.findall(cmd.split("#")[0]):
                    where = f"{_rel(doc)}:{b.line}"
                    if out in seen and "--force" not in cmd:
                        clashes.append(f"{where} writes {out} again without --force (first written at {seen[out]})")
                    seen.setdefault(out, where)
    return clashes


def test_no_block_writes_an_earlier_blocks_output_without_force():
    assert reused_outputs(BLOCKS) == []
    a = Block("bash", (), "substrate fuse --expert x \\\n    --out artifacts/fused\n", 3)
    b = Block("bash", (), "substrate fuse --expert y --out artifacts/fused\n", 9)
    forced = Block("bash", (), "substrate fuse --expert y --out artifacts/fused --force\n", 12)
    assert reused_outputs({README: [a, forced]}) == []
    assert reused_outputs({README: [a, b]}) == ["README.md:9 writes artifacts/fused again without --force (first written at README.md:3)"]


def test_the_copy_check_sees_writes_outside_artifacts_only(tmp_path):
    (tmp_path / WRITABLE).mkdir()
    (tmp_path / "README.md").write_text("x")
    before = _outside_artifacts(tmp_path)
    (tmp_path / WRITABLE / "grow.toml").write_text("preset = 'tiny-gt-3l'")
    assert _outside_artifacts(tmp_path) == before
    (tmp_path / "bench" / "arc-easy").mkdir(parents=True)
    (tmp_path / "bench" / "arc-easy" / "dev.jsonl").write_text("{}")
    assert _outside_artifacts(tmp_path).keys() - before.keys() == {"bench/arc-easy/dev.jsonl"}
    (tmp_path / "README.md").write_text("y")
    assert _outside_artifacts(tmp_path)["README.md"] != before["README.md"]
