"""The package's import structure: floors that only look down, and no circles.

Every module (with the imports inside functions too) is read with ``ast``. A module may import
its own folder and any lower floor; two folders on one floor (``train/`` and ``eval/``) never
import each other; and no chain of imports comes back to where it started.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "unicode_substrate"

# From the ground up. A name is a module or folder directly under unicode_substrate/.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("_version", "errors", "choices", "progress", "metrics"),
    ("artifacts", "corpus", "kernels", "options"),
    ("schema",),  # names and configuration fields, over options' ranges
    ("tokenizer", "table", "model"),
    ("render", "checkpoint", "tokens"),
    ("run",),
    ("export", "generate"),
    ("train", "eval"),
    ("data", "semantics"),  # data: text to token data (recipes, mixes, QA, contamination) with eval's readers;
    # semantics: measures runs and models (loads them as eval does)
    ("experiments",),  # compositions of runs: compare, grow, fuse, study
    ("cli", "__init__"),
    ("__main__",),  # python -m unicode_substrate: the CLI
)
FLOOR = {part: level for level, parts in enumerate(FLOORS) for part in parts}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every unicode_substrate module that ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known}
    return {m for m in found if m in known and m != name and m.startswith("unicode_substrate")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {name: _imports(path, name, known) for name, path in mods.items()}
    # A package's __init__ runs on import of any submodule: importing a.b also imports a.
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def test_every_part_of_the_package_has_a_floor():
    parts = {_part(m) for m in _modules()}
    assert parts - set(FLOOR) == set(), "add the new module or folder to FLOORS"


def test_no_import_runs_up_a_floor_or_across_one():
    bad = []
    for src, targets in _graph().items():
        for dst in targets:
            a, b = _part(src), _part(dst)
            if a == b:
                continue
            if FLOOR[b] >= FLOOR[a]:
                bad.append(f"{src} -> {dst}")
    assert bad == [], "imports that run up or across a floor:\n" + "\n".join(sorted(bad))


def test_the_import_graph_has_no_circles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_a_planted_upward_import(tmp_path):
    """The checks above can fail: an eval module that imported a recipe would be caught."""
    src = "from unicode_substrate.experiments.compare import compare\n"
    mods = _modules()
    fake = tmp_path / "fake.py"
    fake.write_text(src)
    found = _imports(fake, "unicode_substrate.eval.fake", set(mods))
    assert "unicode_substrate.experiments.compare" in found
    assert FLOOR[_part("unicode_substrate.experiments.compare")] > FLOOR[_part("unicode_substrate.eval.fake")]


def test_the_contributing_guide_draws_these_floors():
    """docs/contributing.md's picture of the floors is FLOORS, top floor first."""
    import re

    text = (PACKAGE.parent / "docs" / "contributing.md").read_text(encoding="utf-8")
    drawn = [tuple(m.group(2).split()) for m in re.finditer(r"^floor (\d+)  (.+)$", text, re.M)]
    assert drawn == list(reversed(FLOORS)), "redraw the floors in docs/contributing.md from FLOORS"
    numbers = [int(m.group(1)) for m in re.finditer(r"^floor (\d+)  ", text, re.M)]
    assert numbers == list(range(len(FLOORS) - 1, -1, -1))
