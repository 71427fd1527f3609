#!/usr/bin/env bash
# The black-box API suite a second time, against the local stack through NGINX: brings a
# stack up, runs every test of crates/chirp/tests/api but those of `mod inside` (they
# need a setting of their own or a look inside the process), and takes the stack down.
# The tests share the stack, so they run one at a time: the rejected-input tests compare
# the stack's row counts before and after. Then the services' logs (ECS JSON here) must
# hold a line per request and no password, token or email address (scripts/check-logs.py),
# and a live Prometheus must answer every dashboard and rule (check-prometheus-live.sh).
# Between the two, a short schemathesis run through the gateway (scripts/schemathesis.sh),
# the web client's browser test through it (scripts/web-test.sh), and the Mastodon API's
# client-library test through its origin (scripts/mastodon-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CHIRP_STACK_DIR=${CHIRP_STACK_DIR:-$PWD/.build/stack-suite}
export CHIRP_LOG_FORMAT=json
trap 'scripts/stack.sh down >/dev/null' EXIT
scripts/stack.sh up
CHIRP_TEST_STACK="$CHIRP_STACK_DIR/env" cargo test -p chirp --test api -- --skip ::inside:: --test-threads=1
# schemathesis through the gateway: a short run (the long one is on `chirp all`).
scripts/schemathesis.sh "$(sed -n 's/^GATEWAY=//p' "$CHIRP_STACK_DIR/env")"
# The web client's browser test through the gateway (chirp web behind NGINX).
scripts/web-test.sh target/web-test-stack "$(sed -n 's/^GATEWAY=//p' "$CHIRP_STACK_DIR/env")"
# The Mastodon API through its origin (chirp mastodon behind NGINX, calling the gateway).
scripts/mastodon-test.sh "$(sed -n 's/^MASTODON_GATEWAY=//p' "$CHIRP_STACK_DIR/env")" \
  "$(sed -n 's/^GATEWAY=//p' "$CHIRP_STACK_DIR/env")"
python3 scripts/check-logs.py "$CHIRP_STACK_DIR"/{auth,write,fanout,graph,timeline,read,search,notifications,web,mastodon}.log
# A real Prometheus scrapes the stack under a short load: every expression of every
# dashboard and rule must run, and return data where a healthy system has some.
scripts/check-prometheus-live.sh "$CHIRP_STACK_DIR/env"
