"""What the lent GPU machines' Python already holds, and what must travel to them as wheels.

The one list of the image's packages (IMAGE, as the device tool's KINDS.md lists them) and the
one walk over the package's imports. benchmarks/gpu-wheels.sh asks this module which wheels to
download, benchmarks/gpu.sh asks it whether the machine's interpreter can import everything,
and tests/test_gpu_wheels.py checks that IMAGE plus the wheels cover every import. Standard
library only: it runs before anything is installed.

    python benchmarks/gpu_env.py wheels     # requirement strings of the packages to carry, one a line
    python benchmarks/gpu_env.py check      # exit 3 with one line when this python lacks an import
    python benchmarks/gpu_env.py describe   # versions, the GPU, and a refusal if the kernels would be interpreted
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "unicode_substrate"

# Distributions in the 'cuda' image of nvidia-h100-x1 and nvidia-h200 (python3 3.12, torch 2.11
# with CUDA 13, Triton 3.6), as the device tool's KINDS.md lists them. Edit here when it changes.
IMAGE = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings
cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils
execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet
httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax
jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib
mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver
nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13
nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx
optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing
pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout
pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools
shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp
""".split())

# Import names whose distribution is named otherwise.
DIST_OF = {"PIL": "pillow", "sklearn": "scikit-learn", "freetype": "freetype-py", "yaml": "pyyaml",
           "lm_eval": "lm-eval"}

# Imports the GPU check never reaches, and why they need not travel.
OPTIONAL = {"wandb": "only `train --log wandb`, which refuses in one line when wandb is absent"}


def dist_name(module: str) -> str:
    """The distribution (PyPI name, normalised) that provides top-level module ``module``."""
    return DIST_OF.get(module, module).lower().replace("_", "-")


def third_party_imports(package_dir: Path = ROOT / PACKAGE) -> set[str]:
    """Top-level names of every absolute import in the package that is neither stdlib nor the package."""
    names = set()
    for path in sorted(package_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in (PACKAGE, "__future__")}


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """Normalised distribution name -> requirement string, of the project's run-time dependencies."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    return {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower().replace("_", "-"): d for d in deps}


def carried() -> dict[str, str]:
    """Distribution -> requirement string of the dependencies the image lacks: what gpu-wheels.sh downloads."""
    return {dist: req for dist, req in sorted(requirements().items()) if dist not in IMAGE}


def wheels() -> list[str]:
    """Requirement strings of the wheels to carry, one per package."""
    return list(carried().values())


def missing_imports() -> list[str]:
    """The package's needed third-party imports that this interpreter cannot find."""
    needed = third_party_imports() - OPTIONAL.keys()
    return sorted(m for m in needed if importlib.util.find_spec(m) is None)


def describe() -> int:
    """Print the versions and the device; exit 3 when the Triton kernels would run interpreted."""
    import torch
    import triton

    from unicode_substrate.kernels import embed_lift_triton, triton_status

    print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), triton {triton.__version__}")
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        print(f"device: {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, "
              f"compute capability {p.major}.{p.minor}")
    print(triton_status())
    if embed_lift_triton.INTERPRETED:
        print("error: the Triton kernels run under TRITON_INTERPRET; unset it to time compiled kernels", file=sys.stderr)
        return 3
    return 0


def main(argv: list[str]) -> int:
    if argv == ["wheels"]:
        print("\n".join(wheels()))
        return 0
    if argv == ["check"]:
        missing = missing_imports()
        if missing:
            names = ", ".join(f"{m} ({dist_name(m)})" for m in missing)
            print(f"error: {sys.executable} cannot import {names}; carry their wheels "
                  "(bash benchmarks/gpu-wheels.sh, then name its folder in carry)", file=sys.stderr)
            return 3
        return 0
    if argv == ["describe"]:
        return describe()
    print("usage: python benchmarks/gpu_env.py wheels|check|describe", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
