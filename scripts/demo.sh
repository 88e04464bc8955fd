#!/usr/bin/env bash
# The whole pipeline on the built-in corpus (Python standard-library docstrings):
# tokenizer -> 128-wide glyph table (+ atlas) -> token data -> frozen glyph table vs trainable
# embedding on the tiny preset, trained on identical data, seed, schedule and steps -> a sample ->
# a 3-layer model grown block by block beside its monolithic control -> the two fused (mean of logits) ->
# the tokenizer's characters per token on the corpus -> where word groups separate, level by level, in the
# frozen and the trainable model.
# Measured 2026-12-07 from a fresh clone of commit aeebe0f on the 2-core machine (short test runs beside it):
# 453 s for this script, 9 min 2 s with the set-up; details in benchmarks/RESULTS.md, "End to end".
# STEPS=... sets the steps per variant,
# SEED_STEPS=... those of the multi-seed comparison (3 seeds x 2 variants).
#
# To add a stage: one `stage "what" "why"` line, then its commands through `run`; the stage
# count is taken from this file, so nothing else needs to change.
set -euo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/substrate
OUT=artifacts/demo
STEPS=${STEPS:-200}
GROW_STEPS=${GROW_STEPS:-$((STEPS / 4))}
SEED_STEPS=${SEED_STEPS:-30}
STAGES=$(grep -c '^stage ' "$0")
mkdir -p "$OUT"
SECONDS=0
n=0
t_stage=0

stage() {  # stage TITLE EXPLANATION: a numbered header saying what comes and why
    [ "$n" -gt 0 ] && echo "   (stage took $((SECONDS - t_stage)) s)"
    n=$((n + 1))
    t_stage=$SECONDS
    echo
    echo "== $n/$STAGES $1"
    echo "   $2"
}

run() {  # run CMD...: show the command, then run it
    echo "+ $*"
    "$@"
}

stage "tokenizer: lossless layout, n-grams mined from the built-in corpus" \
      "Ids are code points; 7,936 n-gram slots and 256 byte tokens make every string round-trip."
run $S build-tokenizer --out "$OUT/tokenizer" --force

stage "glyph table: every id drawn, 128 dimensions (the tiny presets' width)" \
      "65,536 glyph pictures -> PCA -> unit rows; identical pictures are moved apart (about a minute idle, several on a loaded machine)."
run $S render --tokenizer "$OUT/tokenizer" --method glyph --dim 128 --out "$OUT/table" --preview "$OUT/atlas.png" --force

stage "token data: the corpus tokenized into train and validation arrays" \
      "Every 50th document is held out; bits per byte are measured on it."
run $S prepare --tokenizer "$OUT/tokenizer" --out "$OUT/data" --force

stage "compare: frozen glyph table vs trainable embedding, $STEPS steps each" \
      "Same data, seed and schedule; only the input embedding differs. A progress line every 5 % of each run."
run $S compare --data "$OUT/data" --out "$OUT/compare" --force \
    --variant "frozen-glyph=tiny-glyph:$OUT/table" --variant "trainable=tiny-unfrozen" \
    --steps "$STEPS" --batch-size 4 --lr 3e-3 --min-lr 3e-4 --warmup 10 \
    --eval-every 50 --ckpt-every 0 --seed 1337

stage "seeds: the same two variants, once per seed ($SEED_STEPS steps, seeds 1,2,3), paired by seed" \
      "One run per variant cannot tell a difference from seed noise: means with 95 % intervals and a paired t-test."
run $S compare --data "$OUT/data" --out "$OUT/seeds" --force \
    --variant "frozen-glyph=tiny-glyph:$OUT/table" --variant "trainable=tiny-unfrozen" --seeds 1,2,3 \
    --steps "$SEED_STEPS" --batch-size 4 --lr 3e-3 --min-lr 3e-4 --warmup 3 --eval-tokens 8192 --ckpt-every 0
echo
grep 'at the 5 % level' "$OUT/seeds/report.md"

stage "sample: 40 tokens from the frozen-glyph model" \
      "A 17M-parameter model after $STEPS steps on 1.8 MB: expect docstring-shaped text, not sense."
run $S generate --run "$OUT/compare/runs/frozen-glyph" --prompt "Return the" --max-new-tokens 40 --temperature 0.8 --seed 0

stage "grow: a 3-layer model grown one block at a time, next to the same model trained whole" \
      "Growing Transformers: each stage freezes the blocks below and trains the new block and the head ($GROW_STEPS steps per stage)."
cat > "$OUT/grow.toml" <<EOF
preset = "tiny-gt-3l"
stages = [1, 1, 1]
steps_per_stage = [$GROW_STEPS, $GROW_STEPS, $GROW_STEPS]
trainable = "newest+head"
batch_size = 4
lr = 3e-3
min_lr = 3e-4
warmup = 10
eval_every = $GROW_STEPS
seed = 1337
EOF
run $S grow --config "$OUT/grow.toml" --data "$OUT/data" --table "$OUT/table" --out "$OUT/grown" --force
echo
grep '^|' "$OUT/grown/report.md"

stage "fuse: the grown and the monolithic model as one mixture of experts" \
      "Both sit on the same frozen table, so their logits can be averaged with no training at all."
run $S fuse --expert "$OUT/grown/final" --expert "$OUT/grown/monolithic" --out "$OUT/fused" --force
run $S generate --run "$OUT/fused" --prompt "Return the" --max-new-tokens 40 --temperature 0.8 --seed 0

stage "tokenizer statistics: characters and bytes per token of the demo's tokenizer on the built-in corpus" \
      "The paper's efficiency measure (characters per token, per document, averaged), with round trips and vocabulary use."
run $S tokenizer-stats --tokenizer "lossless=$OUT/tokenizer" --out "$OUT/tokenizer-stats" --force --no-progress
echo
cat "$OUT/tokenizer-stats/table.csv"

stage "semantics: where the notebook's word groups separate, level by level, in the frozen and the trainable model" \
      "kNN accuracy, silhouette and cosines at every level, each against 1000 random relabellings; expect little at this scale."
run $S semantics --run "frozen-glyph=$OUT/compare/runs/frozen-glyph" --run "trainable=$OUT/compare/runs/trainable" \
    --lang en --out "$OUT/semantics" --force --no-progress
echo
sed -n '/^- /p' "$OUT/semantics/report.md"

echo "   (stage took $((SECONDS - t_stage)) s)"
echo
echo "demo finished in ${SECONDS}s"
echo "report:      $OUT/compare/report.md"
echo "loss curves: $OUT/compare/loss_curves.png"
echo "atlas:       $OUT/atlas.png"
echo "growth:      $OUT/grown/report.md"
echo "seeds:       $OUT/seeds/report.md"
echo "tokenizer:   $OUT/tokenizer-stats/table.md"
echo "semantics:   $OUT/semantics/report.md"
