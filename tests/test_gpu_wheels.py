"""The lent GPU machines' image plus the carried wheels cover every third-party import of the package."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_env  # noqa: E402  (benchmarks/ holds the one list of what the image has)


def test_image_and_wheels_cover_every_import():
    imports = gpu_env.third_party_imports()
    assert {"torch", "triton", "numpy", "PIL"} <= imports  # the walk sees the package's real imports
    uncovered = {m for m in imports - gpu_env.OPTIONAL.keys()
                 if gpu_env.dist_name(m) not in gpu_env.IMAGE | gpu_env.carried().keys()}
    assert not uncovered, f"neither the image nor the wheels provide {sorted(uncovered)}"


def test_wheels_are_exactly_what_the_image_lacks():
    wheels = set(gpu_env.carried())
    assert wheels == {"freetype-py", "zstandard"}  # what the image lacks (ijson is no longer a dependency)
    assert gpu_env.wheels() == ["freetype-py>=2.4", "zstandard>=0.22"]  # pyproject's ranges
    assert not wheels & gpu_env.IMAGE
    # every dependency is either in the image or carried: nothing installs from a registry there
    assert set(gpu_env.requirements()) <= gpu_env.IMAGE | wheels


def test_optional_imports_are_really_optional():
    # An import left out of the wheels must be one the package guards (imported inside a function).
    for module in gpu_env.OPTIONAL:
        assert gpu_env.dist_name(module) not in gpu_env.IMAGE
        top_level = [p for p in (ROOT / "unicode_substrate").rglob("*.py")
                     if f"\nimport {module}\n" in p.read_text(encoding="utf-8")]
        assert not top_level, f"{module} is imported at module level in {top_level}"


def test_walk_finds_a_planted_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("import os\nimport numpy as np\nfrom .b import c\nfrom PIL import Image\n")
    (pkg / "sub" / "d.py").write_text("def f():\n    import zstandard\n    from unicode_substrate import x\n")
    assert gpu_env.third_party_imports(pkg) == {"numpy", "PIL", "zstandard"}
    assert gpu_env.dist_name("PIL") == "pillow" and gpu_env.dist_name("fontTools") == "fonttools"


def test_wheel_script_asks_for_the_machines_wheels_only():
    import shutil
    import subprocess

    script = ROOT / "benchmarks" / "gpu-wheels.sh"
    text = script.read_text()
    # binary wheels for the machines' CPython 3.12 on x86-64 Linux, no dependency resolution
    for flag in ("--only-binary=:all:", "--python-version 3.12", "--implementation cp", "--no-deps", "manylinux2014_x86_64"):
        assert flag in text, flag
    assert "gpu_env.py wheels" in text  # the list comes from the one module
    bash = shutil.which("bash") or "bash"
    bad = subprocess.run([bash, str(script), "--frobnicate"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: unknown argument '--frobnicate' (see --help)"
    usage = subprocess.run([bash, str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 0 and "--out DIR" in usage.stdout and "set -euo" not in usage.stdout
