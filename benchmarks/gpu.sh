#!/usr/bin/env bash
# One command for a lent CUDA machine, from a clean clone: set-up, every CUDA test, the kernel
# benchmark and the training benchmark, with the figures written under a results folder.
#
#   bash benchmarks/gpu.sh                      # everything, figures under artifacts/gpu-results/
#   bash benchmarks/gpu.sh --results DIR        # another results folder (created; must not exist)
#   bash benchmarks/gpu.sh --no-bootstrap       # reuse an existing .venv
#   bash benchmarks/gpu.sh --dry-run            # print the steps, run nothing
#
# It refuses to start without a CUDA device and stops at the first failing step (set -euo pipefail).
# Budget: about 8 minutes with set-up on an H100-class GPU (most of it installing torch and compiling).
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=artifacts/gpu-results
BOOTSTRAP=1
DRY=0
PY=${SUBSTRATE_PYTHON:-.venv/bin/python}

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --results) [ $# -ge 2 ] || { echo "error: --results needs a folder" >&2; exit 2; }; RESULTS=$2; shift 2 ;;
        --no-bootstrap) BOOTSTRAP=0; shift ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

STEPS=(
    "bootstrap|bash scripts/bootstrap.sh"
    "environment|nvidia-smi; $PY -c 'import torch, triton; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"triton\", triton.__version__, torch.cuda.get_device_name())'"
    "tests-gpu|$PY -m pytest -q -p no:cacheprovider -n 0 -m gpu tests"
    "tests-kernels|$PY -m pytest -q -p no:cacheprovider -n 0 tests/test_kernels.py tests/test_embed_lift.py tests/test_rope.py"
    "bench-kernels|$PY benchmarks/bench_kernels.py"
    "bench-train|$PY benchmarks/bench_train.py --gpu"
)

if [ "$DRY" = 1 ]; then
    for step in "${STEPS[@]}"; do
        name=${step%%|*}
        [ "$name" = bootstrap ] && [ "$BOOTSTRAP" = 0 ] && continue
        echo "$name: ${step#*|}  > $RESULTS/$name.md"
    done
    exit 0
fi

# Refuse before any set-up: a machine without a CUDA driver cannot run a single step.
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "error: no CUDA device (nvidia-smi finds none); benchmarks/gpu.sh runs only on a CUDA machine" >&2
    exit 3
fi
if [ -e "$RESULTS" ]; then
    echo "error: results folder $RESULTS already exists; move it away or pass --results NEW" >&2
    exit 2
fi

# The kernels must compile for CUDA, not run under the interpreter.
unset TRITON_INTERPRET
start=$(date +%s)
if [ "$BOOTSTRAP" = 1 ]; then
    echo "gpu.sh: bootstrap" >&2
    bash scripts/bootstrap.sh
fi
if ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "error: torch in $PY does not see the CUDA device (a CPU build of torch?)" >&2
    exit 3
fi
tmp="$RESULTS.partial"
rm -rf "$tmp"
mkdir -p "$tmp"
for step in "${STEPS[@]}"; do
    name=${step%%|*}
    cmd=${step#*|}
    [ "$name" = bootstrap ] && continue
    echo "gpu.sh: $name ($(( $(date +%s) - start )) s so far)" >&2
    t0=$(date +%s)
    bash -c "$cmd" 2>&1 | tee "$tmp/$name.md"  # pipefail: a failing step stops the script here
    echo "gpu.sh: $name took $(( $(date +%s) - t0 )) s" >&2
done
{
    echo "## GPU check: \`bash benchmarks/gpu.sh\` (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d))"
    echo
    echo "Machine: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1), $(nproc) CPU cores; total $(( $(date +%s) - start )) s."
    echo
    for f in bench-train bench-kernels; do cat "$tmp/$f.md"; echo; done
} > "$tmp/RESULTS-section.md"
mv "$tmp" "$RESULTS"
echo "gpu.sh: figures in $RESULTS (RESULTS-section.md is ready for benchmarks/RESULTS.md)" >&2
