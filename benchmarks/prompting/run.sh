#!/usr/bin/env bash
# Zero-, 4- and 16-shot prompting of a GPT on every shipped classify/pair/choice task (docs/prompting.md).
# usage: benchmarks/prompting/run.sh MODEL OUT_DIR [N] [SHOTS...]
# Each run scores a seeded subset of N test examples (default 100, --sample-seed 20261207) under all three
# calibrations at once; few-shot runs repeat over demonstration seeds 1-5 (SEEDS overrides). PTM selects the command
# (default ./ptm).
set -euo pipefail
model=$1; out=$2; n=${3:-100}; shift $(( $# < 3 ? $# : 3 ))
shots=("$@"); [ ${#shots[@]} -eq 0 ] && shots=(0 4 16)
ptm=${PTM:-./ptm}
mkdir -p "$out"
W=data/tasks/wordnet-senses
run() { # name task train test template verbalizer shots seed
  local name=$1 task=$2 train=$3 test=$4 template=$5 verbalizer=$6 k=$7 seed=$8
  local args=(prompt --model "$model" --task "$task" --file "$test" --train "$train" --limit "$n" --template "$template"
              --shots "$k" --seed "$seed" --calibration none,contextual,pmi --threads 1 --out "$out/$name-k$k-s$seed.json")
  [ -n "$verbalizer" ] && args+=(--verbalizer "$verbalizer")
  $ptm "${args[@]}" > "$out/$name-k$k-s$seed.log"
}
for k in "${shots[@]}"; do
  seeds=(${SEEDS:-1 2 3 4 5}); [ "$k" = 0 ] && seeds=(1)
  for s in "${seeds[@]}"; do
    run supersense classify data/tasks/wordnet-supersense/train.csv data/tasks/wordnet-supersense/test.csv \
      'Definition: {text}\nCategory: {label}' \
      'noun.animal=animal,noun.artifact=object,noun.food=food,noun.location=place,noun.person=person,noun.plant=plant' "$k" "$s"
    run kjv-next-verse pair data/tasks/kjv-next-verse/train.csv data/tasks/kjv-next-verse/test.csv \
      '{text}\n{text_pair}\nDoes the second verse follow the first? {label}' '' "$k" "$s"
    run senses-pair pair $W/pair-train.csv $W/pair-test.csv \
      'Definition: {text}\nExample: {text_pair}\nDoes the example fit the definition? {label}' '' "$k" "$s"
    run senses-choice choice $W/choice-train.jsonl $W/choice-test.jsonl \
      'Sentence: {text}\nThe missing word means: {label}' '' "$k" "$s"
  done
done
