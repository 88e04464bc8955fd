#!/usr/bin/env bash
# The main job on the built-in default data (Python standard-library docstrings).
set -euo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/substrate
OUT=artifacts/demo
mkdir -p "$OUT"
$S build-tokenizer --out "$OUT/tokenizer" --force
