#!/usr/bin/env bash
# BERT recipe levers at proxy scale, one at a time, each scored with the same held-out masked-word protocol (ptm
# evaluate on a .txt file: 15% of words masked whole, content words counted apart) and the README's fill-mask example
# (its top 5 and the rank of "light"). Results: docs/bert.md ("Recipe levers") and
# benchmarks/results/2026-12-07-bert-recipe.md.
#
#   benchmarks/run-bert-recipe.sh [STEPS] [levers|fill-mask|ablate]
#
# levers (the default): each lever alone against the classic recipe, configs/bert-classic-kjv.json, plus the default
# recipe (configs/bert-kjv.json, every lever that won, together) and ELECTRA. fill-mask: the levers tried on the default
# recipe for the Genesis 1:3 example. ablate: each lever of the default recipe undone (or pre-LN added) alone, and
# ELECTRA scored through its generator; run it with STEPS 1500, the full budget (about 13 min a run on one thread).
# STEPS defaults to 375 = a quarter of the 1500 of both configs.
#
# Each lever is run at the same step count; tokens/s of every run is printed so that the step counts of the full-budget
# runs can be set to equal wall clock (steps × tokens/s ratio against classic; tokens/s counts real tokens, and packed
# sequences hold about 75% real tokens, so compare seconds per step when packing differs). Run on a quiet machine: about
# 2.5 min per lever there. Runs go to runs/recipe-<lever>/.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-375}
mode=${2:-levers}
warmup=$(( steps / 15 ))
classic=configs/bert-classic-kjv.json
example="And God said, Let there be [MASK]: and there was light."

declare -A levers=(
  [classic]=""
  [mask40]="--set data.masked_lm_prob=0.4 --set data.max_predictions_per_seq=26"
  [whole-word]="--set data.masking_unit=whole-word"
  [phrase]="--set data.masking_unit=phrase"
  [packed]="--set data.pair_task=none"
  [lr1e-3]="--set training.learning_rate=0.001"
  [no-dropout]="--set model.hidden_dropout_prob=0 --set model.attention_probs_dropout_prob=0"
  [vocab3000]="--set tokenizer.vocab_size=3000"
  [batch64]="--set training.batch_size=64"
  # default*: on configs/bert-kjv.json instead of the classic config
  [default]=""
  [default-mask15]="--set data.masked_lm_prob=0.15 --set data.max_predictions_per_seq=10"
  [default-lr2e-3]="--set training.learning_rate=0.002"
  [default-token]="--set data.masking_unit=token"
  [default-pairs-nsp]="--set data.pair_task=nsp"
  [default-lr5e-4]="--set training.learning_rate=0.0005"
  [default-preln]="--set model.pre_layer_norm=true"
  [default-preln-lr2e-3]="--set model.pre_layer_norm=true --set training.learning_rate=0.002"
)
if [ "$mode" = fill-mask ]; then
  order=(default default-mask15 default-lr2e-3 default-token)
elif [ "$mode" = ablate ]; then
  order=(default default-mask15 default-lr5e-4 default-pairs-nsp default-preln default-preln-lr2e-3)
else
  order=(classic mask40 whole-word phrase packed lr1e-3 no-dropout vocab3000 batch64 default)
fi

summary() {
  local name=$1 run=runs/recipe-$1
  local tps="" acc=""   # an exported generator folder has no metrics of its own
  if [ -f "$run/metrics.jsonl" ]; then
    tps=$(grep -o '"tokens_per_sec":[0-9.]*' "$run/metrics.jsonl" | tail -n +3 | cut -d: -f2 | awk '{s+=$1;n++} END {printf "%.0f", s/n}')
    acc=$(grep -o '"val_mlm_acc":[0-9.]*' "$run/metrics.jsonl" | tail -1 | cut -d: -f2 || true)
  fi
  ./ptm evaluate --model "$run" --file data/kjv/validation.txt --out "$run/masked-words.json" > /dev/null
  local words content
  words=$(grep -o '"word_accuracy": [0-9.]*' "$run/masked-words.json" | cut -d' ' -f2)
  content=$(grep -o '"content_word_accuracy": [0-9.]*' "$run/masked-words.json" | cut -d' ' -f2)
  local candidates; candidates=$(./ptm fill-mask --model "$run" --top-k 4000 "$example")
  local top; top=$(head -5 <<< "$candidates" | awk '{printf "%s ", $1}')
  local light; light=$(awk '$1 == "light" {printf "%d (%s%%)", NR, $2}' <<< "$candidates")
  printf '%-15s steps %5s  tok/s %6s  val_mlm_acc %-8s  word_acc %-8s  content_acc %-8s  light %-12s  top5: %s\n' \
    "$name" "$steps" "$tps" "$acc" "$words" "$content" "$light" "$top"
}

for name in "${order[@]}"; do
  config=$classic
  [[ $name == default* ]] && config=configs/bert-kjv.json
  # shellcheck disable=SC2086
  ./ptm pretrain bert --config "$config" --out "runs/recipe-$name" --force --samples 0 --max-steps "$steps" \
    --set training.warmup_steps="$warmup" --set training.eval_interval="$steps" --set training.checkpoint_interval="$steps" \
    ${levers[$name]} > "runs/recipe-$name.log"
  summary "$name"
done
if [ "$mode" = fill-mask ]; then exit 0; fi
if [ "$mode" = ablate ]; then
  # ELECTRA as shipped (configs/electra-kjv.json: its own step count for the same budget), scored through its
  # generator, the only masked LM it trains, exported as a BERT folder.
  ./ptm pretrain electra --out runs/recipe-electra --force > runs/recipe-electra.log
  ./ptm export --model runs/recipe-electra --generator --to runs/recipe-electra-generator > /dev/null
  summary electra-generator
  exit 0
fi
# ELECTRA at the same step count (a step costs about 1.1x BERT's; compare tokens/s). Its content-word figure is the
# generator's, from the run's own validation masks: the discriminator has no trained MLM head.
./ptm pretrain electra --out runs/recipe-electra --force --max-steps "$steps" --set training.warmup_steps="$warmup" \
  --set training.eval_interval="$steps" --set training.checkpoint_interval="$steps" > runs/recipe-electra.log
grep -E "generator masked-word|discriminator RTD" runs/recipe-electra.log
