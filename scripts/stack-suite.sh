#!/usr/bin/env bash
# The black-box API suite a second time, against the local stack through NGINX: brings a
# stack up, runs every test of crates/chirp/tests/api but those of `mod inside` (they
# need a setting of their own or a look inside the process), and takes the stack down.
# The tests share the stack, so they run one at a time: the rejected-input tests compare
# the stack's row counts before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
export CHIRP_STACK_DIR=${CHIRP_STACK_DIR:-$PWD/.build/stack-suite}
trap 'scripts/stack.sh down >/dev/null' EXIT
scripts/stack.sh up
CHIRP_TEST_STACK="$CHIRP_STACK_DIR/env" cargo test -p chirp --test api -- --skip ::inside:: --test-threads=1
