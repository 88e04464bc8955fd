#!/usr/bin/env bash
# The whole pipeline on the built-in corpus (Python standard-library docstrings):
# tokenizer -> 128-wide glyph table (+ atlas) -> token data -> frozen glyph table vs trainable
# embedding on the tiny preset, trained on identical data, seed, schedule and steps.
# Measured at 4 min 20 s on a 2-core CPU (benchmarks/RESULTS.md); STEPS=... shortens or lengthens the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/substrate
OUT=artifacts/demo
STEPS=${STEPS:-200}
mkdir -p "$OUT"
SECONDS=0

echo "== 1/5 tokenizer (lossless layout, built-in corpus)"
$S build-tokenizer --out "$OUT/tokenizer" --force
echo "== 2/5 glyph table, 128 dimensions to match the tiny presets (about a minute)"
$S render --tokenizer "$OUT/tokenizer" --method glyph --dim 128 --out "$OUT/table" --preview "$OUT/atlas.png" --force
echo "== 3/5 token data"
$S prepare --tokenizer "$OUT/tokenizer" --out "$OUT/data" --force
echo "== 4/5 compare frozen glyph table vs trainable embedding ($STEPS steps each)"
$S compare --data "$OUT/data" --out "$OUT" --force \
    --variant "frozen-glyph=tiny-glyph:$OUT/table" --variant "trainable=tiny-unfrozen" \
    --steps "$STEPS" --batch-size 4 --lr 3e-3 --min-lr 3e-4 --warmup 10 \
    --eval-every 50 --ckpt-every 0 --seed 1337
echo "== 5/5 a sample from the frozen-glyph model"
$S generate --run "$OUT/runs/frozen-glyph" --prompt "Return the" --max-new-tokens 40 --temperature 0.8 --seed 0
echo
echo "demo finished in ${SECONDS}s"
echo "report: $OUT/report.md"
echo "loss curves: $OUT/loss_curves.png"
