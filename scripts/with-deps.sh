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
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build="$root/.build/deps"
mkdir -p "$build"

started=()
cleanup() {
  for s in "${started[@]:-}"; do
    case "$s" in
      postgres:*) su postgres -c "${s#postgres:} stop -m fast -D '$build/pg'" >/dev/null 2>&1 || true ;;
      redis:*|pid:*) kill "$(cat "${s#*:}")" 2>/dev/null || true ;;
    esac
  done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A free port P whose cluster bus port P+10000 is free too.
free_cluster_port() {
  python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randint(20000, 45000)
    if free(p) and free(p + 10000):
        print(p); break
PY
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "$* is missing and only root can install it" >&2
    exit 1
  fi
  echo "installing $*" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- PostgreSQL ------------------------------------------------------------------------
pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}
if [ -z "${CHIRP_TEST_POSTGRES_URL:-}" ]; then
  if [ -z "${CHIRP_PRIVATE_DEPS:-}" ] && command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    export CHIRP_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres
  else
    [ -n "$(pg_bin)" ] || apt_install postgresql
    bin=$(pg_bin)
    port=$(free_port)
    rm -rf "$build/pg"
    mkdir -p "$build/pg"
    chown postgres "$build/pg"
    su postgres -c "$bin/initdb -A trust -U postgres -D '$build/pg'" >/dev/null
    su postgres -c "$bin/pg_ctl -D '$build/pg' -l '$build/pg/server.log' -w -o '-p $port -k /tmp -c listen_addresses=127.0.0.1' start" >/dev/null
    started+=("postgres:$bin/pg_ctl")
    export CHIRP_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "started PostgreSQL on 127.0.0.1:$port" >&2
  fi
fi

# --- Redis -----------------------------------------------------------------------------
if [ -z "${CHIRP_TEST_REDIS_URL:-}" ]; then
  if [ -z "${CHIRP_PRIVATE_DEPS:-}" ] && command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; then
    export CHIRP_TEST_REDIS_URL=redis://127.0.0.1:6379
  else
    command -v redis-server >/dev/null || apt_install redis-server
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$build/redis.pid" --dir "$build" --logfile "$build/redis.log"
    for _ in $(seq 1 50); do
      [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
      sleep 0.1
    done
    started+=("redis:$build/redis.pid")
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
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 5000 \
      --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log"
    started+=("redis:$dir/redis.pid")
    nodes+=("127.0.0.1:$port")
    urls+=("redis://127.0.0.1:$port")
  done
  for n in "${nodes[@]}"; do
    for _ in $(seq 1 50); do
      [ "$(redis-cli -h "${n%:*}" -p "${n#*:}" ping 2>/dev/null)" = PONG ] && break
      sleep 0.1
    done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  for _ in $(seq 1 100); do
    redis-cli -p "${nodes[0]#*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
    sleep 0.1
  done
  export CHIRP_TEST_REDIS_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")
  echo "started a Redis Cluster on ${nodes[*]}" >&2
fi

# --- Python tools (a virtualenv under .build) -----------------------------------------
venv="$root/.build/venv"
pip_tool() { # MODULE PACKAGE
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c "import $1" 2>/dev/null || "$venv/bin/pip" install -q "$2"
}

# Starts `COMMAND...` in the background as NAME, to be stopped at the end, and waits until
# something listens on PORT.
start_bg() { # NAME PORT COMMAND...
  local name=$1 port=$2
  shift 2
  "$@" </dev/null >"$build/$name.log" 2>&1 &
  echo $! >"$build/$name.pid"
  started+=("pid:$build/$name.pid")
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$name did not start; see $build/$name.log" >&2
  return 1
}

# --- Elasticsearch API: osmem-server (always private) -----------------------------------
if [ -z "${CHIRP_TEST_ELASTICSEARCH_URL:-}" ]; then
  pip_tool osmem_server osmem-server
  osmem="$("$venv/bin/python" -c 'import osmem_server,os;print(os.path.dirname(osmem_server.__file__))')/bin/osmem-server"
  port=$(free_port)
  start_bg osmem "$port" "$osmem" -addr "127.0.0.1:$port" -no-stdin-watch
  export CHIRP_TEST_ELASTICSEARCH_URL="http://127.0.0.1:$port"
  echo "started osmem-server (Elasticsearch API) on 127.0.0.1:$port" >&2
fi

# --- MongoDB protocol: nx-27017 (always private, in memory) ------------------------------
if [ -z "${CHIRP_TEST_MONGODB_URL:-}" ]; then
  pip_tool nx_27017 nx-27017 2>/dev/null || "$venv/bin/pip" install -q nx-27017
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
