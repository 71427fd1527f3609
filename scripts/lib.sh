# shellcheck shell=bash
# Shell helpers shared by the scripts, which source it: `. scripts/lib.sh`.
#
#   free_port                 a free 127.0.0.1 port
#   free_cluster_port         one whose P+10000 (a Redis Cluster bus) is free too
#   wait_port PORT [SECS]     until something accepts connections on 127.0.0.1:PORT
#   wait_ready BASE [SECS]    until BASE/readyz answers 200 (1 if it never does)
#   apt_install PACKAGE...    apt-get install, as root
#   venv_module MODULE SPEC   pip-installs SPEC into .build/venv unless MODULE imports
#   venv_program NAME SPEC    the same, unless .build/venv/bin/NAME exists
#   venv_module_dir MODULE    the directory of MODULE inside the venv
#   pg_bin                    the newest PostgreSQL's bin directory
#   pg_start DIR PORT         a private PostgreSQL cluster in DIR on 127.0.0.1:PORT
#   pg_stop DIR               stops it
#   spawn_group PIDFILE LOG COMMAND...   COMMAND in a process group of its own
#   group_alive PGID          whether any process of the group is left
#   signal_group SIGNAL PGID SECS        signals the group, waits until it is gone
#   stop_group PGID [SECS]    SIGTERM, and SIGKILL for what is left after SECS (10)

scripts_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$scripts_dir")
venv="$root/.build/venv"

free_port() {
  python3 "$scripts_dir/free-port.py"
}
free_cluster_port() {
  python3 "$scripts_dir/free-port.py" --cluster
}

# Bash's own /dev/tcp: a try costs a fork, not a Python start.
wait_port() { # PORT [SECS]
  local tries=$(( ${2:-20} * 10 ))
  for _ in $(seq 1 "$tries"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

wait_ready() { # BASE [SECS]
  local tries=$(( ${2:-30} * 10 ))
  for _ in $(seq 1 "$tries"); do
    curl -fs "$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

apt_updated=""
apt_install() { # PACKAGE...
  if [ "$(id -u)" != 0 ]; then
    echo "$* is missing and only root can install it" >&2
    return 1
  fi
  echo "installing $*" >&2
  if [ -z "$apt_updated" ]; then
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  # A service the package starts is the machine's, not the test run's (scripts/with-deps.sh).
  DEBIAN_FRONTEND=noninteractive env -u CHIRP_TEST_RUN \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Python tools live in a virtualenv under the build folder, never system-wide.
venv_pip() { # SPEC...
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q "$@"
}
venv_module() { # MODULE SPEC
  { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import $1" 2>/dev/null; } || venv_pip "$2"
}
venv_program() { # NAME SPEC
  [ -x "$venv/bin/$1" ] || venv_pip "$2"
}
venv_module_dir() { # MODULE
  "$venv/bin/python" -c "import os, $1; print(os.path.dirname($1.__file__))"
}

pg_bin() {
  local newest
  newest=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
  if [ -d "$newest" ]; then echo "$newest"; fi
}
# initdb refuses root, so the cluster belongs to `postgres`.
pg_start() { # DIR PORT
  local bin
  bin=$(pg_bin)
  [ -n "$bin" ] || { apt_install postgresql && bin=$(pg_bin); }
  rm -rf "$1"
  mkdir -p "$1"
  chown postgres "$1"
  su postgres -c "$bin/initdb -A trust -U postgres -D '$1'" >/dev/null
  su postgres -c "$bin/pg_ctl -D '$1' -l '$1/server.log' -w -o '-p $2 -k /tmp -c listen_addresses=127.0.0.1' start" >/dev/null
}
# pg_ctl is done when the pid file is gone, a moment before the processes are; the
# postmaster leads a process group of its own, which holds them all.
pg_stop() { # DIR
  [ -f "$1/postmaster.pid" ] || return 0
  local pgid
  pgid=$(head -1 "$1/postmaster.pid")
  su postgres -c "$(pg_bin)/pg_ctl stop -m fast -w -D '$1'" >/dev/null 2>&1 || true
  stop_group "$pgid"
}

# A child of a non-interactive shell is never a process-group leader, so setsid runs
# COMMAND in the same process and its pid is the new group's id.
spawn_group() { # PIDFILE LOG COMMAND...
  local pidfile=$1 log=$2 pid
  shift 2
  setsid "$@" </dev/null >>"$log" 2>&1 &
  pid=$!
  # The child leads a group of its own only once setsid has run in it: until then the
  # group -PID does not exist, and group_alive or stop_group would find nobody (on a
  # busy machine, 26 of 200 spawns were caught so). Wait for it, or for the child's end.
  for _ in $(seq 1 500); do
    kill -0 -- "-$pid" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  echo "$pid" >"$pidfile"
}

group_alive() { # PGID
  kill -0 -- "-$1" 2>/dev/null
}

signal_group() { # SIGNAL PGID SECS
  kill "-$1" -- "-$2" 2>/dev/null || true
  local tries=$(( $3 * 20 ))
  for _ in $(seq 1 "$tries"); do
    group_alive "$2" || return 0
    sleep 0.05
  done
  ! group_alive "$2"
}

stop_group() { # PGID [SECS]
  [ -n "$1" ] && group_alive "$1" || return 0
  signal_group TERM "$1" "${2:-10}" && return 0
  echo "process group $1 did not stop within ${2:-10}s of SIGTERM: SIGKILL" >&2
  signal_group KILL "$1" 5
}
