#!/usr/bin/env bash
# Data-parallel training on this machine, measured (docs/distributed.md):
#   1. Open MPI all-reduce: exactness check, then float32 times and bus bandwidth up to a GPT-2-small gradient;
#   2. the default GPT for STEPS steps as 1 process x 2 threads (batch 8, 2 accumulation steps) and as 2 ranks x 1 thread
#      (batch 8 each): the same 16 sequences per step, so the loss curves agree and tokens/s compare directly.
# Writes benchmarks/results/<date>-distributed.md. Run it on a quiet machine; it takes a few minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
STEPS="${STEPS:-100}"
command -v mpirun >/dev/null || { echo "needs Open MPI (apt-get install openmpi-bin)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
dotnet build -c Release -nologo -v quiet src/Ptm.Cli/Ptm.Cli.csproj
dotnet build -c Release -nologo -v quiet benchmarks/Ptm.Benchmarks/Ptm.Benchmarks.csproj
cli=src/Ptm.Cli/bin/Release/net10.0/Ptm.Cli.dll
bench=benchmarks/Ptm.Benchmarks/bin/Release/net10.0/Ptm.Benchmarks.dll
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="benchmarks/results/$(date +%F)-distributed.md"

allreduce=$(mpirun -np 2 --oversubscribe dotnet "$bench" allreduce --verify --rounds 5 | tr -d '\r' | sed 's/\x1b\[[0-9;?=]*[a-zA-Z]//g; s/\x1b[=>]//g')

common=(pretrain gpt --out "$work/run" --samples 0 --max-steps "$STEPS" --set training.batch_size=8 \
        --set training.eval_interval=1000000 --set training.checkpoint_interval=1000000 --set training.log_interval=10)
rm -rf "$work/run"; dotnet "$cli" "${common[@]}" --threads 2 --set training.gradient_accumulation_steps=2 > "$work/one.log"
cp "$work/run/metrics.jsonl" "$work/one.jsonl"
rm -rf "$work/run"; mpirun -np 2 --oversubscribe dotnet "$cli" "${common[@]}" --threads 1 --distributed > "$work/two.log"
cp "$work/run/metrics.jsonl" "$work/two.jsonl"

python3 - "$work" "$STEPS" "$allreduce" > "$out" <<'PY'
import json, statistics, sys
work, steps, allreduce = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
print("# Data-parallel training on one 2-core machine\n")
print(f"`benchmarks/run-distributed.sh` (STEPS={steps}) on {cpu}, Open MPI over shared memory.\n")
print("## All-reduce\n")
print(allreduce + "\n")
def rows(name):
    return [json.loads(l) for l in open(f"{work}/{name}.jsonl") if '"loss"' in l and '"tokens_per_sec"' in l]
one, two = rows("one"), rows("two")
def tps(rs): return statistics.median(r["tokens_per_sec"] for r in rs if r["step"] > 10)
print("## Default GPT, 16 sequences of 128 tokens per step\n")
print("| layout | training tokens/s (median of logged steps after step 10) | loss at last step |")
print("|---|---:|---:|")
print(f"| 1 process × 2 threads (batch 8, 2 accumulation steps) | {tps(one):,.0f} | {one[-1]['loss']:.4f} |")
print(f"| 2 ranks × 1 thread (batch 8 each) | {tps(two):,.0f} | {two[-1]['loss']:.4f} |")
diff = max(abs(a["loss"] - b["loss"]) for a, b in zip(one, two))
print(f"\nLargest difference between the two loss curves over {len(one)} logged steps: {diff:.2e} "
      "(float32 sums in another order: thread count differs).")
PY
echo "wrote $out"
cat "$out"
