#!/usr/bin/env bash
# Download, here where a package registry answers, the wheels a lent GPU machine lacks: the
# Python 3.12 manylinux x86_64 wheels of exactly the dependencies benchmarks/gpu_env.py says the
# machine's image does not hold. benchmarks/gpu.sh installs them there with --no-index.
#
#   bash benchmarks/gpu-wheels.sh                 # into artifacts/gpu-wheels (git-ignored)
#   bash benchmarks/gpu-wheels.sh --out DIR       # another folder (replaced as a whole)
#
# The folder is replaced only once every download has succeeded, so it never holds two versions
# of one package (two would stop the install there). Name the folder in the device call's carry.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=artifacts/gpu-wheels
PY=${PYTHON:-python3}
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || { echo "error: --out needs a folder" >&2; exit 2; }; OUT_DIR=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

mapfile -t reqs < <("$PY" benchmarks/gpu_env.py wheels)
[ ${#reqs[@]} -gt 0 ] || { echo "gpu-wheels: the image holds every dependency; nothing to download" >&2; exit 0; }
tmp="$OUT_DIR.partial"
rm -rf "$tmp"
mkdir -p "$tmp"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
"$PY" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d "$tmp" "${reqs[@]}"
rm -rf "$OUT_DIR"
mv "$tmp" "$OUT_DIR"
echo "gpu-wheels: $(ls "$OUT_DIR" | wc -l) wheels, $(du -sh "$OUT_DIR" | cut -f1) in $OUT_DIR (carry: \"$OUT_DIR\")" >&2
ls "$OUT_DIR"
