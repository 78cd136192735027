#!/usr/bin/env bash
# Fault-injection trials for `ptm pretrain` (docs/reliability.md states what they show).
#
#   tools/crash-trials.sh [-n TRIALS] [-s "kill9 sigint-kill fsize corrupt"] [-w WORKDIR] [-o RESULTS.md]
#
# A tiny GPT (char vocabulary, 1 layer) trains STEPS steps with a checkpoint after every step, so that kills land
# inside checkpoint writes often. Scenarios, each TRIALS times:
#   kill9       SIGKILL at a random moment (start-up, a step, a checkpoint write), then --resume to the end
#   sigint-kill SIGINT (Ctrl-C) at a random moment, SIGKILL 0-0.5 s later, then --resume
#   fsize       a random file-size limit (ulimit -f, 4-80 KiB): the run must stop with one line (EFBIG) or finish,
#               never die of SIGXFSZ; then --resume without the limit
#   readers     generate --model RUN in a loop while the run trains (pruning as it goes): no call may fail
#   corrupt     a finished run with one byte flipped, or one file truncated, in its latest checkpoint: --resume must
#               refuse, `ptm inspect --verify` must fail, and --resume --use-intact must finish from the older one
# Per trial: clean = the resume exited 0; exact = final model.safetensors byte-identical to an uninterrupted run;
# corruption = latest named a damaged checkpoint after the fault, or damage was accepted, or the result differed;
# leftovers = staged .tmp/.old entries after the resume; metrics = each step logged exactly once.
#
# Uses the built CLI (PTM_DLL, default src/Ptm.Cli/bin/{Release,Debug}/net10.0/Ptm.Cli.dll); build it first.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
trials=20
scenarios="kill9 sigint-kill fsize corrupt readers"
work=""
results=""
steps="${STEPS:-30}"
while getopts "n:s:w:o:" opt; do
  case $opt in
    n) trials=$OPTARG ;;
    s) scenarios=$OPTARG ;;
    w) work=$OPTARG ;;
    o) results=$OPTARG ;;
    *) sed -n 2,20p "$0"; exit 2 ;;
  esac
done
dll="${PTM_DLL:-}"
if [ -z "$dll" ]; then
  for c in Release Debug; do
    [ -f "$root/src/Ptm.Cli/bin/$c/net10.0/Ptm.Cli.dll" ] && { dll="$root/src/Ptm.Cli/bin/$c/net10.0/Ptm.Cli.dll"; break; }
  done
fi
[ -f "$dll" ] || { echo "crash-trials: build the CLI first (dotnet build), or set PTM_DLL" >&2; exit 2; }
[ -n "$work" ] || work=$(mktemp -d /tmp/ptm-crash-XXXXXX)
mkdir -p "$work"
ptm() { dotnet "$dll" "$@"; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# --- the tiny run and its uninterrupted reference ---------------------------------------------------------------
corpus="$work/corpus"
mkdir -p "$corpus"
python3 - "$corpus" <<'PY'
import random, sys, os
words = "the light was good and god said let there be day night called earth heaven waters firmament".split()
r = random.Random(5)
def text(n): return "\n\n".join("\n".join(" ".join(r.choice(words) for _ in range(8)) + "." for _ in range(3)) for _ in range(n)) + "\n"
open(os.path.join(sys.argv[1], "train.txt"), "w").write(text(120))
open(os.path.join(sys.argv[1], "validation.txt"), "w").write(text(20))
PY
config="$work/tiny.json"
cat > "$config" <<JSON
{
  "model": { "n_positions": 32, "n_embd": 32, "n_layer": 1, "n_head": 2, "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1 },
  "tokenizer": { "kind": "char" },
  "training": { "batch_size": 4, "block_size": 32, "max_steps": $steps, "warmup_steps": 3, "eval_interval": 10,
                "eval_iters": 1, "log_interval": 1, "checkpoint_interval": 1, "seed": 11 }
}
JSON
ref="$work/reference"
rm -rf "$ref"
t0=$(date +%s.%N)
ptm pretrain gpt --config "$config" --data "$corpus" --out "$ref" --samples 0 > "$work/reference.log" 2>&1 || { cat "$work/reference.log" >&2; exit 1; }
t1=$(date +%s.%N)
duration=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
data="$ref/data"
weights() { local l; l=$(cat "$1/checkpoints/latest" 2>/dev/null) || return 1; sha256sum "$1/checkpoints/$l/model.safetensors" | cut -d' ' -f1; }
expected=$(weights "$ref")
log "reference run: $steps steps in ${duration}s, weights $expected"

# Starts a run in the background on the prepared data (call it directly, not in $(...), so that $! is a child to wait for).
# A non-interactive shell starts background commands with SIGINT ignored, and .NET keeps an ignored SIGINT ignored:
# the run is started through a wrapper that restores the default, so that Ctrl-C (kill -INT) reaches it.
sigint_default=(python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])')
start_run() { # out [limit-KiB]
  if [ -n "${2:-}" ]; then
    # W^X off: the runtime's double-mapped code heap is a file that a limit of a few KiB would refuse at start-up.
    (ulimit -f "$2"; export DOTNET_EnableWriteXorExecute=0; exec "${sigint_default[@]}" dotnet "$dll" pretrain gpt --config "$config" --data "$data" --out "$1" --samples 0) > "$1.log" 2> "$1.err" &
  else
    "${sigint_default[@]}" dotnet "$dll" pretrain gpt --config "$config" --data "$data" --out "$1" --samples 0 > "$1.log" 2> "$1.err" &
  fi
}
rand() { python3 -c "import random; print(f'{random.uniform($1, $2):.2f}')"; }

# Checks after the fault: latest (when there is one) must verify. Echoes 1 if not.
latest_damaged() {
  [ -f "$1/checkpoints/latest" ] || { echo 0; return; }
  if ptm inspect --verify "$1" > "$1.verify" 2>&1; then echo 0; else log "damaged after the fault: $(cat "$1.verify")"; echo 1; fi
}
metrics_ok() {
  python3 - "$1/metrics.jsonl" "$steps" <<'PY'
import json, sys
steps = [json.loads(l)["step"] for l in open(sys.argv[1]) if l.strip() and '"loss":' in l]
print(1 if steps == list(range(1, int(sys.argv[2]) + 1)) else 0)
PY
}
leftovers() { find "$1" -name '.*.tmp' -o -name '.*.old' | wc -l; }

declare -A T C E X L M W K S
for s in $scenarios; do T[$s]=0; C[$s]=0; E[$s]=0; X[$s]=0; L[$s]=0; M[$s]=0; W[$s]=0; K[$s]=0; S[$s]=0; done

finish() { # scenario out : resume to the end and score
  local s=$1 out=$2
  if ptm pretrain gpt --out "$out" --resume --samples 0 > "$out.resume.log" 2> "$out.resume.err"; then
    C[$s]=$((C[$s] + 1))
    if [ "$(weights "$out")" = "$expected" ]; then E[$s]=$((E[$s] + 1)); else X[$s]=$((X[$s] + 1)); log "$s: $out: weights differ"; fi
  else
    log "$s: $out: resume failed: $(tail -1 "$out.resume.err")"
  fi
  L[$s]=$((L[$s] + $(leftovers "$out")))
  [ -f "$out/metrics.jsonl" ] && M[$s]=$((M[$s] + $(metrics_ok "$out")))
}

for s in $scenarios; do
  for i in $(seq 1 "$trials"); do
    out="$work/$s-$i"
    rm -rf "$out" "$out".*
    case $s in
      kill9|sigint-kill)
        start_run "$out"; pid=$!
        sleep "$(rand 0.5 "$duration")"
        if [ "$s" = kill9 ]; then kill -9 "$pid" 2>/dev/null
        else kill -INT "$pid" 2>/dev/null; sleep "$(rand 0 0.5)"; kill -9 "$pid" 2>/dev/null; fi
        wait "$pid" 2>/dev/null; code=$?
        [ "$s" = sigint-kill ] && [ $code -eq 130 ] && S[$s]=$((S[$s] + 1))
        [ -f "$out/run.json" ] || { log "$s $i: killed before run.json; skipped"; continue; }
        T[$s]=$((T[$s] + 1))
        # Killed inside a checkpoint write: a staged folder is there.
        ls -d "$out"/checkpoints/.step-* > /dev/null 2>&1 && W[$s]=$((W[$s] + 1))
        [ -f "$out/checkpoints/latest" ] && K[$s]=$((K[$s] + 1))
        X[$s]=$((X[$s] + $(latest_damaged "$out")))
        finish "$s" "$out"
        ;;
      fsize)
        limit=$(python3 -c "import random; print(random.randint(4, 80))")
        start_run "$out" "$limit"; pid=$!
        wait "$pid"; code=$?
        T[$s]=$((T[$s] + 1))
        if [ $code -eq 0 ]; then K[$s]=$((K[$s] + 1))
        elif [ $code -eq 1 ] && [ "$(wc -l < "$out.err")" -eq 1 ] && grep -q "EFBIG" "$out.err"; then W[$s]=$((W[$s] + 1))
        else X[$s]=$((X[$s] + 1)); log "fsize $i (limit ${limit} KiB): exit $code: $(head -c 300 "$out.err")"; fi
        X[$s]=$((X[$s] + $(latest_damaged "$out")))
        if [ -f "$out/run.json" ]; then finish "$s" "$out"; else log "fsize $i: no run.json (limit ${limit} KiB)"; fi
        ;;
      readers)
        # generate --model RUN in a loop while the run checkpoints every step (and prunes); calls made once latest
        # exists must all succeed.
        start_run "$out"; pid=$!
        calls=0; failed=0
        while kill -0 "$pid" 2>/dev/null; do
          [ -f "$out/checkpoints/latest" ] || { sleep 0.1; continue; }
          calls=$((calls + 1))
          if ! ptm generate --model "$out" --prompt "the" --max-new-tokens 4 > /dev/null 2> "$out.gen.err"; then
            failed=$((failed + 1)); log "readers $i: $(tail -1 "$out.gen.err")"
          fi
        done
        wait "$pid"
        T[$s]=$((T[$s] + 1)); K[$s]=$((K[$s] + calls)); W[$s]=$((W[$s] + failed))
        C[$s]=$((C[$s] + 1))
        [ "$(weights "$out")" = "$expected" ] && E[$s]=$((E[$s] + 1))
        L[$s]=$((L[$s] + $(leftovers "$out")))
        M[$s]=$((M[$s] + $(metrics_ok "$out")))
        ;;
      corrupt)
        cp -r "$ref" "$out"
        T[$s]=$((T[$s] + 1))
        l=$(cat "$out/checkpoints/latest")
        victim=$(find "$out/checkpoints/$l" -type f | sort | python3 -c "import random,sys; f=sys.stdin.read().split(); print(random.choice(f))")
        python3 - "$victim" <<'PY'
import os, random, sys
p = sys.argv[1]; n = os.path.getsize(p)
if n > 1 and random.random() < 0.5:
    os.truncate(p, random.randrange(n))
else:
    b = bytearray(open(p, "rb").read()); i = random.randrange(len(b)); b[i] ^= 1 << random.randrange(8); open(p, "wb").write(b)
PY
        if ptm pretrain gpt --out "$out" --resume --samples 0 > "$out.refuse.log" 2> "$out.refuse.err"; then
          X[$s]=$((X[$s] + 1)); log "corrupt $i: damage in $victim accepted"
        elif grep -q "damaged" "$out.refuse.err"; then W[$s]=$((W[$s] + 1)); fi
        ptm inspect --verify "$out" > /dev/null 2>&1 && { X[$s]=$((X[$s] + 1)); log "corrupt $i: inspect --verify passed $victim"; }
        if ptm pretrain gpt --out "$out" --resume --use-intact --samples 0 > "$out.resume.log" 2> "$out.resume.err"; then
          C[$s]=$((C[$s] + 1))
          if [ "$(weights "$out")" = "$expected" ]; then E[$s]=$((E[$s] + 1)); else X[$s]=$((X[$s] + 1)); fi
        else log "corrupt $i: --use-intact failed: $(tail -1 "$out.resume.err")"; fi
        L[$s]=$((L[$s] + $(leftovers "$out")))
        M[$s]=$((M[$s] + $(metrics_ok "$out")))
        ;;
    esac
    log "$s $i: trials ${T[$s]} clean ${C[$s]} exact ${E[$s]} corruptions ${X[$s]}"
    rm -rf "$out"/data
  done
done

{
  echo "Crash trials, $(date -u +%Y-%m-%dT%H:%MZ): $steps steps, checkpoint every step, tiny GPT (1 layer, n_embd 32, dropout 0.1);"
  echo "uninterrupted run ${duration} s; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo
  echo "| scenario | trials | clean resumes | exact resumes | corruptions | staged leftovers | metrics exact | note |"
  echo "|---|---|---|---|---|---|---|---|"
  for s in $scenarios; do
    case $s in
      kill9) note="${W[$s]} killed inside a checkpoint write, ${K[$s]} after the first checkpoint" ;;
      sigint-kill) note="${S[$s]} finished the step and saved (exit 130) before the SIGKILL, ${W[$s]} killed inside a checkpoint write, ${K[$s]} after the first checkpoint" ;;
      fsize) note="${W[$s]} stopped with a one-line EFBIG error, ${K[$s]} finished under the limit" ;;
      corrupt) note="${W[$s]} refused naming the damage" ;;
      readers) note="${K[$s]} generate calls on the live run, ${W[$s]} failed" ;;
    esac
    echo "| $s | ${T[$s]} | ${C[$s]} | ${E[$s]} | ${X[$s]} | ${L[$s]} | ${M[$s]} | $note |"
  done
} | tee ${results:+"$results"}
