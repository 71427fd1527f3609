#!/usr/bin/env bash
# Runs the curl walk-through of README.md, as written, against a fresh `chirp all`.
#
# The walk-through is the fenced block between the markers `<!-- walkthrough:start -->`
# and `<!-- walkthrough:end -->`. Its first line sets API to http://127.0.0.1:8080/api/v1;
# only that line is changed here, to a free port, so that the check cannot collide with
# anything already on 8080. Every curl in it uses -f, so an HTTP error fails the run.
set -euo pipefail

binary=${1:-target/debug/chirp}
cd "$(dirname "$0")/.."
. scripts/lib.sh

for tool in curl jq; do
  command -v "$tool" >/dev/null || apt_install "$tool"
done

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
"$binary" all --listen "127.0.0.1:$port" --mastodon-listen off --data-dir "$work/data" --insecure-fast-hashing \
  >"$work/chirp.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on' README.md \
  | sed -e '/^```/d' >"$work/walkthrough.sh"
grep -q '^API=http://127.0.0.1:8080/api/v1$' "$work/walkthrough.sh" \
  || { echo "the walk-through must start by setting API" >&2; exit 1; }
sed -i "s|^API=http://127.0.0.1:8080/api/v1$|API=http://127.0.0.1:$port/api/v1|" "$work/walkthrough.sh"

if ! (cd "$work" && bash -euo pipefail walkthrough.sh) >"$work/out.txt" 2>&1; then
  echo "README walk-through failed:" >&2
  cat "$work/out.txt" >&2
  echo "--- chirp log ---" >&2
  tail -50 "$work/chirp.log" >&2
  exit 1
fi
# The walk-through ends by searching for the post it made.
if ! jq -s -e 'last | .items[0].text == "Hello, Chirp! #firstpost"' "$work/out.txt" >/dev/null; then
  echo "README walk-through did not end with the post found by search:" >&2
  cat "$work/out.txt" >&2
  exit 1
fi
echo "README walk-through: 1 passed, 0 failed"
