"""benchmarks/gpu.sh where a CPU machine can check it: its arguments, its plan, and its refusal without CUDA."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("bash") or "bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def _fake_nvidia_smi(tmp_path: Path) -> dict:
    """A PATH whose nvidia-smi lists one GPU, so the script gets past its driver check."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/usr/bin/env bash\necho 'GPU 0: Fake GPU (UUID: GPU-0)'\n")
    fake.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_strict_mode_is_on():
    assert "set -euo pipefail" in SCRIPT.read_text()


def test_help_and_unknown_arguments():
    out = _run("--help")
    assert out.returncode == 0 and "--results DIR" in out.stdout
    bad = _run("--frobnicate")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: unknown argument '--frobnicate' (see --help)"
    missing = _run("--results")
    assert missing.returncode == 2 and "needs a folder" in missing.stderr


def test_dry_run_lists_every_step_in_order(tmp_path):
    out = _run("--dry-run", "--results", str(tmp_path / "res"))
    assert out.returncode == 0, out.stderr
    names = [line.split(":", 1)[0] for line in out.stdout.splitlines()]
    assert names == ["bootstrap", "environment", "tests-gpu", "tests-kernels", "bench-kernels", "bench-train"]
    assert "-m gpu" in out.stdout and "bench_train.py --gpu" in out.stdout and str(tmp_path / "res") in out.stdout
    skipped = _run("--dry-run", "--no-bootstrap")
    assert skipped.stdout.splitlines()[0].startswith("environment:")
    assert not (tmp_path / "res").exists()  # a dry run writes nothing


def test_refuses_without_a_cuda_driver(tmp_path):
    # PATH without any nvidia-smi: the refusal comes before any set-up.
    bin_dir = tmp_path / "empty"
    bin_dir.mkdir()
    for tool in ("dirname", "date", "sed"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    out = _run("--results", str(tmp_path / "res"), env={"PATH": str(bin_dir)})
    assert out.returncode == 3
    assert out.stderr.strip().startswith("error: no CUDA device")
    assert not (tmp_path / "res").exists()


@pytest.mark.slow  # imports torch in a child process: seconds on a loaded machine
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_refuses_a_torch_that_does_not_see_cuda(tmp_path):
    # A driver is present (faked) but this torch is a CPU build: refused, no results folder.
    env = {**_fake_nvidia_smi(tmp_path), "SUBSTRATE_PYTHON": sys.executable}
    out = _run("--no-bootstrap", "--results", str(tmp_path / "res"), env=env)
    assert out.returncode == 3, out.stderr
    assert "does not see the CUDA device" in out.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "res").exists() and not (tmp_path / "res.partial").exists()


def test_an_existing_results_folder_is_refused(tmp_path):
    (tmp_path / "res").mkdir()
    out = _run("--no-bootstrap", "--results", str(tmp_path / "res"), env=_fake_nvidia_smi(tmp_path))
    assert out.returncode == 2 and "already exists" in out.stderr
