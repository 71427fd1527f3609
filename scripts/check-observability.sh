#!/usr/bin/env bash
# Checks Chirp's observability files offline (Grafana, Logstash and Kibana do not run here;
# Prometheus's own tools do):
#   - deploy/prometheus: `promtool check config` on prometheus.yml (compose), kubernetes.yml
#     (with its Kubernetes discovery swapped for a static target when promtool is built
#     without it, as Debian's is; the discovery block's role and selectors are checked
#     here) and local.yml.tmpl rendered with dummy targets; `promtool check rules` and
#     `promtool test rules` (rules/chirp.rules.test.yml makes every alert fire on broken
#     series and stay silent on healthy ones);
#   - deploy/grafana: every dashboard parses, every panel has targets and every target a
#     non-empty `expr` on the data source uid `prometheus`, rate windows are
#     $__rate_interval, every expression parses as PromQL (promtool) and names only the
#     metrics Chirp exposes (read from the code that registers them, by
#     scripts/chirp_metrics.py) or the rules record; the provisioning files agree with the
#     dashboards and with docker-compose.yml;
#   - deploy/kibana/saved-objects.ndjson: one JSON object per line, references resolved;
#   - deploy/logstash: the pipeline's braces and quotes balance, its index template parses;
#   - yamllint on all of their YAML, when .build/venv/bin/yamllint exists (made by
#     scripts/check-deploy.sh).
# The checks of the files themselves are scripts/check-observability-files.py's.
# Usage: scripts/check-observability.sh [EXPRESSIONS-FILE [ORIGINS-FILE]]
# With EXPRESSIONS-FILE, writes there every PromQL expression of the dashboards and rules,
# one per line, deduplicated, with Grafana's variables replaced ($__rate_interval and
# $__interval by 1m, $__range by 1h, a multi-value variable by its "All" regex .+), so that
# each can be run as it is against a live Prometheus. With ORIGINS-FILE too, writes there,
# on line N, where line N's expression comes from: tab-separated origins, each
#   record FILE NAME | alert FILE NAME | dashboard FILE 'PANEL TITLE' REFID
# (scripts/check-prometheus-live.sh reads it to know which expressions must return data).
# Exits non-zero if any check fails.
set -euo pipefail
out=""
origins=""
if [ $# -gt 0 ]; then
  out=$(realpath -m "$1")
fi
if [ $# -gt 1 ]; then
  origins=$(realpath -m "$2")
fi
cd "$(dirname "$0")/.."
. scripts/lib.sh

command -v promtool >/dev/null || apt_install prometheus
# PyYAML: the system's, else the virtualenv's.
py=python3
if ! "$py" -c 'import yaml' 2>/dev/null; then
  venv_module yaml pyyaml
  py="$venv/bin/python"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # NAME COMMAND...: runs COMMAND, counts it, shows its output only if it fails
  local name=$1; shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name" >&2
    sed 's/^/     /' "$work/out" >&2
  fi
}

# --- the files' own checks, and the inputs promtool needs ------------------------------
# Prints one "ok   ..." or "FAIL ..." line per check and their counts on its last line.
"$py" scripts/check-observability-files.py "$root" "$work" >"$work/py.log" 2>&1 || true
if counts=$(grep '^COUNTS ' "$work/py.log"); then
  grep -v '^COUNTS ' "$work/py.log" | grep -v '^FAIL\|^     ' || true
  grep -A1 '^FAIL' "$work/py.log" | grep -v '^--$' >&2 || true
  read -r _ p f <<<"$counts"
  passed=$((passed + p))
  failed=$((failed + f))
else
  echo "FAIL file checks did not finish:" >&2
  sed 's/^/     /' "$work/py.log" >&2
  failed=$((failed + 1))
fi

# --- promtool ------------------------------------------------------------------------------
check "promtool check config deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
check "promtool check config deploy/prometheus/local.yml.tmpl (rendered)" promtool check config "$work/local.yml"
if promtool check config deploy/prometheus/kubernetes.yml >"$work/k8s.out" 2>&1; then
  check "promtool check config deploy/prometheus/kubernetes.yml" true
elif grep -q 'kubernetes_sd_configs not found' "$work/k8s.out" && [ -f "$work/kubernetes-static.yml" ]; then
  # This promtool has no Kubernetes discovery: check the rest with a static target.
  check "promtool check config deploy/prometheus/kubernetes.yml (discovery swapped for a static target)" \
    promtool check config "$work/kubernetes-static.yml"
else
  check "promtool check config deploy/prometheus/kubernetes.yml" promtool check config deploy/prometheus/kubernetes.yml
fi
check "promtool check rules deploy/prometheus/rules/chirp.rules.yml" promtool check rules deploy/prometheus/rules/chirp.rules.yml
check "promtool test rules deploy/prometheus/rules/chirp.rules.test.yml" promtool test rules deploy/prometheus/rules/chirp.rules.test.yml
parse_expressions() { # promtool names a failing expression by its record; say where it is from
  promtool check rules "$work/expressions.rules.yml" && return 0
  promtool check rules "$work/expressions.rules.yml" 2>&1 | grep -o '"expression_[0-9]*"' | tr -d '"' |
    sort -u | while read -r record; do grep "^$record: " "$work/expressions.sources"; done
  return 1
}
check "promtool check rules: dashboard and rule expressions parse as PromQL ($(wc -l <"$work/expressions.txt") expressions)" \
  parse_expressions

# --- yamllint ------------------------------------------------------------------------------
if [ -x "$venv/bin/yamllint" ]; then
  cp "$work/local.yml" "$work/local-rendered.yml"
  check "yamllint deploy/prometheus deploy/grafana deploy/logstash (and the rendered local.yml)" \
    "$venv/bin/yamllint" -s -d '{extends: relaxed, rules: {line-length: {max: 140}}}' \
    deploy/prometheus deploy/grafana deploy/logstash "$work/local-rendered.yml"
else
  echo "skip yamllint: $venv/bin/yamllint is not installed (scripts/check-deploy.sh installs it)"
fi

if [ -n "$out" ]; then
  mkdir -p "$(dirname "$out")"
  cp "$work/expressions.txt" "$out"
  echo "wrote $(wc -l <"$out") PromQL expressions to $out"
fi
if [ -n "$origins" ]; then
  mkdir -p "$(dirname "$origins")"
  cp "$work/expressions.origins" "$origins"
  echo "wrote their origins to $origins"
fi
echo "observability checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
