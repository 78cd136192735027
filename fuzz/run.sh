#!/usr/bin/env bash
# Fuzzes one Ptm parser with afl-fuzz (docs/fuzzing.md).
#   fuzz/run.sh TARGET SECONDS     e.g. fuzz/run.sh safetensors 600
#   fuzz/run.sh list               the targets
# Builds fuzz/Ptm.Fuzz into fuzz/out/bin, instruments Ptm.dll there with the SharpFuzz tool (fuzz/.config), writes
# the seed corpora made from the repo's files into fuzz/out/seeds, runs afl-fuzz for SECONDS and prints executions,
# corpus size (paths), coverage and crashes. Crashing inputs land in fuzz/out/findings/TARGET/default/crashes;
# after fixing, copy them to tests/Ptm.Tests/fixtures/fuzz/TARGET/crash-WHAT so the suite replays them.
# PTM_FUZZ_NO_REBUILD=1 keeps the instrumented build as it is (a campaign while the sources change).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/out
bin=$out/bin
if [[ ${1:-} == list ]]; then
  echo "safetensors safetensors-index config tokenizer-json bpe-files vocab-txt char-vocab task-csv task-tsv task-jsonl data encode"
  exit 0
fi
target=${1:?usage: fuzz/run.sh TARGET SECONDS}
seconds=${2:?usage: fuzz/run.sh TARGET SECONDS}
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found (Debian: apt-get install afl++)" >&2; exit 1; }

if [[ -z ${PTM_FUZZ_NO_REBUILD:-} ]] && [[ ! -f $bin/.instrumented || $here/Ptm.Fuzz -nt $bin/.instrumented || -n $(find "$here/../src/Ptm" "$here/Ptm.Fuzz" -name '*.cs' -newer "$bin/.instrumented" -print -quit) ]]; then
  rm -rf "$bin"
  dotnet build "$here/Ptm.Fuzz/Ptm.Fuzz.csproj" -c Release -nologo -v quiet -o "$bin"
  # Seeds first: an instrumented Ptm.dll only runs inside Fuzzer.Run, which sets up AFL's coverage map.
  rm -rf "$out/seeds"
  dotnet "$bin/Ptm.Fuzz.dll" seeds "$out/seeds"
  (cd "$here" && dotnet tool restore >/dev/null && dotnet tool run sharpfuzz "$bin/Ptm.dll")
  touch "$bin/.instrumented"
fi

findings=$out/findings/$target
rm -rf "$findings"
mkdir -p "$findings"
echo "fuzzing $target for $seconds s (log: $findings/afl.log)"
AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
AFL_FORKSRV_INIT_TMOUT=120000 AFL_NO_AFFINITY=1 \
  afl-fuzz -i "$out/seeds/$target" -o "$findings" -t 10000 -m none -V "$seconds" -x "$here/dict/json.dict" -- \
  dotnet "$bin/Ptm.Fuzz.dll" "$target" >"$findings/afl.log" 2>&1 || { tail -30 "$findings/afl.log" >&2; exit 1; }

stats=$findings/default/fuzzer_stats
get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
echo "$target: $(get execs_done) executions in $(get run_time) s ($(get execs_per_sec)/s), corpus $(get corpus_count) paths, coverage $(get bitmap_cvg), crashes $(get saved_crashes), hangs $(get saved_hangs)"
