#!/usr/bin/env bash
# The local stack, for machines without Docker. `scripts/stack.sh up` starts every
# dependency on loopback ports (PostgreSQL and Redis as private servers, MongoDB protocol
# via nx-27017, Kafka protocol via tansu keeping its log in an S3 bucket of moto's S3
# server, the
# Elasticsearch API via osmem-server), the eight services, the web client and the
# Mastodon API as separate `chirp` processes, and NGINX in front with
# deploy/nginx/chirp-routes.conf (the gateway) and deploy/nginx/mastodon-routes.conf (the
# Mastodon API's origin, on a port of its own); it prints both URLs.
# `scripts/stack.sh down` stops all of it. Each part runs in a process group of its own,
# and stopping a part stops its whole group: SIGTERM, then (for `down`) SIGKILL for what
# is left after 10 s; the services go first, while what they depend on still answers.
#
# One part at a time, for fault tests and for poking at it by hand:
#   scripts/stack.sh stop NAME    SIGTERM to its group, and wait until it is gone
#   scripts/stack.sh kill NAME    SIGKILL to its group
#   scripts/stack.sh start NAME   start it again, as it was started (same port)
# where NAME is a service (auth, write, fanout, fanout2, ..., graph, timeline, read,
# search, notifications, notifications2, ..., web, mastodon) or redis, kafka, s3, mongo,
# elasticsearch, otlp.
#
# Settings: CHIRP_STACK_DIR (state and logs; default .build/stack), CHIRP_STACK_PORT (the
# gateway's port), CHIRP_STACK_MASTODON_PORT (the Mastodon API's origin's port),
# CHIRP_STACK_FANOUTS (fanout processes in one consumer group; default
# 1), CHIRP_STACK_NOTIFICATIONS (NotificationService processes, behind one upstream;
# default 1), CHIRP_BINARY (default target/debug/chirp), CHIRP_STACK_EXTRA_ARGS (for every
# service), CHIRP_STACK_TRACES=1 (start an OTLP collector, rotel, as part `otlp`, and
# send every service's traces to it; the spans it receives are written, in rotel's
# detailed debug format, to $CHIRP_STACK_DIR/otlp.log), CHIRP_STACK_RATE (NGINX's
# per-client rate limit; default 1000r/s; `off` for none), CHIRP_STACK_ADDRESS_LIMITS (the
# services' limits per client address, such as `100/1m`; default `off`, since every
# client of a local stack is 127.0.0.1), CHIRP_STACK_KAFKA_LOG (`s3`, the default: the
# broker's log in moto's S3 server, kept across the broker's restart; `memory`: in the
# broker's memory).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
state=${CHIRP_STACK_DIR:-$root/.build/stack}
binary=${CHIRP_BINARY:-$root/target/debug/chirp}
# The parts that others depend on: `down` stops them last.
dependencies="redis kafka s3 mongo elasticsearch otlp"

# A part of the stack is a command line in $state/NAME.cmd, so that `start` can start it
# again; it runs in the background, in a process group of its own whose id is in
# NAME.pid, with its log in NAME.log.
define() { # NAME COMMAND...
  local name=$1; shift
  printf 'exec' >"$state/$name.cmd"
  printf ' %q' "$@" >>"$state/$name.cmd"
  echo >>"$state/$name.cmd"
}
launch() { # NAME
  spawn_group "$state/$1.pid" "$state/$1.log" bash "$state/$1.cmd"
}
alive() { [ -f "$state/$1.pid" ] && group_alive "$(cat "$state/$1.pid")"; }
signal() { # SIGNAL NAME: sends it to the part's group, and waits until the group is gone
  alive "$2" || { echo "$2 is not running" >&2; return 1; }
  local pgid; pgid=$(cat "$state/$2.pid")
  signal_group "$1" "$pgid" 10 || { echo "$2 (process group $pgid) did not stop" >&2; return 1; }
  rm -f "$state/$2.pid"
}
port_of() { sed -n "s/^${1^^}_PORT=//p" "$state/env"; }

# Stops the process groups whose ids are in FILES: SIGTERM to all at once, then each
# waited for, SIGKILL for what is left after 10 s.
stop_groups() { # FILE...
  local f pgids=()
  for f in "$@"; do
    [ -f "$f" ] && pgids+=("$(cat "$f")")
  done
  for pgid in "${pgids[@]}"; do kill -TERM -- "-$pgid" 2>/dev/null || true; done
  for pgid in "${pgids[@]}"; do stop_group "$pgid" || true; done
}

down() {
  [ -d "$state" ] || return 0
  local cmd name services=() deps=()
  for cmd in "$state"/*.cmd; do
    [ -f "$cmd" ] || continue
    name=$(basename "$cmd" .cmd)
    if [[ " $dependencies " == *" $name "* ]]; then deps+=("$state/$name.pid"); else services+=("$state/$name.pid"); fi
  done
  # NGINX's master made a session (and so a group) of its own when it went to the background.
  stop_groups "$state/nginx/nginx.pid" "${services[@]}"
  stop_groups "${deps[@]}"
  [ ! -d "$state/pg" ] || pg_stop "$state/pg"
  rm -rf "$state"
  echo "stack stopped"
}

up() {
  down >/dev/null
  mkdir -p "$state"
  [ -x "$binary" ] || cargo build --bin chirp
  # Tools, as `make test` installs them.
  command -v redis-server >/dev/null || apt_install redis-server
  command -v nginx >/dev/null || apt_install nginx-light
  venv_module osmem_server osmem-server
  venv_program nx-27017 nx-27017
  venv_program moto_server 'moto[server]'
  tansu=$(scripts/install-tansu.sh)
  if [ "${CHIRP_STACK_TRACES:-0}" = 1 ]; then
    venv_module rotel 'rotel==0.0.1a15'
    rotel="$(venv_module_dir rotel)/rotel-agent"
  fi

  # PostgreSQL: a private cluster.
  pg=$(free_port)
  pg_start "$state/pg" "$pg"
  psql -q -h 127.0.0.1 -p "$pg" -U postgres -c 'CREATE DATABASE chirp'
  # Redis: no persistence, so a restart starts it empty; home timelines (up to 800
  # entries) kept as listpacks, as the deployment files keep them.
  redis=$(free_port)
  define redis redis-server --port "$redis" --bind 127.0.0.1 --save '' --appendonly no --dir "$state" \
    --zset-max-listpack-entries 1024
  # MongoDB protocol, Elasticsearch API
  mongo=$(free_port)
  define mongo "$venv/bin/nx-27017" --db memory --host 127.0.0.1 -p "$mongo" \
    --pid-file "$state/nx-27017.pid" --log-file "$state/nx-27017.log"
  es=$(free_port)
  osmem="$(venv_module_dir osmem_server)/bin/osmem-server"
  define elasticsearch "$osmem" -addr "127.0.0.1:$es" -no-stdin-watch
  # Kafka protocol: tansu, its log in an S3 bucket (moto's S3 server here), so that the
  # broker can stop and start again without losing a message or a committed offset; with
  # CHIRP_STACK_KAFKA_LOG=memory, in the broker's memory (lost when it stops; for the
  # benchmark's figure of what the durable log costs) and no S3 server.
  kafka=$(free_port)
  local listen=(broker --listener-url "tcp://127.0.0.1:$kafka" --advertised-listener-url "tcp://127.0.0.1:$kafka")
  s3=""
  if [ "${CHIRP_STACK_KAFKA_LOG:-s3}" = memory ]; then
    define kafka "$tansu" "${listen[@]}" --storage-engine memory://tansu/
  else
    s3=$(free_port)
    define s3 "$venv/bin/moto_server" -H 127.0.0.1 -p "$s3"
    define kafka "$tansu" "${listen[@]}" --storage-engine s3://tansu/
    sed -i "1i export AWS_ENDPOINT=http://127.0.0.1:$s3 AWS_ACCESS_KEY_ID=chirp AWS_SECRET_ACCESS_KEY=chirp AWS_DEFAULT_REGION=us-east-1 AWS_ALLOW_HTTP=true" "$state/kafka.cmd"
    launch s3
    wait_port "$s3" 30
    curl -fsS -X PUT "http://127.0.0.1:$s3/tansu" >/dev/null
  fi
  for p in redis mongo elasticsearch kafka; do launch "$p"; done
  for p in "$redis" "$mongo" "$es" "$kafka"; do wait_port "$p" 30; done
  # An OTLP collector, when asked for: rotel, printing every span it receives.
  otlp=""
  if [ -n "${rotel:-}" ]; then
    otlp=$(free_port)
    define otlp "$rotel" start --otlp-grpc-endpoint "127.0.0.1:$(free_port)" --otlp-http-endpoint "127.0.0.1:$otlp" \
      --exporter blackhole --debug-log traces --debug-log-verbosity detailed \
      --pid-file "$state/rotel-agent.pid" --log-file "$state/rotel-agent.log"
    launch otlp
    wait_port "$otlp" 30
  fi

  # The eight services (and more fanout processes, when asked for), the web client, which
  # calls AuthService's public API (CHIRP_AUTH_URL below), and the Mastodon API, which
  # calls Chirp's public API through the gateway (CHIRP_API_URL) and AuthService's public
  # and internal APIs (CHIRP_AUTH_URL, CHIRP_AUTH_INTERNAL_URL).
  services=(auth write fanout)
  for i in $(seq 2 "${CHIRP_STACK_FANOUTS:-1}"); do services+=("fanout$i"); done
  services+=(graph timeline read search notifications)
  for i in $(seq 2 "${CHIRP_STACK_NOTIFICATIONS:-1}"); do services+=("notifications$i"); done
  services+=(web mastodon)
  declare -A port internal
  for s in "${services[@]}"; do port[$s]=$(free_port); done
  # The internal API (/internal/v1) of the services peers call (AuthService's is the
  # Mastodon API's), on listeners of their own that NGINX never routes to.
  for s in auth graph timeline read; do internal[$s]=$(free_port); done
  # NGINX's ports: Chirp's gateway, and the Mastodon API's origin.
  gw=${CHIRP_STACK_PORT:-$(free_port)}
  mgw=${CHIRP_STACK_MASTODON_PORT:-$(free_port)}
  {
    echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$pg/chirp"
    echo "export MONGODB_URL=mongodb://127.0.0.1:$mongo/chirp"
    echo "export REDIS_URL=redis://127.0.0.1:$redis"
    echo "export KAFKA_BROKERS=127.0.0.1:$kafka"
    echo "export ELASTICSEARCH_URL=http://127.0.0.1:$es"
    echo "export CHIRP_AUTH_URL=http://127.0.0.1:${port[auth]}"
    echo "export CHIRP_READ_URL=http://127.0.0.1:${internal[read]}"
    echo "export CHIRP_GRAPH_URL=http://127.0.0.1:${internal[graph]}"
    echo "export CHIRP_TIMELINE_URL=http://127.0.0.1:${internal[timeline]}"
    echo "export CHIRP_AUTH_INTERNAL_URL=http://127.0.0.1:${internal[auth]}"
    echo "export CHIRP_API_URL=http://127.0.0.1:$gw"
    echo "export CHIRP_TRUST_FORWARDED_FOR=true"
    # Every process that mints ids leases a worker id of its own from PostgreSQL.
    echo "export CHIRP_WORKER_ID=auto"
    # Calls between the services carry a secret of this stack's own.
    echo "export CHIRP_INTERNAL_SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
    # Every client of a local stack is 127.0.0.1 (the tests, the benchmark): the limits
    # per client address would count them all as one. Per account and per user stay on.
    local per_address=${CHIRP_STACK_ADDRESS_LIMITS:-off}
    for limit in SIGNUP REQUEST WRITE LOGIN; do
      echo "export CHIRP_${limit}_LIMIT_PER_ADDRESS=$per_address"
    done
    [ -z "$otlp" ] || echo "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp"
  } >"$state/services.env"
  for s in "${services[@]}"; do
    mkdir -p "$state/data-$s"
    own=()
    [ -z "${internal[$s]:-}" ] || own=(--internal-listen "127.0.0.1:${internal[$s]}")
    # shellcheck disable=SC2086 # extra arguments are words
    define "$s" "$binary" "${s%%[0-9]*}" --listen "127.0.0.1:${port[$s]}" "${own[@]}" \
      --data-dir "$state/data-$s" ${CHIRP_STACK_EXTRA_ARGS:-}
    sed -i "1i . '$state/services.env'" "$state/$s.cmd"
    launch "$s"
  done

  # NGINX with the shared routes file. Each proxied request holds two connections (the
  # client's and one to the service), and an open-loop benchmark keeps many requests in
  # flight: a worker that runs out of connections closes idle keep-alive ones, which a
  # client may be about to reuse. So: a worker per core, 8,192 connections each (and the
  # open files for them), and idle connections to every service kept for reuse.
  mkdir -p "$state/nginx/logs" "$state/nginx/tmp"
  # The per-client rate limit, keyed by client address; `off` keys every request by the
  # empty string, which NGINX does not count, so that nothing is limited.
  # shellcheck disable=SC2016 # an NGINX variable, written as it is
  local rate=${CHIRP_STACK_RATE:-1000r/s} rate_key='$binary_remote_addr'
  if [ "$rate" = off ]; then rate=1r/s rate_key='""'; fi
  # Every NotificationService process behind one upstream (streams spread over them).
  local notification_servers=""
  for s in "${services[@]}"; do
    [[ $s != notifications* ]] || notification_servers+="server 127.0.0.1:${port[$s]}; "
  done
  cat >"$state/nginx/nginx.conf" <<CONF
worker_processes auto;
worker_rlimit_nofile 16384;
pid $state/nginx/nginx.pid;
error_log $state/nginx/logs/error.log warn;
events { worker_connections 8192; }
http {
    # The combined format, but for the live streams (on either origin) the request line
    # without its query string, which may carry an access token (chirp-routes.conf,
    # mastodon-routes.conf); and so for Mastodon's OAuth endpoints, whose query may carry
    # a client secret or a code.
    map \$uri \$chirp_request_line {
        ~^/(api/v1/streaming(/|\$)|oauth/) "\$request_method \$uri \$server_protocol";
        default \$request;
    }
    log_format chirp '\$remote_addr - \$remote_user [\$time_local] "\$chirp_request_line" '
                     '\$status \$body_bytes_sent "\$http_referer" "\$http_user_agent"';
    access_log $state/nginx/logs/access.log chirp;
    client_body_temp_path $state/nginx/tmp;
    proxy_temp_path $state/nginx/tmp;
    fastcgi_temp_path $state/nginx/tmp;
    uwsgi_temp_path $state/nginx/tmp;
    scgi_temp_path $state/nginx/tmp;
    map \$binary_remote_addr \$chirp_rate_key { default $rate_key; }
    limit_req_zone \$chirp_rate_key zone=chirp_api:10m rate=$rate;
    upstream chirp_auth   { server 127.0.0.1:${port[auth]}; keepalive 128; keepalive_timeout 60s; }
    upstream chirp_write  { server 127.0.0.1:${port[write]}; keepalive 128; keepalive_timeout 60s; }
    upstream chirp_graph  { server 127.0.0.1:${port[graph]}; keepalive 128; keepalive_timeout 60s; }
    upstream chirp_read   { server 127.0.0.1:${port[read]}; keepalive 128; keepalive_timeout 60s; }
    upstream chirp_search { server 127.0.0.1:${port[search]}; keepalive 128; keepalive_timeout 60s; }
    upstream chirp_notifications { $notification_servers keepalive 128; keepalive_timeout 60s; }
    upstream chirp_streams { $notification_servers }
    upstream chirp_web    { server 127.0.0.1:${port[web]}; keepalive 128; keepalive_timeout 60s; }
    upstream chirp_mastodon { server 127.0.0.1:${port[mastodon]}; keepalive 128; keepalive_timeout 60s; }
    upstream chirp_mastodon_streams { server 127.0.0.1:${port[mastodon]}; }
    server {
        listen 127.0.0.1:$gw;
        include $root/deploy/nginx/chirp-routes.conf;
    }
    # The Mastodon API, on an origin of its own (its paths collide with Chirp's /api/v1).
    server {
        listen 127.0.0.1:$mgw;
        include $root/deploy/nginx/mastodon-routes.conf;
    }
}
CONF
  # NGINX's stderr (the streaming location's critical errors) to a file: a daemon that
  # kept ours would hold open the pipe of whoever ran this script.
  nginx -p "$state/nginx" -c "$state/nginx/nginx.conf" </dev/null >/dev/null 2>>"$state/nginx/logs/stderr.log"

  # Ready when every service is.
  for s in "${services[@]}"; do
    for _ in $(seq 1 300); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port[$s]}/readyz")" = 200 ] && break
      sleep 0.1
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port[$s]}/readyz")" = 200 ] \
      || { echo "$s is not ready; see $state/$s.log" >&2; exit 1; }
  done
  {
    echo "GATEWAY=http://127.0.0.1:$gw"
    # The Mastodon API's origin, through NGINX (MASTODON= is the process itself).
    echo "MASTODON_GATEWAY=http://127.0.0.1:$mgw"
    for s in "${services[@]}"; do
      echo "${s^^}=http://127.0.0.1:${port[$s]}"
      echo "${s^^}_PORT=${port[$s]}"
      [ -z "${internal[$s]:-}" ] || echo "${s^^}_INTERNAL=http://127.0.0.1:${internal[$s]}"
    done
    echo "REDIS_PORT=$redis"
    echo "KAFKA_PORT=$kafka"
    echo "MONGO_PORT=$mongo"
    echo "ELASTICSEARCH_PORT=$es"
    [ -z "$s3" ] || echo "S3_PORT=$s3"
    echo "POSTGRES_PORT=$pg"
    [ -z "$otlp" ] || echo "OTLP_PORT=$otlp"
  } >"$state/env"
  echo "stack up: gateway on http://127.0.0.1:$gw, Mastodon API on http://127.0.0.1:$mgw (addresses in $state/env)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  stop) signal TERM "${2:?which part}" ;;
  kill) signal KILL "${2:?which part}" ;;
  start)
    alive "${2:?which part}" && { echo "$2 is running" >&2; exit 1; }
    [ -f "$state/$2.cmd" ] || { echo "no part of the stack is called $2" >&2; exit 1; }
    launch "$2"
    wait_port "$(port_of "$2")" 30
    ;;
  *) echo "usage: $0 up | down | stop NAME | kill NAME | start NAME" >&2; exit 2 ;;
esac
