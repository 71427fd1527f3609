#!/usr/bin/env bash
# Fuzzes the API from its OpenAPI document with schemathesis (PyPI): every check, every
# phase (examples, coverage, fuzzing, stateful: chains of calls along the document's
# links), with a token this script mints first. Any failure fails the run.
#
# Usage: scripts/schemathesis.sh [BASE_URL]
#   Without BASE_URL: against a fresh `chirp all` of its own (target/debug/chirp, its
#   limits off, since the fuzzer is one client far faster than a person), stopped after.
#   With BASE_URL (a local stack's gateway): a short run, without the operations the
#   gateway does not route (/readyz, /metrics), nor the check of undeclared methods (see
#   below).
# Settings: CHIRP_FUZZ_EXAMPLES (examples per operation and phase; default 100, 15 with
# BASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
venv_program schemathesis schemathesis==4.32.5
venv_program openapi-spec-validator openapi-spec-validator==0.8.4

"$venv/bin/openapi-spec-validator" docs/openapi.json

work=$(mktemp -d)
cleanup() {
  [ ! -f "$work/chirp.pid" ] || stop_group "$(cat "$work/chirp.pid")"
  rm -rf "$work"
}
trap cleanup EXIT

extra=()
if [ $# -ge 1 ]; then
  base=${1%/}
  examples=${CHIRP_FUZZ_EXAMPLES:-15}
  # NGINX answers a TRACE itself, before any location or error page applies, with a 405
  # that has no Allow header (RFC 9110 wants one); nothing in its configuration changes
  # that. The check of undeclared methods runs on `chirp all` (the run without BASE_URL),
  # whose 405s list the route's methods.
  extra=(--exclude-operation-id readyz --exclude-operation-id metrics --exclude-checks unsupported_method)
else
  examples=${CHIRP_FUZZ_EXAMPLES:-100}
  port=$(free_port)
  base="http://127.0.0.1:$port"
  limits=()
  for limit in login-limit-per-account login-limit-per-address signup-limit-per-address \
    request-limit-per-address write-limit-per-user write-limit-per-address; do
    limits+=("--$limit" off)
  done
  spawn_group "$work/chirp.pid" "$work/chirp.log" target/debug/chirp all \
    --listen "127.0.0.1:$port" --mastodon-listen off --data-dir "$work/data" --insecure-fast-hashing "${limits[@]}"
  wait_ready "$base" 30 || true
fi

# The token the fuzzer's requests carry: a user of its own.
handle="fuzz_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
token=$(curl -fsS -X POST "$base/api/v1/auth/signup" -H 'content-type: application/json' \
  -d "{\"handle\":\"$handle\",\"email\":\"$handle@example.com\",\"password\":\"long enough password\"}" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# One worker: with two, hypothesis's description of a strategy (which parses source with
# `ast`) ran on two threads at once and Debian's Python 3.11 failed now and then with
# "AST constructor recursion depth mismatch" (CPython gh-106905: the AST constructor's
# depth counter is shared by threads); 2 runs of 8 failed so, 0 of 8 with one worker.
cd "$work"
status=0
# The live stream (`streaming`) answers a body that does not end while the client stays:
# a fuzzer waiting for its end would wait for ever. A real SSE client tests it
# (crates/chirp/tests/api/streaming.rs), every error status included.
"$venv/bin/schemathesis" --config-file "$root/scripts/schemathesis.toml" run "$base/api/v1/openapi.json" \
  --max-examples "$examples" --workers 1 --seed 1 --exclude-operation-id streaming \
  -H "Authorization: Bearer $token" "${extra[@]}" >"$work/run.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  cat "$work/run.log"
  echo "schemathesis failed (exit $status) against $base" >&2
  exit 1
fi
# What was tried: operations, phases, test cases, and the warnings.
sed -n '/^=* *WARNINGS/,$p' "$work/run.log"
echo "schemathesis: $(grep -oE 'Tested: [0-9]+' run.log | tail -1) operations, $(grep -oE '[0-9]+ generated, [0-9]+ passed' run.log | tail -1) test cases, against $base"
