#!/usr/bin/env bash
# What a request costs the local stack, process by process: a stack with the benchmark's
# settings (as scripts/bench-stack.sh), a population, one step of the mix at a fixed rate,
# and over the step the CPU time of every process and the calls every service made and
# served, per request (scripts/profile_stack.py); with PERF=1, a system-wide `perf record`
# of 10 s of the step beside it. Report in target/profile-stack.
#   scripts/profile-stack.sh [RATE [USERS]]     (default 150 requests/s, 2,000 users)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-150}
users=${2:-2000}
out=${CHIRP_PROFILE_OUT:-$PWD/target/profile-stack}
rm -rf "$out"
mkdir -p "$out"
export CHIRP_STACK_DIR=${CHIRP_STACK_DIR:-$PWD/.build/profile-stack}
bench=${CHIRP_BENCH_BINARY:-$PWD/target/release/chirp-bench}
# shellcheck source=scripts/bench-stack-up.sh
. scripts/bench-stack-up.sh
"$bench" --target "$GATEWAY" "${metrics[@]}" --redis-url "redis://127.0.0.1:$REDIS_PORT" --out "$out" \
  --users "$users" --rate "$rate" --step-secs 20 >"$out/step.json" 2>"$out/bench.log" &
load=$!
# The step starts once the population's events are handled.
while kill -0 "$load" 2>/dev/null && ! grep -q "consumers caught up" "$out/bench.log"; do sleep 0.2; done
python3 scripts/profile_stack.py snap "$CHIRP_STACK_DIR" "$out/before.json"
if [ "${PERF:-0}" = 1 ]; then
  (sleep 4 && perf record -F 299 -a -g -o "$out/perf.data" -- sleep 10 >"$out/perf.log" 2>&1) &
fi
wait "$load"
python3 scripts/profile_stack.py snap "$CHIRP_STACK_DIR" "$out/after.json"
requests=$(python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(sum(o['ok'] + o['errors'] for o in d['ops'].values()))" "$out/step.json")
python3 scripts/profile_stack.py diff "$out/before.json" "$out/after.json" "$requests" | tee "$out/profile.txt"
echo "report: $out/profile.txt, $out/step.json"
