#!/usr/bin/env bash
# Ptm against the PyTorch peer on both CPU kinds this machine can stand for: natively (here AVX-512) and held to
# AVX2+FMA (AMD Zen 3, Intel Haswell), then `./ptm pretrain gpt` wall clock under both. Run from anywhere, on a
# quiet machine (other load makes every figure meaningless); about 1.5 hours on 2 cores with the defaults.
#
#   ROUNDS=3          paired rounds per kind (throughput --peer --paired-rounds N --cpu-isa both)
#   PRETRAIN_RUNS=2   `./ptm pretrain gpt` runs per kind, alternating native and AVX2
#   PRETRAIN_ARGS=    extra arguments for those runs (e.g. "--max-steps 300" for a shorter check)
#   THROUGHPUT_ARGS=  extra arguments for the harness (e.g. "--quick --no-bert" to check the script itself)
#   OUT=benchmarks/results
#
# Writes $OUT/<date>-cpu-kinds.md (the summary) and $OUT/<date>-cpu-kinds-throughput.{json,md} (the harness's full
# report). Needs the peer installed: see benchmarks/README.md, "--peer".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${ROUNDS:-3}"
pretrain_runs="${PRETRAIN_RUNS:-2}"
pretrain_args="${PRETRAIN_ARGS:-}"
throughput_args="${THROUGHPUT_ARGS:-}"
out="${OUT:-$root/benchmarks/results}"
mkdir -p "$out"

# What `--cpu-isa avx2` gives Ptm's children (benchmarks/Ptm.Benchmarks/Throughput/CpuIsa.cs): MKL, oneDNN, ATen,
# Ptm's kernels, and .NET's JIT (which also makes CpuFeatures report no AVX-512, as on a Zen 3).
avx2_env=(MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 PTM_KERNELS=avx2 DOTNET_EnableAVX512=0)
isa_vars=(MKL_ENABLE_INSTRUCTIONS ONEDNN_MAX_CPU_ISA ATEN_CPU_CAPABILITY PTM_KERNELS DOTNET_EnableAVX512)
native_unset=()
for v in "${isa_vars[@]}"; do native_unset+=(-u "$v"); done

run_kind() { # run_kind native|avx2 command...
  local kind="$1"; shift
  if [ "$kind" = avx2 ]; then env "${native_unset[@]}" "${avx2_env[@]}" "$@"; else env "${native_unset[@]}" "$@"; fi
}

echo "building (Release) ..."
dotnet build -c Release benchmarks/Ptm.Benchmarks -nologo -v quiet
dotnet build -c Release src/Ptm.Cli -nologo -v quiet
bench="$root/benchmarks/Ptm.Benchmarks/bin/Release/net10.0/Ptm.Benchmarks"

work="$(mktemp -d "${TMPDIR:-/tmp}/ptm-cpu-kinds.XXXXXX")"
trap 'rm -rf "$work"' EXIT
date="$(date +%F)"
stem="$out/$date-cpu-kinds"

echo "throughput: full run natively, then $rounds paired rounds per kind ..."
# shellcheck disable=SC2086  # THROUGHPUT_ARGS is a list of arguments
"$bench" throughput --peer --paired-rounds "$rounds" --cpu-isa both --no-tokenizers --out "$work" $throughput_args
report_md="$(ls "$work"/*-throughput.md)"
report_json="$(ls "$work"/*-throughput.json)"
cp "$report_json" "$stem-throughput.json"
cp "$report_md" "$stem-throughput.md"

# `./ptm pretrain gpt`: the default config end to end (data preparation included), wall clock, kinds alternating.
declare -a rows=()
for ((i = 1; i <= pretrain_runs; i++)); do
  for kind in native avx2; do
    log="$work/pretrain-$kind-$i.log"
    echo "ptm pretrain gpt ($kind, run $i) ..."
    start=$(date +%s.%N)
    # shellcheck disable=SC2086  # PRETRAIN_ARGS is a list of arguments
    if ! PTM_NO_BUILD=1 run_kind "$kind" ./ptm pretrain gpt --out "$work/run-$kind-$i" --samples 0 $pretrain_args >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      echo "ptm pretrain gpt ($kind) failed" >&2
      exit 1
    fi
    end=$(date +%s.%N)
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    last_step="$(tr '\r' '\n' <"$log" | grep -E '^step +[0-9]+/' | tail -n 1 | sed -E 's/ +/ /g' || true)"
    validation="$(grep -E '^validation loss' "$log" | tail -n 1 || true)"
    rows+=("| $kind | $i | $seconds | ${last_step:-?} | ${validation:-?} |")
    echo "  $seconds s"
  done
done

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
native_median=$(printf '%s\n' "${rows[@]}" | awk -F' \\| ' '$1 == "| native" { print $3 }' | median)
avx2_median=$(printf '%s\n' "${rows[@]}" | awk -F' \\| ' '$1 == "| avx2" { print $3 }' | median)

{
  echo "# CPU kinds $date: native and AVX2+FMA"
  echo
  echo "- CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) logical CPUs"
  echo "- CPU features seen by Ptm: native \"$(run_kind native "$bench" cpu-probe)\"; AVX2 \"$(run_kind avx2 "$bench" cpu-probe)\""
  echo "- AVX2 variables: Ptm \`${avx2_env[*]}\`; PyTorch \`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell\`"
  echo "- commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "- full harness report: [$date-cpu-kinds-throughput.md]($date-cpu-kinds-throughput.md) (its main run is native)"
  echo "- targets: default GPT and GPT-2-small training ≥ ×1.3 the peer as paired-round medians, on both kinds"
  echo
  sed -n '/^## Paired rounds/,$p' "$report_md"
  echo
  echo "## \`./ptm pretrain gpt\` wall clock (runs per kind: $pretrain_runs, alternating${pretrain_args:+; arguments: $pretrain_args})"
  echo
  echo "| kind | run | wall s | last step | validation |"
  echo "|---|---:|---:|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Median wall clock: native $native_median s, AVX2 $avx2_median s. The command: \`./ptm pretrain gpt --samples 0\`" \
    "with configs/gpt-kjv.json (data preparation and the checkpoint included), each run in a fresh run folder."
} >"$stem.md"
echo "wrote $stem.md"
