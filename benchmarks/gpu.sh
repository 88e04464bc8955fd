#!/usr/bin/env bash
# The GPU check, in one call on a lent CUDA machine with no package registry: set-up from the
# checkout and carried wheels, then the GPU tests and the benchmarks, most important first.
#
#   bash benchmarks/gpu.sh                      # figures under $OUT (the device tool's), else artifacts/gpu-results/
#   bash benchmarks/gpu.sh --results DIR        # another results folder (absent or empty)
#   bash benchmarks/gpu.sh --wheels DIR         # the carried wheels (default artifacts/gpu-wheels)
#   bash benchmarks/gpu.sh --dry-run            # print the set-up and the steps, run nothing
#   SUBSTRATE_COMMIT=abc1234 bash benchmarks/gpu.sh   # name the commit where the copy holds no .git
#
# Set-up uses the machine's own python3 (SUBSTRATE_PYTHON to name another) and its CUDA torch:
# a venv over its site-packages, the wheels from benchmarks/gpu-wheels.sh, and the project from
# this checkout, all with pip --no-index --no-deps (the encoder's C loop built by the machine's
# compiler). Anything missing is refused in one line before the first step. Each step then runs
# under its own time limit; a failed or timed-out step is recorded and the next one runs.
# Budget: the step limits add up to 415 s; with set-up, under 8 minutes (not yet timed on a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=${OUT:-artifacts/gpu-results}
WHEELS=artifacts/gpu-wheels
VENV=${SUBSTRATE_GPU_VENV:-artifacts/gpu-venv}
PY=${SUBSTRATE_PYTHON:-python3}
DRY=0

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --results) [ $# -ge 2 ] || { echo "error: --results needs a folder" >&2; exit 2; }; RESULTS=$2; shift 2 ;;
        --wheels) [ $# -ge 2 ] || { echo "error: --wheels needs a folder" >&2; exit 2; }; WHEELS=$2; shift 2 ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

VPY=$VENV/bin/python
PIP="$VPY -m pip install -q --disable-pip-version-check --no-index --no-deps --no-cache-dir --root-user-action=ignore"
# The files of every test that needs CUDA (tests/test_gpu_script.py checks that no gpu-marked test lives elsewhere).
GPU_TESTS="tests/test_kernels.py tests/test_embed_lift.py tests/test_rope.py"
SETUP=(
    "venv|$PY -m venv --system-site-packages --without-pip $VENV, then a .pth that adds $PY's own site-packages"
    "wheels|$PIP $WHEELS/*.whl"
    "imports|$VPY benchmarks/gpu_env.py check"
    "project|$PIP --no-build-isolation -e .   (builds unicode_substrate/tokenizer/_bpe.c with \${CC:-cc})"
    "cuda|$VPY -c 'import torch; torch.cuda.is_available()'"
)
# name|seconds|command: in order of importance, each under its own limit (about 8 minutes in all).
steps() {
STEPS=(
    "environment|30|nvidia-smi; $VPY benchmarks/gpu_env.py describe"
    "tests|100|$VPY -m pytest -q -rfE -p no:cacheprovider -n 4 -k 'not compile_for_gpus' $GPU_TESTS"
    "bench-kernels|95|$VPY benchmarks/bench_kernels.py --batch 8 --vocab 65536 131072 --no-e2e"
    "bench-train|100|$VPY benchmarks/bench_train.py --gpu-check"
    "resume|60|$VPY benchmarks/gpu_resume.py --steps 50 --layers 4"
    "eval|30|$VPY benchmarks/bench_eval.py --device cuda --loglik-only --items 64"
)
}
steps

if [ "$DRY" = 1 ]; then
    for s in "${SETUP[@]}"; do echo "setup ${s%%|*}: ${s#*|}"; done
    for s in "${STEPS[@]}"; do
        name=${s%%|*}; rest=${s#*|}
        echo "$name (${rest%%|*} s): ${rest#*|}"
    done
    echo "results: $RESULTS/RESULTS-section.md, $RESULTS/gpu.log, $RESULTS/steps.tsv"
    exit 0
fi

fail() { echo "error: $*" >&2; exit 3; }
# Refuse before any set-up: a machine without a CUDA driver cannot run a single step.
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    fail "no CUDA device (nvidia-smi finds none); benchmarks/gpu.sh runs only on a CUDA machine"
fi
if [ -e "$RESULTS" ] && [ -n "$(ls -A "$RESULTS" 2>/dev/null)" ]; then
    echo "error: results folder $RESULTS is not empty; move it away or pass --results NEW" >&2
    exit 2
fi
# The kernels must compile for CUDA, not run under the interpreter; the project must come from this checkout.
unset TRITON_INTERPRET PYTHONPATH
start=$(date +%s)
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu.log
: > "$LOG"

# ---- set-up: every refusal is one line, before the first step ----
command -v "$PY" >/dev/null 2>&1 || fail "no python interpreter '$PY' (set SUBSTRATE_PYTHON)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || fail "$PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); the project needs 3.11 or later"
command -v "${CC:-cc}" >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || fail "no C compiler (\${CC:-cc}) to build the encoder's native loop"
if [ -x "$VPY" ] || "$PY" -m venv --system-site-packages --without-pip "$VENV" >>"$LOG" 2>&1; then
    # A venv made from a venv (the machines' python3 is one) sees its base's packages, not its creator's:
    # add the creator's site folders (and their .pth files) behind the venv's own.
    parent_sites=$("$PY" -c 'import site, sysconfig; p = sysconfig.get_paths(); print(repr(list(dict.fromkeys([p["purelib"], p["platlib"], *site.getsitepackages()]))))')
    venv_site=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "import site; list(map(site.addsitedir, $parent_sites))" > "$venv_site/zz_gpu_parent_site.pth"
else  # no venv module: the machine is lent bare and given back, so install into its interpreter itself
    echo "gpu.sh: $PY cannot make a venv; installing into $PY itself" | tee -a "$LOG" >&2
    VPY=$(command -v "$PY")
    PIP="$VPY -m pip install -q --disable-pip-version-check --no-index --no-deps --no-cache-dir --root-user-action=ignore"
fi
"$VPY" -m pip --version >>"$LOG" 2>&1 || fail "$PY has no pip module to install with"
shopt -s nullglob
wheels=("$WHEELS"/*.whl)
shopt -u nullglob
if [ ${#wheels[@]} -gt 0 ]; then
    $PIP "${wheels[@]}" >>"$LOG" 2>&1 || fail "the wheels in $WHEELS do not install on $PY: $(tail -1 "$LOG")"
fi
"$VPY" benchmarks/gpu_env.py check 2>>"$LOG" || { tail -1 "$LOG" >&2; exit 3; }
$PIP --no-build-isolation -e . >>"$LOG" 2>&1 || fail "the project does not install from this checkout: $(tail -1 "$LOG")"
here=$(pwd -P)
"$VPY" -c "import sys, unicode_substrate, unicode_substrate.tokenizer._bpe as b; sys.exit(not b.__file__.startswith('$here/'))" 2>>"$LOG" \
    || fail "the venv does not import the project and its compiled encoder loop from $here (see $LOG)"
"$VPY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>>"$LOG" \
    || fail "no CUDA device: torch $("$VPY" -c 'import torch; print(torch.__version__)' 2>/dev/null) in $PY sees none (a CPU build of torch?)"
steps  # again: VPY is the interpreter itself when no venv could be made
echo "gpu.sh: set-up took $(( $(date +%s) - start )) s" | tee -a "$LOG" >&2

# ---- the steps ----
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
: > "$RESULTS/steps.tsv"

write_section() {  # the RESULTS section of the steps so far; rewritten whole after every step
    local tmp="$RESULTS/.RESULTS-section.md.tmp"
    {
        echo "## GPU check: \`bash benchmarks/gpu.sh\` (commit ${SUBSTRATE_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}, $(date -u +%Y-%m-%d))"
        echo
        echo "Machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1), $(nproc) CPU cores; $(( $(date +%s) - start )) s so far."
        echo
        echo "| step | status | seconds | limit |"
        echo "|---|---|---:|---:|"
        awk -F'\t' '{print "| " $1 " | " $2 " | " $3 " | " $4 " |"}' "$RESULTS/steps.tsv"
        while IFS=$'\t' read -r name status secs limit; do
            echo
            echo "### $name ($status)"
            echo
            if [ "$name" = tests ]; then tail -n 15 "$SCRATCH/$name.md"; else cat "$SCRATCH/$name.md"; fi
        done < "$RESULTS/steps.tsv"
    } > "$tmp"
    mv "$tmp" "$RESULTS/RESULTS-section.md"
}

failed=0
for s in "${STEPS[@]}"; do
    name=${s%%|*}; rest=${s#*|}; limit=${rest%%|*}; cmd=${rest#*|}
    echo "gpu.sh: $name (limit $limit s; $(( $(date +%s) - start )) s so far)" | tee -a "$LOG" >&2
    t0=$(date +%s)
    set +e
    PYTHONUNBUFFERED=1 timeout -k 5 "$limit" bash -c "$cmd" 2>&1 | tee "$SCRATCH/$name.md" | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    set -e
    case $rc in
        0) status=passed ;;
        124|137) status="timed out"; failed=1 ;;
        *) status="failed (exit $rc)"; failed=1 ;;
    esac
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - t0 ))" "$limit" >> "$RESULTS/steps.tsv"
    write_section
done
echo "gpu.sh: done in $(( $(date +%s) - start )) s; $RESULTS/RESULTS-section.md is ready for benchmarks/RESULTS.md" | tee -a "$LOG" >&2
exit $failed
