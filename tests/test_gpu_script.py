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


STEP_NAMES = ["environment", "tests", "bench-kernels", "bench-train", "resume", "eval"]


def _dry_steps(out: str) -> list[tuple[str, int, str]]:
    """(name, seconds, command) of the dry run's step lines."""
    steps = []
    for line in out.splitlines():
        head, _, cmd = line.partition(": ")
        if head.endswith(" s)"):
            name, _, secs = head.partition(" (")
            steps.append((name, int(secs.split()[0]), cmd))
    return steps


def test_dry_run_lists_the_set_up_and_every_step_in_order(tmp_path):
    out = _run("--dry-run", "--results", str(tmp_path / "res"), "--wheels", str(tmp_path / "wh"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    setup = [line.split(":", 1)[0] for line in lines if line.startswith("setup ")]
    assert setup == ["setup venv", "setup wheels", "setup imports", "setup project", "setup cuda"]
    pip_lines = [line for line in lines if "pip install" in line]
    assert len(pip_lines) == 2 and all("--no-index" in p and "--no-deps" in p for p in pip_lines)
    assert "--system-site-packages" in lines[0] and "--no-build-isolation -e ." in lines[3]
    assert str(tmp_path / "wh") in out.stdout and str(tmp_path / "res") in out.stdout
    steps = _dry_steps(out.stdout)
    assert [name for name, _, _ in steps] == STEP_NAMES  # most important first: a cut-off call keeps them
    # one device call of at most 8 minutes: the limits plus a minute of set-up
    assert sum(secs for _, secs, _ in steps) + 60 <= 8 * 60
    cmds = dict((name, cmd) for name, _, cmd in steps)
    assert "-k 'not compile_for_gpus'" in cmds["tests"] and "--vocab 65536 131072" in cmds["bench-kernels"]
    assert not (tmp_path / "res").exists()  # a dry run writes nothing


def test_every_step_names_options_its_script_has():
    out = _run("--dry-run")
    for _, _, cmd in _dry_steps(out.stdout):
        for part in cmd.split("; "):
            words = part.split()
            scripts = [w for w in words if w.endswith(".py")]
            if not scripts:
                continue
            source = (ROOT / scripts[0]).read_text()
            for flag in (w for w in words[words.index(scripts[0]) + 1:] if w.startswith("--")):
                assert f'"{flag}"' in source, f"{scripts[0]} has no option {flag}"


def test_every_gpu_marked_test_runs_in_the_tests_step():
    cmd = dict((n, c) for n, _, c in _dry_steps(_run("--dry-run").stdout))["tests"]
    marked = {f"tests/{p.name}" for p in (ROOT / "tests").glob("test_*.py") if "\n@pytest.mark.gpu" in p.read_text()}
    assert marked and all(f in cmd.split() for f in marked), (marked, cmd)


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


def _tiny_wheel(folder: Path) -> Path:
    """A pure-Python wheel (module gpucheck_dummy), standing in for the carried ones."""
    import base64
    import hashlib
    import zipfile

    folder.mkdir()
    info = "gpucheck_dummy-0.1.dist-info"
    files = {"gpucheck_dummy.py": b"VALUE = 42\n",
             f"{info}/METADATA": b"Metadata-Version: 2.1\nName: gpucheck-dummy\nVersion: 0.1\n",
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{k},sha256={base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b'=').decode()},{len(v)}"
              for k, v in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = folder / "gpucheck_dummy-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
    return path


@pytest.mark.slow  # a venv, two offline pip installs and a C build: about 12 s on a loaded machine
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_set_up_runs_offline_to_the_cuda_check(tmp_path):
    # The device's set-up on CPU: this interpreter (a venv, as the machines' python3 is), no registry,
    # a carried wheel; it gets through everything and stops, in one line, where CUDA is needed.
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, repo / name)
    for name in ("unicode_substrate", "benchmarks"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    _tiny_wheel(tmp_path / "wheels")
    env = {**_fake_nvidia_smi(tmp_path), "SUBSTRATE_PYTHON": sys.executable,
           "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": os.devnull}
    env = {k: v for k, v in {**os.environ, **env}.items() if k not in ("PYTHONPATH", "OUT", "TRITON_INTERPRET")}
    out = subprocess.run([shutil.which("bash") or "bash", str(repo / "benchmarks" / "gpu.sh"), "--results",
                          str(tmp_path / "res"), "--wheels", str(tmp_path / "wheels")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 3, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"error: no CUDA device: torch {__import__('torch').__version__} in {sys.executable} sees none (a CPU build of torch?)"]
    vpy = repo / "artifacts" / "gpu-venv" / "bin" / "python"
    probe = "import gpucheck_dummy, unicode_substrate, unicode_substrate.tokenizer._bpe as b; print(b.__file__)"
    where = subprocess.run([str(vpy), "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(repo / "unicode_substrate" / "tokenizer" / "_bpe."))  # built here
    assert (tmp_path / "res" / "gpu.log").is_file() and not (tmp_path / "res" / "steps.tsv").exists()


def test_a_non_empty_results_folder_is_refused(tmp_path):
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "old.md").write_text("x")
    out = _run("--results", str(tmp_path / "res"), env=_fake_nvidia_smi(tmp_path))
    assert out.returncode == 2 and "is not empty" in out.stderr


def test_docs_state_the_scripts_limits():
    # docs/performance.md tells a developer how long the call takes: its table must be the script's.
    doc = (ROOT / "docs" / "performance.md").read_text()
    steps = _dry_steps(_run("--dry-run").stdout)
    for name, secs, _ in steps:
        assert f"| {name} | {secs} s |" in doc, name
    assert f"add up to {sum(secs for _, secs, _ in steps)} s" in doc
