#!/usr/bin/env bash
# The local stack, for machines without Docker: `scripts/stack.sh up` starts every
# dependency on loopback ports (PostgreSQL and Redis as private servers, MongoDB protocol
# via nx-27017, Kafka protocol via tansu (in memory: tansu 0.6's PostgreSQL storage wants
# a schema it does not create), the Elasticsearch API via
# osmem-server), the seven services as separate `chirp` processes, and NGINX in front
# with deploy/nginx/chirp-routes.conf; it prints the gateway's URL. `scripts/stack.sh
# down` stops all of it. State and logs live in .build/stack.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="$root/.build/stack"
binary=${CHIRP_BINARY:-$root/target/debug/chirp}
venv="$root/.build/venv"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }
bg() { # NAME COMMAND...: runs in the background, pid in $state/NAME.pid, log in $state/NAME.log
  local name=$1; shift
  "$@" </dev/null >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

down() {
  [ -d "$state" ] || return 0
  [ -f "$state/nginx/nginx.pid" ] && kill "$(cat "$state/nginx/nginx.pid")" 2>/dev/null || true
  for f in "$state"/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  [ -f "$state/redis.pidfile" ] && kill "$(cat "$state/redis.pidfile")" 2>/dev/null || true
  if [ -d "$state/pg" ]; then
    su postgres -c "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl stop -m fast -D '$state/pg'" >/dev/null 2>&1 || true
  fi
  sleep 0.5
  rm -rf "$state"
  echo "stack stopped"
}

up() {
  down >/dev/null
  mkdir -p "$state"
  [ -x "$binary" ] || cargo build --bin chirp
  # Tools, as `make test` installs them.
  command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null)
  command -v nginx >/dev/null || (apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null)
  [ -n "$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null)" ] || (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null)
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c 'import osmem_server' 2>/dev/null || "$venv/bin/pip" install -q osmem-server
  [ -x "$venv/bin/nx-27017" ] || "$venv/bin/pip" install -q nx-27017
  tansu=$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")
  [ -x "$tansu" ] || cargo install tansu@0.6.0 --locked --features dynostore,postgres

  # PostgreSQL: a private cluster.
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg=$(free_port)
  mkdir -p "$state/pg" && chown postgres "$state/pg"
  su postgres -c "$pgbin/initdb -A trust -U postgres -D '$state/pg'" >/dev/null
  su postgres -c "$pgbin/pg_ctl -D '$state/pg' -l '$state/pg/server.log' -w -o '-p $pg -k /tmp -c listen_addresses=127.0.0.1' start" >/dev/null
  psql -q -h 127.0.0.1 -p "$pg" -U postgres -c 'CREATE DATABASE chirp'
  # Redis
  redis=$(free_port)
  redis-server --port "$redis" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$state/redis.pidfile" --dir "$state" --logfile "$state/redis.log"
  # MongoDB protocol, Elasticsearch API, Kafka protocol
  mongo=$(free_port); bg mongo "$venv/bin/nx-27017" --db memory --host 127.0.0.1 -p "$mongo"
  es=$(free_port)
  osmem="$("$venv/bin/python" -c 'import osmem_server,os;print(os.path.dirname(osmem_server.__file__))')/bin/osmem-server"
  bg elasticsearch "$osmem" -addr "127.0.0.1:$es" -no-stdin-watch
  kafka=$(free_port)
  bg kafka "$tansu" broker --listener-url "tcp://127.0.0.1:$kafka" --advertised-listener-url "tcp://127.0.0.1:$kafka" \
    --storage-engine memory://tansu/
  for p in "$redis" "$mongo" "$es" "$kafka"; do wait_port "$p"; done

  # The seven services.
  declare -A port
  for s in auth write fanout graph timeline read search; do port[$s]=$(free_port); done
  export DATABASE_URL="postgres://postgres@127.0.0.1:$pg/chirp"
  export MONGODB_URL="mongodb://127.0.0.1:$mongo/chirp"
  export REDIS_URL="redis://127.0.0.1:$redis"
  export KAFKA_BROKERS="127.0.0.1:$kafka"
  export ELASTICSEARCH_URL="http://127.0.0.1:$es"
  export CHIRP_AUTH_URL="http://127.0.0.1:${port[auth]}"
  export CHIRP_READ_URL="http://127.0.0.1:${port[read]}"
  export CHIRP_GRAPH_URL="http://127.0.0.1:${port[graph]}"
  export CHIRP_TIMELINE_URL="http://127.0.0.1:${port[timeline]}"
  export CHIRP_TRUST_FORWARDED_FOR=true
  worker=1
  for s in auth write fanout graph timeline read search; do
    mkdir -p "$state/data-$s"
    CHIRP_WORKER_ID=$worker bg "$s" "$binary" "$s" --listen "127.0.0.1:${port[$s]}" --data-dir "$state/data-$s" \
      ${CHIRP_STACK_EXTRA_ARGS:-}
    worker=$((worker + 1))
  done

  # NGINX with the shared routes file.
  gw=${CHIRP_STACK_PORT:-$(free_port)}
  mkdir -p "$state/nginx/logs" "$state/nginx/tmp"
  cat >"$state/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $state/nginx/nginx.pid;
error_log $state/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $state/nginx/logs/access.log;
    client_body_temp_path $state/nginx/tmp;
    proxy_temp_path $state/nginx/tmp;
    fastcgi_temp_path $state/nginx/tmp;
    uwsgi_temp_path $state/nginx/tmp;
    scgi_temp_path $state/nginx/tmp;
    limit_req_zone \$binary_remote_addr zone=chirp_api:10m rate=1000r/s;
    upstream chirp_auth   { server 127.0.0.1:${port[auth]}; keepalive 16; }
    upstream chirp_write  { server 127.0.0.1:${port[write]}; keepalive 16; }
    upstream chirp_graph  { server 127.0.0.1:${port[graph]}; keepalive 16; }
    upstream chirp_read   { server 127.0.0.1:${port[read]}; keepalive 16; }
    upstream chirp_search { server 127.0.0.1:${port[search]}; keepalive 16; }
    server {
        listen 127.0.0.1:$gw;
        include $root/deploy/nginx/chirp-routes.conf;
    }
}
CONF
  nginx -p "$state/nginx" -c "$state/nginx/nginx.conf"

  # Ready when every service is.
  for s in auth write fanout graph timeline read search; do
    for _ in $(seq 1 300); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port[$s]}/readyz")" = 200 ] && break
      sleep 0.1
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port[$s]}/readyz")" = 200 ] \
      || { echo "$s is not ready; see $state/$s.log" >&2; exit 1; }
  done
  {
    echo "GATEWAY=http://127.0.0.1:$gw"
    for s in auth write fanout graph timeline read search; do echo "${s^^}=http://127.0.0.1:${port[$s]}"; done
    echo "REDIS_PORT=$redis"
    echo "KAFKA_PORT=$kafka"
    echo "POSTGRES_PORT=$pg"
  } >"$state/env"
  echo "stack up: gateway on http://127.0.0.1:$gw (addresses in $state/env)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
