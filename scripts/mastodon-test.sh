#!/usr/bin/env bash
# The Mastodon client API's tests: scripts/mastodon-test.py, which drives it with a real
# client library, Mastodon.py (PyPI, pinned, in .build/venv): OAuth (authorization code
# through the sign-in page, out of band, PKCE, refresh, scopes, revocation), accounts,
# statuses, the graph, timelines, search, pagination, notifications, the user's live
# stream and Mastodon's errors.
#
# Usage: scripts/mastodon-test.sh [MASTODON_BASE CHIRP_BASE]
#   Without arguments: against a fresh `chirp all` of its own (target/debug/chirp), its
#   Mastodon API on a listener of its own, stopped after, pass or fail. With them (a local
#   stack's Mastodon origin and gateway): against those.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

usage="usage: scripts/mastodon-test.sh [MASTODON_BASE CHIRP_BASE]"
case $# in
  0 | 2) ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
# Pinned: the version whose API the test was written against.
venv_module mastodon "Mastodon.py[websocket-streaming]==2.3.3"

work=$(mktemp -d)
cleanup() {
  [ ! -f "$work/chirp.pid" ] || stop_group "$(cat "$work/chirp.pid")"
  rm -rf "$work"
}
trap cleanup EXIT

if [ $# -eq 2 ]; then
  mastodon=${1%/}
  chirp=${2%/}
else
  [ -x target/debug/chirp ] || { echo "target/debug/chirp is missing: cargo build first" >&2; exit 1; }
  port=$(free_port)
  mport=$(free_port)
  chirp="http://127.0.0.1:$port"
  mastodon="http://127.0.0.1:$mport"
  # Three accounts from one address in a few seconds: more than a person makes (5 in 30
  # minutes by default), so that limit is off here; the others stay as shipped.
  spawn_group "$work/chirp.pid" "$work/chirp.log" target/debug/chirp all \
    --listen "127.0.0.1:$port" --mastodon-listen "127.0.0.1:$mport" --data-dir "$work/data" \
    --insecure-fast-hashing --signup-limit-per-address off
  if ! wait_ready "$chirp" 30 || ! wait_port "$mport" 10; then
    cat "$work/chirp.log" >&2
    echo "chirp all did not become ready" >&2
    exit 1
  fi
fi

if ! "$venv/bin/python" scripts/mastodon-test.py "$mastodon" "$chirp"; then
  [ ! -f "$work/chirp.log" ] || tail -30 "$work/chirp.log" >&2
  exit 1
fi
