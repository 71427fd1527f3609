#!/usr/bin/env bash
# Runs a command with the real dependencies the tests need, and stops what it started.
#
#   scripts/with-deps.sh COMMAND...
#
# PostgreSQL: the server on 127.0.0.1:5432 if one answers; else a private cluster on a
# free port under .build/ (installed with apt-get if missing). Redis likewise on 6379.
# A three-node Redis Cluster is always started privately. The command sees
# CHIRP_TEST_POSTGRES_URL, CHIRP_TEST_REDIS_URL and CHIRP_TEST_REDIS_CLUSTER_URLS. An
# Elasticsearch-API server (osmem-server, from PyPI into .build/venv) is always private:
# CHIRP_TEST_ELASTICSEARCH_URL. Under CI (CI=true) a
# dependency that does not start is an error; so it is everywhere else too. Set
# CHIRP_PRIVATE_DEPS=1 to start private servers even when shared ones answer.
#
# Every process of the run inherits CHIRP_TEST_RUN, an id of this run's own, and an open
# file of the run's (.build/deps/run-ID). When the command ends, pass or fail, the
# servers started here are stopped (each is a process group: SIGTERM, then SIGKILL after
# 10 s), and then any other process that carries the id or holds the file is named and
# killed (scripts/leftovers.py): the run fails, as a test that leaves a process behind
# has failed to clean up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
build="$root/.build/deps"
mkdir -p "$build"

# A fresh id even inside another run: that run's servers are not this one's leftovers.
CHIRP_TEST_RUN="$$-$(date +%s%N)"
export CHIRP_TEST_RUN
# Some servers write their process title over their environment, and the id with it;
# an open file they inherit stays.
run_file="$build/run-$CHIRP_TEST_RUN"
exec {run_fd}>"$run_file"

groups=() # pid files of the process groups started here
pg_dir=""
finish() {
  local status=$?
  for f in "${groups[@]:-}"; do
    if [ -n "$f" ] && [ -f "$f" ]; then stop_group "$(cat "$f")" || true; fi
  done
  [ -z "$pg_dir" ] || pg_stop "$pg_dir" || true
  if ! python3 scripts/leftovers.py "CHIRP_TEST_RUN=$CHIRP_TEST_RUN" "$run_file"; then
    [ "$status" -ne 0 ] || status=1
  fi
  exec {run_fd}>&-
  rm -f "$run_file"
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts `COMMAND...` in a process group of its own as NAME, to be stopped at the end,
# and waits until something listens on PORT.
start_bg() { # NAME PORT COMMAND...
  local name=$1 port=$2
  shift 2
  : >"$build/$name.log"
  spawn_group "$build/$name.pid" "$build/$name.log" "$@"
  groups+=("$build/$name.pid")
  wait_port "$port" || { echo "$name did not start; see $build/$name.log" >&2; return 1; }
}

# --- PostgreSQL ------------------------------------------------------------------------
if [ -z "${CHIRP_TEST_POSTGRES_URL:-}" ]; then
  if [ -z "${CHIRP_PRIVATE_DEPS:-}" ] && command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    export CHIRP_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres
  else
    port=$(free_port)
    pg_dir="$build/pg"
    pg_start "$pg_dir" "$port"
    export CHIRP_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "started PostgreSQL on 127.0.0.1:$port" >&2
  fi
fi

# --- Redis -----------------------------------------------------------------------------
command -v redis-server >/dev/null || apt_install redis-server
if [ -z "${CHIRP_TEST_REDIS_URL:-}" ]; then
  if [ -z "${CHIRP_PRIVATE_DEPS:-}" ] && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; then
    export CHIRP_TEST_REDIS_URL=redis://127.0.0.1:6379
  else
    port=$(free_port)
    start_bg redis "$port" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$build"
    export CHIRP_TEST_REDIS_URL="redis://127.0.0.1:$port"
    echo "started Redis on 127.0.0.1:$port" >&2
  fi
fi

# --- Redis Cluster (always private: three primaries) ---------------------------------
if [ -z "${CHIRP_TEST_REDIS_CLUSTER_URLS:-}" ]; then
  mkdir -p "$build/cluster"
  urls=()
  nodes=()
  for i in 1 2 3; do
    port=$(free_cluster_port)
    dir="$build/cluster/$port"
    mkdir -p "$dir"
    start_bg "cluster-$i" "$port" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 5000 \
      --zset-max-listpack-entries 1024 \
      --dir "$dir"
    nodes+=("127.0.0.1:$port")
    urls+=("redis://127.0.0.1:$port")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  for _ in $(seq 1 100); do
    redis-cli -p "${nodes[0]#*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
    sleep 0.1
  done
  CHIRP_TEST_REDIS_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")
  export CHIRP_TEST_REDIS_CLUSTER_URLS
  echo "started a Redis Cluster on ${nodes[*]}" >&2
fi

# --- Elasticsearch API: osmem-server (always private) -----------------------------------
if [ -z "${CHIRP_TEST_ELASTICSEARCH_URL:-}" ]; then
  venv_module osmem_server osmem-server
  port=$(free_port)
  start_bg osmem "$port" "$(venv_module_dir osmem_server)/bin/osmem-server" -addr "127.0.0.1:$port" \
    -no-stdin-watch
  export CHIRP_TEST_ELASTICSEARCH_URL="http://127.0.0.1:$port"
  echo "started osmem-server (Elasticsearch API) on 127.0.0.1:$port" >&2
fi

# --- MongoDB protocol: nx-27017 (always private, in memory) ------------------------------
if [ -z "${CHIRP_TEST_MONGODB_URL:-}" ]; then
  venv_program nx-27017 nx-27017
  port=$(free_port)
  # nx-27017 keeps a pid file and a log of its own (/tmp by default, where a second
  # server would find the first's and refuse to start).
  start_bg mongo "$port" "$venv/bin/nx-27017" --db memory --host 127.0.0.1 -p "$port" \
    --pid-file "$build/nx-27017.pid" --log-file "$build/nx-27017.log"
  export CHIRP_TEST_MONGODB_URL="mongodb://127.0.0.1:$port"
  echo "started nx-27017 (MongoDB protocol) on 127.0.0.1:$port" >&2
fi

# --- Kafka protocol: tansu (always private, in memory) -----------------------------------
if [ -z "${CHIRP_TEST_KAFKA_BROKERS:-}" ]; then
  tansu=$(scripts/install-tansu.sh)
  port=$(free_port)
  start_bg tansu "$port" "$tansu" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/
  export CHIRP_TEST_KAFKA_BROKERS="127.0.0.1:$port"
  echo "started tansu (Kafka protocol) on 127.0.0.1:$port" >&2
fi

"$@"
