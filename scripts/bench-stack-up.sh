# Sourced by bench-stack.sh and profile-stack.sh: the local stack (scripts/stack.sh) up
# with the benchmark's settings (the celebrity threshold, day-long access tokens, fast
# password hashing for the population, NGINX's per-client limit and the services' limits
# off: the benchmark is one client), taken down when the sourcing script exits; its
# addresses exported (GATEWAY, REDIS_PORT, ...), and in `metrics` the --metrics-url
# arguments of every process that consumes the event log or writes events to it:
# FanoutService's (its delivery counter; each fanout process's, when there are more),
# SearchService's, NotificationService's, UserGraphService's, WriteService's and
# AuthService's. The benchmark's waits last until all of them report no consumer lag and
# no outbox backlog (events written but not yet in the log).
# shellcheck shell=bash
export CHIRP_STACK_DIR=${CHIRP_STACK_DIR:-$PWD/.build/bench-stack}
export CHIRP_BINARY=${CHIRP_BINARY:-$PWD/target/release/chirp}
# No per-client rate limit: a limit of 1,000,000 requests/s still answered 429s (10,600
# at 18,190 requests/s), since NGINX counts a burst of requests read within one
# millisecond against the burst of 200 however high the rate.
export CHIRP_STACK_RATE=off
# Nor any limit of the services': per address (stack.sh's default) nor per account or user.
export CHIRP_STACK_EXTRA_ARGS="--celebrity-threshold 2000 --access-token-ttl-secs 86400 --insecure-fast-hashing \
  --login-limit-per-account off --write-limit-per-user off"
export RUST_LOG=${RUST_LOG:-warn}
trap 'scripts/stack.sh down >/dev/null' EXIT
scripts/stack.sh up
# shellcheck disable=SC1090 # written by stack.sh up
. <(sed 's/^/export /' "$CHIRP_STACK_DIR/env")
metrics=()
while IFS='=' read -r name url; do
  if [[ $name =~ ^(FANOUT[0-9]*|SEARCH|NOTIFICATIONS[0-9]*|GRAPH|WRITE|AUTH)$ ]]; then metrics+=(--metrics-url "$url/metrics"); fi
done <"$CHIRP_STACK_DIR/env"
