#!/usr/bin/env bash
# Runs every PromQL expression of Chirp's dashboards and rules against a real Prometheus
# that scrapes a running local stack, after driving traffic through it:
#   1. renders deploy/prometheus/local.yml.tmpl with the stack's service targets and the
#      absolute path of the rules, starts Prometheus on a free 127.0.0.1 port with a
#      temporary TSDB (stopped when this script exits, however it exits);
#   2. waits until every target's `up` is 1;
#   3. puts chirp-bench's short mode (`--smoke`) through the gateway: a small population
#      signs up, follows, posts and reads; a mix of home and user timelines and posts;
#      fanout; and last a tour of every public route, a wrong and a right password
#      included, late enough to stay in the dashboards' windows;
#   4. waits for a few more scrapes, writes the expressions with
#      scripts/check-observability.sh and runs each (scripts/check-prometheus-live.py).
# Every expression must be answered with status "success", and every dashboard and
# recording-rule expression must return at least one sample; alert expressions (a
# condition such as `> 0.05`) may be empty on a healthy system.
#
# Usage: scripts/check-prometheus-live.sh STACK_ENV_FILE
# where STACK_ENV_FILE is the `env` file of `scripts/stack.sh up` (GATEWAY=..., AUTH_PORT=...,
# WRITE_PORT=..., FANOUT_PORT=... (and FANOUT2_PORT=..., ...), GRAPH_PORT=...,
# TIMELINE_PORT=..., READ_PORT=..., SEARCH_PORT=..., NOTIFICATIONS_PORT=..., WEB_PORT=...,
# MASTODON_PORT=...). E.g.
#   CHIRP_STACK_DIR=$PWD/.build/stack-prom scripts/stack.sh up
#   scripts/check-prometheus-live.sh .build/stack-prom/env
#   CHIRP_STACK_DIR=$PWD/.build/stack-prom scripts/stack.sh down
# Settings: CHIRP_LIVE_VERBOSE=1 lists the alert conditions that were empty;
# CHIRP_BENCH (default target/debug/chirp-bench, built if missing).
# Exits non-zero if any expression fails.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 STACK_ENV_FILE" >&2; exit 2; }
env_file=$(realpath "$1")
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench=${CHIRP_BENCH:-$root/target/debug/chirp-bench}

# Installed where missing (make test runs this before the observability checks, which
# install the same package for promtool).
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  apt_install prometheus
fi
for tool in prometheus promtool curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt: prometheus, curl, python3)" >&2; exit 2; }
done
[ -x "$bench" ] || cargo build --bin chirp-bench

# --- the stack's addresses ---------------------------------------------------------------
gateway=$(sed -n 's/^GATEWAY=//p' "$env_file")
[ -n "$gateway" ] || { echo "$env_file has no GATEWAY=" >&2; exit 2; }
targets=()
for name in AUTH WRITE FANOUT GRAPH TIMELINE READ SEARCH NOTIFICATIONS WEB MASTODON; do
  port=$(sed -n "s/^${name}_PORT=//p" "$env_file")
  [ -n "$port" ] || { echo "$env_file has no ${name}_PORT=" >&2; exit 2; }
  targets+=("127.0.0.1:$port")
done
# More fanout and notification processes, when the stack runs them (CHIRP_STACK_FANOUTS,
# CHIRP_STACK_NOTIFICATIONS).
while read -r port; do
  targets+=("127.0.0.1:$port")
done < <(sed -n 's/^\(FANOUT\|NOTIFICATIONS\)[0-9][0-9]*_PORT=//p' "$env_file")
# The pages chirp-bench reads to know when the consumers have caught up: every fanout
# process's, SearchService's, NotificationService's, and those of the services whose
# outboxes feed the log (UserGraphService, WriteService, AuthService).
metrics=()
while read -r port; do
  metrics+=(--metrics-url "http://127.0.0.1:$port/metrics")
done < <(sed -n 's/^\(FANOUT[0-9]*\|SEARCH\|NOTIFICATIONS[0-9]*\|GRAPH\|WRITE\|AUTH\)_PORT=//p' "$env_file")

# --- Prometheus ----------------------------------------------------------------------------
work=$(mktemp -d)
prom_pgid=""
child="" # chirp-bench or a sleep, run in the background so that a signal stops it at once
cleanup() {
  if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; fi
  [ -z "$prom_pgid" ] || stop_group "$prom_pgid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tmpl="$root/deploy/prometheus/local.yml.tmpl"
for marker in @TARGETS@ @RULES@; do
  grep -q "$marker" "$tmpl" || { echo "$tmpl: no $marker" >&2; exit 1; }
done
target_list=$(printf '"%s", ' "${targets[@]}")
sed -e "s|@TARGETS@|[${target_list%, }]|" -e "s|@RULES@|$root/deploy/prometheus/rules/chirp.rules.yml|" \
  "$tmpl" >"$work/prometheus.yml"
promtool check config "$work/prometheus.yml" >"$work/promtool.log" 2>&1 \
  || { echo "the rendered configuration does not check:" >&2; cat "$work/promtool.log" >&2; exit 1; }
scrape=$(sed -n 's/^ *scrape_interval: *\([0-9]*\)s *$/\1/p' "$work/prometheus.yml" | head -1)
scrape=${scrape:-5}

prom_port=$(free_port)
prom="http://127.0.0.1:$prom_port"
spawn_group "$work/prometheus.pid" "$work/prometheus.log" prometheus --config.file="$work/prometheus.yml" \
  --storage.tsdb.path="$work/tsdb" --web.listen-address="127.0.0.1:$prom_port" --log.level=warn
prom_pgid=$(cat "$work/prometheus.pid")
echo "prometheus (pid $prom_pgid) on $prom, scraping ${#targets[@]} targets every ${scrape}s"
ready=""
for _ in $(seq 1 100); do
  group_alive "$prom_pgid" || break
  if curl -fsS --max-time 1 "$prom/-/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { echo "prometheus did not start:" >&2; tail -20 "$work/prometheus.log" >&2; exit 1; }
python3 scripts/check-prometheus-live.py up "$prom" "${#targets[@]}" $((scrape * 12))

# --- traffic -----------------------------------------------------------------------------
echo "chirp-bench --smoke through $gateway (log: $work/bench.log while it runs)"
started=$SECONDS
# Its error, not the error's backtrace, is what a failure shows.
RUST_LIB_BACKTRACE=0 "$bench" --smoke --target "$gateway" "${metrics[@]}" --out "$work/bench" \
  >"$work/bench.log" 2>&1 &
child=$!
if ! wait "$child"; then
  echo "chirp-bench --smoke failed:" >&2
  tail -40 "$work/bench.log" >&2
  exit 1
fi
echo "  done in $((SECONDS - started)) s; $(grep '^tour:' "$work/bench.log" || echo 'no tour line')"

# A few more scrapes, and a rule evaluation over them.
sleep $((scrape * 3)) &
child=$!
wait "$child"
child=""

# --- the expressions ---------------------------------------------------------------------
if ! scripts/check-observability.sh "$work/expressions.txt" "$work/expressions.origins" >"$work/check.log" 2>&1; then
  echo "scripts/check-observability.sh failed:" >&2
  cat "$work/check.log" >&2
  exit 1
fi
verbose=()
[ -z "${CHIRP_LIVE_VERBOSE:-}" ] || verbose=(--verbose)
python3 scripts/check-prometheus-live.py run "$prom" "$work/expressions.txt" "$work/expressions.origins" \
  "${verbose[@]}"
