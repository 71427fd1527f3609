#!/usr/bin/env bash
# Runs every PromQL expression of Chirp's dashboards and rules against a real Prometheus
# that scrapes a running local stack, after driving some traffic through it:
#   1. renders deploy/prometheus/local.yml.tmpl with the stack's service targets and the
#      absolute path of the rules, starts Prometheus on a free 127.0.0.1 port with a
#      temporary TSDB (stopped by its PID when this script exits, however it exits);
#   2. waits until every target's `up` is 1;
#   3. drives ~20 s of traffic through the gateway (python3 standard library only): a few
#      users sign up and follow each other, post, read their home timelines, search, look
#      at profiles and at themselves (/auth/me), then log in once with a wrong and once
#      with the right password;
#   4. waits for a few more scrapes, writes the expressions with
#      scripts/check-observability.sh and runs each with /api/v1/query.
# Every expression must be answered with status "success". Dashboard expressions and
# recording-rule expressions must return at least one sample, unless they name only
# metrics of KNOWN_MISSING below; alert expressions (a condition such as `> 0.05`) may be
# empty on a healthy system.
#
# Usage: scripts/check-prometheus-live.sh STACK_ENV_FILE
# where STACK_ENV_FILE is the `env` file of `scripts/stack.sh up` (GATEWAY=..., AUTH_PORT=...,
# WRITE_PORT=..., FANOUT_PORT=... (and FANOUT2_PORT=..., ...), GRAPH_PORT=...,
# TIMELINE_PORT=..., READ_PORT=..., SEARCH_PORT=...). E.g.
#   CHIRP_STACK_DIR=$PWD/.build/stack-prom scripts/stack.sh up
#   scripts/check-prometheus-live.sh .build/stack-prom/env
#   CHIRP_STACK_DIR=$PWD/.build/stack-prom scripts/stack.sh down
# Settings: CHIRP_LIVE_VERBOSE=1 lists the expressions allowed to be empty, and why;
# CHIRP_LOAD_SECONDS (default 20; keep it under ~40, as the dashboards' windows,
# $__rate_interval, run as 1m here, must still hold the traffic's start).
# Exits non-zero if any expression fails.
set -euo pipefail

# Metrics the dashboards and rules use that the services do not export yet. An expression
# that names only these (directly, or through a recording rule made of them) may return
# no data. Empty this list once the services export them all; histograms are named
# without their _bucket/_sum/_count suffix.
KNOWN_MISSING=""

[ $# -eq 1 ] || { echo "usage: $0 STACK_ENV_FILE" >&2; exit 2; }
env_file=$(realpath "$1")
cd "$(dirname "$0")/.."
root=$(pwd)
load_seconds=${CHIRP_LOAD_SECONDS:-20}

# Installed where missing (make test runs this before the observability checks, which
# install the same package for promtool).
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "installing prometheus" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null
fi
for tool in prometheus promtool curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt: prometheus, curl, python3)" >&2; exit 2; }
done

# --- the stack's addresses ---------------------------------------------------------------
gateway=$(sed -n 's/^GATEWAY=//p' "$env_file")
[ -n "$gateway" ] || { echo "$env_file has no GATEWAY=" >&2; exit 2; }
targets=()
for name in AUTH WRITE FANOUT GRAPH TIMELINE READ SEARCH; do
  port=$(sed -n "s/^${name}_PORT=//p" "$env_file")
  [ -n "$port" ] || { echo "$env_file has no ${name}_PORT=" >&2; exit 2; }
  targets+=("127.0.0.1:$port")
done
# More fanout processes, when the stack runs them (CHIRP_STACK_FANOUTS).
while read -r port; do
  targets+=("127.0.0.1:$port")
done < <(sed -n 's/^FANOUT[0-9][0-9]*_PORT=//p' "$env_file")

# --- Prometheus ----------------------------------------------------------------------------
work=$(mktemp -d)
prom_pid=""
child=""  # the load driver or a sleep, run in the background so that a signal stops it at once
cleanup() {
  if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; fi
  if [ -n "$prom_pid" ] && kill -0 "$prom_pid" 2>/dev/null; then
    kill "$prom_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$prom_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$prom_pid" 2>/dev/null; then kill -9 "$prom_pid" 2>/dev/null || true; fi
    wait "$prom_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

target_list=$(printf '"%s", ' "${targets[@]}")
target_list="[${target_list%, }]"
python3 - "$root/deploy/prometheus/local.yml.tmpl" "$work/prometheus.yml" "$target_list" \
  "$root/deploy/prometheus/rules/chirp.rules.yml" <<'PY'
import sys
tmpl, out, targets, rules = sys.argv[1:]
text = open(tmpl).read()
for marker in ("@TARGETS@", "@RULES@"):
    if marker not in text:
        sys.exit(f"{tmpl}: no {marker}")
open(out, "w").write(text.replace("@TARGETS@", targets).replace("@RULES@", rules))
PY
promtool check config "$work/prometheus.yml" >"$work/promtool.log" 2>&1 \
  || { echo "the rendered configuration does not check:" >&2; cat "$work/promtool.log" >&2; exit 1; }
scrape=$(sed -n 's/^ *scrape_interval: *\([0-9]*\)s *$/\1/p' "$work/prometheus.yml" | head -1)
scrape=${scrape:-5}

prom_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
prom="http://127.0.0.1:$prom_port"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
echo "prometheus (pid $prom_pid) on $prom, scraping ${#targets[@]} targets every ${scrape}s"

query() { # PROMQL: prints the JSON answer of an instant query
  curl -fsS --max-time 10 "$prom/api/v1/query" --data-urlencode "query=$1"
}
ready=""
for _ in $(seq 1 100); do
  kill -0 "$prom_pid" 2>/dev/null || break
  if curl -fsS --max-time 1 "$prom/-/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { echo "prometheus did not start:" >&2; tail -20 "$work/prometheus.log" >&2; exit 1; }

up_count() {
  query 'count(up{job="chirp"} == 1)' | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else 0)'
}
up=0
for _ in $(seq 1 $((scrape * 12))); do
  up=$(up_count || echo 0)
  [ "$up" = "${#targets[@]}" ] && break
  sleep 1
done
if [ "$up" != "${#targets[@]}" ]; then
  echo "only $up of ${#targets[@]} targets are up:" >&2
  curl -fsS "$prom/api/v1/targets" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print(" ", t["scrapeUrl"], t["health"], t.get("lastError", ""))' >&2
  exit 1
fi
echo "all ${#targets[@]} targets up"

# --- traffic -----------------------------------------------------------------------------
echo "driving ${load_seconds}s of traffic through $gateway"
python3 - "$gateway" "$load_seconds" <<'PY' &
import json, random, sys, time, urllib.error, urllib.request

gateway, seconds = sys.argv[1].rstrip("/"), float(sys.argv[2])
run = "%06x" % random.randrange(16**6)
tag = f"load{run}"
statuses = {}
unexpected = []

def call(method, path, body=None, token=None, expect=(200,)):
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(gateway + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            status, text = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    except OSError as e:
        status, text = 0, str(e).encode()
    key = f"{method} {path.split('?')[0].split('/')[3] if path.count('/') >= 3 else path} {status}"
    statuses[key] = statuses.get(key, 0) + 1
    if status not in expect:
        unexpected.append(f"{method} {path}: {status} {text[:200]!r}")
        return None
    return json.loads(text) if text else {}

users = []
for i in range(4):
    handle = f"l{run}_{i}"
    t = call("POST", "/api/v1/auth/signup",
             {"handle": handle, "email": f"{handle}@example.com", "password": "correct horse battery"},
             expect=(201,))
    if t is None:
        sys.exit("signup failed: " + "; ".join(unexpected))
    users.append({"handle": handle, "id": t["user"]["id"], "token": t["access_token"]})
# Home timelines before anything is held for them: cache misses and rebuilds.
for u in users:
    call("GET", "/api/v1/timelines/home", token=u["token"])
for u in users:
    for v in users:
        if u is not v:
            call("POST", f"/api/v1/users/{v['id']}/follow", token=u["token"], expect=(204,))

deadline = time.monotonic() + seconds
n = 0
while time.monotonic() < deadline:
    u = users[n % len(users)]
    post = call("POST", "/api/v1/posts", {"text": f"post {n} from {u['handle']} #{tag}"},
                token=u["token"], expect=(201,))
    call("GET", "/api/v1/timelines/home", token=u["token"])
    call("GET", f"/api/v1/search/posts?q=%23{tag}")
    call("GET", f"/api/v1/users/{u['id']}")
    call("GET", f"/api/v1/users/{u['id']}/followers")
    call("GET", "/api/v1/auth/me", token=u["token"])
    if post:
        call("GET", f"/api/v1/posts/{post['id']}")
    n += 1
    time.sleep(0.25)
# One failed login and one good one, late enough to stay in the dashboards' windows.
call("POST", "/api/v1/auth/login", {"login": users[0]["handle"], "password": "wrong password!"}, expect=(401,))
call("POST", "/api/v1/auth/login", {"login": users[0]["handle"], "password": "correct horse battery"})
# The last posts' fanout and indexing, then a last round of reads.
time.sleep(2)
for u in users:
    call("GET", "/api/v1/timelines/home", token=u["token"])
hits = call("GET", f"/api/v1/search/posts?q=%23{tag}&limit=100") or {"items": []}

print(f"  {n} rounds, {sum(statuses.values())} requests; search finds {len(hits['items'])} of {n} posts")
for key in sorted(statuses):
    print(f"    {statuses[key]:5d}  {key}")
if unexpected:
    print(f"  {len(unexpected)} unexpected answers, e.g.:", file=sys.stderr)
    for line in unexpected[:10]:
        print("    " + line, file=sys.stderr)
    sys.exit(1)
PY
child=$!
wait "$child" || { echo "the traffic did not go as expected" >&2; exit 1; }

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

PYTHONPATH="$root/scripts" python3 - "$prom" "$work/expressions.txt" "$work/expressions.origins" "$KNOWN_MISSING" \
  "${CHIRP_LIVE_VERBOSE:-}" <<'PY'
import json, re, sys, urllib.error, urllib.parse, urllib.request

prom, exprs_path, origins_path, known_missing, verbose = sys.argv[1:]
exprs = open(exprs_path).read().splitlines()
origins = [line.split("\t") for line in open(origins_path).read().splitlines()]
assert len(exprs) == len(origins), "expressions and origins do not line up"
missing = set(known_missing.split())

from promql_names import metric_names  # noqa: E402

def base(name):
    return re.sub(r"_(bucket|sum|count)$", "", name)

# A recorded series stands for the metrics of its rule.
recorded = {}
for expr, srcs in zip(exprs, origins):
    for src in srcs:
        if src.startswith("record "):
            recorded[src.split()[-1]] = expr

def underlying(expr, depth=0):
    names = set()
    for n in metric_names(expr):
        if n in recorded and depth < 5:
            names |= underlying(recorded[n], depth + 1)
        else:
            names.add(n)
    return names

def only_missing(expr):
    names = underlying(expr)
    return bool(names) and all(name in missing or base(name) in missing for name in names)

def run(expr):
    data = urllib.parse.urlencode({"query": expr}).encode()
    try:
        with urllib.request.urlopen(prom + "/api/v1/query", data=data, timeout=15) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}
    except OSError as e:
        return {"status": "error", "error": str(e)}

ok = empty_allowed = 0
failures, notes = [], []
for expr, srcs in zip(exprs, origins):
    kinds = {s.split()[0] for s in srcs}
    answer = run(expr)
    where = "; ".join(srcs)
    if answer.get("status") != "success":
        failures.append((f"status {answer.get('status')}: {answer.get('error')}", where, expr))
        continue
    result = answer["data"]["result"]
    if answer["data"]["resultType"] in ("vector", "matrix"):
        samples = len(result)
    else:  # scalar, string
        samples = 1
    if samples:
        ok += 1
        if only_missing(expr):
            notes.append(f"has data although it names only KNOWN_MISSING metrics: {expr}")
        elif answer["data"]["resultType"] == "vector" and all(r["value"][1] == "NaN" for r in result):
            notes.append(f"only NaN: {expr}  ({where})")
        continue
    if only_missing(expr):
        empty_allowed += 1
        if verbose:
            notes.append(f"empty, names only KNOWN_MISSING metrics: {expr}")
    elif kinds == {"alert"}:
        empty_allowed += 1
        if verbose:
            notes.append(f"empty, an alert's condition: {expr}")
    else:
        failures.append(("no data", where, expr))

for note in notes:
    print("note " + note)
for why, where, expr in failures:
    print(f"FAIL {why}\n     from: {where}\n     expr: {expr}")
print(f"prometheus live check: {ok} ok, {empty_allowed} empty-allowed, {len(failures)} failed "
      f"(of {len(exprs)} expressions)")
sys.exit(1 if failures else 0)
PY
