"""Shared test fixtures and the one tolerance table for numeric comparisons."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The paper's released n-gram statistics, beside the checkout; tests that need them skip cleanly.
REFERENCE_DIR = Path(os.environ.get("SUBSTRATE_REFERENCE_DIR", REPO.parent / "shared" / "reference" / "bvv241"))
UNIFONT_DIR = Path("/usr/share/fonts/opentype/unifont")

# (atol, rtol) by dtype, for kernel-vs-reference and path-vs-path comparisons.
TOLERANCES = {
    "float32": (1e-5, 1e-5),
    "float16": (1e-2, 1e-2),
    "bfloat16": (2e-2, 2e-2),
}


def tolerance(dtype) -> dict:
    """``dict(atol=..., rtol=...)`` for torch.testing.assert_close at this dtype."""
    name = str(dtype).replace("torch.", "")
    atol, rtol = TOLERANCES[name]
    return {"atol": atol, "rtol": rtol}


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE_DIR / "n-gramms-2-3.txt").is_file():
        pytest.skip(f"the paper's n-gram files are not at {REFERENCE_DIR}")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def unifont_dir() -> Path:
    if not (UNIFONT_DIR / "unifont.otf").is_file():
        pytest.skip(f"GNU Unifont is not installed at {UNIFONT_DIR} (apt-get install fonts-unifont)")
    return UNIFONT_DIR


@pytest.fixture(scope="session")
def kernel_device() -> str:
    """Where the Triton kernels run: "cpu" under TRITON_INTERPRET=1, else "cuda"; skip when neither."""
    try:
        from unicode_substrate.kernels import embed_lift_triton
    except ImportError as exc:
        pytest.skip(f"triton does not import: {exc}")
    if embed_lift_triton.INTERPRETED:
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    pytest.skip("the Triton kernels need CUDA or TRITON_INTERPRET=1 (set before triton is imported; make test does)")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module of tiny-model tests: on a shared 2-core machine every tiny
    op otherwise waits for the other thread (about 30 ms each)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def pytest_collection_modifyitems(config, items):
    """The README's document test first and the other documents' tests last (tests/test_readme.py).

    Every document runs on top of the README's artifacts: so under pytest-xdist one worker starts on
    the README at once while the other runs the rest, and the documents come when it is ready."""

    def rank(item) -> int:
        if getattr(item, "originalname", None) != "test_documents_run_as_written":
            return 1
        return 0 if item.callspec.id == "README.md" else 2

    items.sort(key=rank)  # stable: each group keeps its order
