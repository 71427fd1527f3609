#!/usr/bin/env bash
# The benchmark through NGINX in front of the local stack (scripts/stack.sh): the eight
# services as separate release-built processes on PostgreSQL, MongoDB, Redis, Kafka and
# Elasticsearch, with the benchmark's settings (scripts/bench-stack-up.sh). Report in
# target/bench-stack. Extra arguments go to chirp-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-stack-up.sh
. scripts/bench-stack-up.sh
target/release/chirp-bench --target "$GATEWAY" "${metrics[@]}" \
  --redis-url "redis://127.0.0.1:$REDIS_PORT" --out target/bench-stack "$@"
