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
#     metrics Chirp exposes (or the rules record); the provisioning files agree with the
#     dashboards and with docker-compose.yml;
#   - deploy/kibana/saved-objects.ndjson: one JSON object per line, references resolved;
#   - deploy/logstash: the pipeline's braces and quotes balance, its index template parses;
#   - yamllint on all of their YAML, when .build/venv/bin/yamllint exists (made by
#     scripts/check-deploy.sh).
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
root=$(pwd)
venv="$root/.build/venv"

if ! command -v promtool >/dev/null; then
  echo "installing prometheus (for promtool)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null
fi
py=python3
if ! "$py" -c 'import yaml' 2>/dev/null; then
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
    py="$venv/bin/python"
  else
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q pyyaml
    py="$venv/bin/python"
  fi
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
PYTHONPATH="$root/scripts" "$py" - "$root" "$work" >"$work/py.log" 2>&1 <<'PY' || true
import json, os, re, sys
import yaml

root, work = sys.argv[1], sys.argv[2]
deploy = os.path.join(root, "deploy")
results = []

def ok(name):
    results.append((True, name, ""))

def fail(name, why):
    results.append((False, name, why))

def rel(path):
    return os.path.relpath(path, root)

# The metrics every service exposes (the contract), and `up`. Histograms are read through
# their _bucket, _sum and _count series.
COUNTERS_GAUGES = """
chirp_http_requests_total chirp_outbox_backlog chirp_outbox_oldest_age_seconds
chirp_events_published_total chirp_events_consumed_total chirp_consumer_lag
chirp_fanout_deliveries_total chirp_timeline_cache_hits_total
chirp_timeline_cache_misses_total chirp_timeline_rebuilds_total chirp_logins_total
chirp_dependency_errors_total up
""".split()
HISTOGRAMS = """
chirp_http_request_duration_seconds chirp_fanout_lag_seconds
chirp_search_indexing_lag_seconds chirp_dependency_duration_seconds
""".split()
KNOWN = set(COUNTERS_GAUGES) | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
DS = {"type": "prometheus", "uid": "prometheus"}

def one_line(expr):
    # Collapses whitespace outside string literals.
    parts = re.split(r'("(?:[^"\\]|\\.)*")', expr)
    return "".join(p if i % 2 else re.sub(r"\s+", " ", p) for i, p in enumerate(parts)).strip()

from promql_names import metric_names, strip_strings  # noqa: E402

expressions = []  # (source, expression as run)

# --- rules: the recorded names dashboards may use, and their expressions -------------
rules_path = os.path.join(deploy, "prometheus", "rules", "chirp.rules.yml")
recorded = set()
try:
    rules = yaml.safe_load(open(rules_path))
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                recorded.add(rule["record"])
            kind = "record" if "record" in rule else "alert"
            expressions.append((f"{kind} {rel(rules_path)} {rule.get(kind)}", one_line(rule["expr"])))
    for group in rules["groups"]:
        for rule in group["rules"]:
            unknown = metric_names(rule["expr"]) - KNOWN - recorded
            if unknown:
                raise ValueError(f"{rule.get('record') or rule.get('alert')}: unknown metrics {sorted(unknown)}")
            if "alert" in rule:
                for key in ("summary", "description"):
                    if not rule.get("annotations", {}).get(key):
                        raise ValueError(f"{rule['alert']}: no {key} annotation")
                if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                    raise ValueError(f"{rule['alert']}: severity label missing or unknown")
    ok(f"{rel(rules_path)}: metrics known, alerts have severity, summary and description")
except Exception as e:  # noqa: BLE001 - any error is this check's failure
    fail(rel(rules_path), str(e))

# --- Grafana dashboards ----------------------------------------------------------------
dash_dir = os.path.join(deploy, "grafana", "dashboards")
uids = {}
dash_files = sorted(f for f in os.listdir(dash_dir) if f.endswith(".json"))
if not dash_files:
    fail("deploy/grafana/dashboards", "no dashboards")

def panels_of(items):
    for p in items:
        yield p
        yield from panels_of(p.get("panels", []))

def substitute(expr, variables):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name in ("__rate_interval", "__interval"):
            return "1m"
        if name == "__range":
            return "1h"
        if name in variables:
            return variables[name]
        raise ValueError(f"unknown variable ${name} in {expr}")
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)

for name in dash_files:
    path = os.path.join(dash_dir, name)
    try:
        with open(path) as f:
            d = json.load(f)
        problems = []
        if d.get("schemaVersion") != 39:
            problems.append(f"schemaVersion {d.get('schemaVersion')}, not 39")
        if not d.get("uid") or not d.get("title"):
            problems.append("no uid or title")
        elif d["uid"] in uids:
            problems.append(f"uid {d['uid']} also in {uids[d['uid']]}")
        uids[d.get("uid")] = name
        variables = {}
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") in ("constant", "custom", "textbox"):
                variables[v["name"]] = str(v.get("query", ""))
            else:
                variables[v["name"]] = v.get("allValue") or ".+"
            if v.get("type") == "query" and v.get("datasource") != DS:
                problems.append(f"variable {v['name']}: datasource is not {DS}")
        ids = set()
        count = 0
        for p in panels_of(d.get("panels", [])):
            title = p.get("title", "?")
            if p.get("id") in ids:
                problems.append(f"panel id {p.get('id')} twice")
            ids.add(p.get("id"))
            if "gridPos" not in p:
                problems.append(f"panel {title!r}: no gridPos")
            if p.get("type") == "row":
                continue
            if p.get("type") not in ("timeseries", "stat"):
                problems.append(f"panel {title!r}: type {p.get('type')}")
            if p.get("datasource") != DS:
                problems.append(f"panel {title!r}: datasource is not {DS}")
            targets = p.get("targets") or []
            if not targets:
                problems.append(f"panel {title!r}: no targets")
            for t in targets:
                expr = t.get("expr")
                if not isinstance(expr, str) or not expr.strip():
                    problems.append(f"panel {title!r} target {t.get('refId')}: empty expr")
                    continue
                if t.get("datasource", DS) != DS:
                    problems.append(f"panel {title!r} target {t.get('refId')}: datasource is not {DS}")
                for window in re.findall(r"\[([^\]]*)\]", strip_strings(expr)):
                    if window not in ("$__rate_interval", "$__range"):
                        problems.append(f"panel {title!r}: range [{window}], not [$__rate_interval]")
                unknown = metric_names(expr) - KNOWN - recorded
                if unknown:
                    problems.append(f"panel {title!r}: unknown metrics {sorted(unknown)}")
                try:
                    expressions.append((f"dashboard {rel(path)} {title!r} {t.get('refId')}", one_line(substitute(expr, variables))))
                except ValueError as e:
                    problems.append(f"panel {title!r}: {e}")
                count += 1
        if problems:
            fail(rel(path), "; ".join(problems))
        else:
            ok(f"{rel(path)}: {count} targets")
    except Exception as e:  # noqa: BLE001
        fail(rel(path), str(e))

# --- Grafana provisioning ----------------------------------------------------------------
try:
    prov = os.path.join(deploy, "grafana", "provisioning")
    ds = yaml.safe_load(open(os.path.join(prov, "datasources", "prometheus.yml")))
    ds_uids = {x["uid"] for x in ds["datasources"]}
    if DS["uid"] not in ds_uids:
        raise ValueError(f"no data source with uid {DS['uid']}")
    providers = yaml.safe_load(open(os.path.join(prov, "dashboards", "chirp.yml")))["providers"]
    compose = yaml.safe_load(open(os.path.join(deploy, "docker-compose.yml")))
    mounts = {}
    for v in compose["services"]["grafana"].get("volumes", []):
        parts = v.split(":")
        if len(parts) >= 2:
            mounts[parts[1]] = parts[0]
    for p in providers:
        path = p["options"]["path"]
        if mounts.get(path) != "./grafana/dashboards":
            raise ValueError(f"provider {p['name']} reads {path}, where compose does not mount ./grafana/dashboards")
    for sub in ("datasources", "dashboards"):
        target = f"/etc/grafana/provisioning/{sub}"
        if mounts.get(target) != f"./grafana/provisioning/{sub}":
            raise ValueError(f"compose does not mount ./grafana/provisioning/{sub} at {target}")
    ok("deploy/grafana/provisioning: data source uid and dashboard path match the dashboards and compose")
except Exception as e:  # noqa: BLE001
    fail("deploy/grafana/provisioning", str(e))

# --- Kibana saved objects --------------------------------------------------------------
ndjson = os.path.join(deploy, "kibana", "saved-objects.ndjson")
try:
    objects = []
    with open(ndjson) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                raise ValueError(f"line {n} is empty")
            try:
                o = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"line {n}: {e}") from e
            if not isinstance(o, dict) or not all(k in o for k in ("type", "id", "attributes")):
                raise ValueError(f"line {n}: not a saved object (type, id, attributes)")
            objects.append(o)
    have = {(o["type"], o["id"]) for o in objects}
    for o in objects:
        for r in o.get("references", []):
            if (r["type"], r["id"]) not in have:
                raise ValueError(f"{o['type']} {o['id']} refers to missing {r['type']} {r['id']}")
        ssj = o["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if ssj is not None:
            json.loads(ssj)
    ok(f"{rel(ndjson)}: {len(objects)} objects, references resolved")
except Exception as e:  # noqa: BLE001
    fail(rel(ndjson), str(e))

# --- Logstash ----------------------------------------------------------------------------
ls_dir = os.path.join(deploy, "logstash")
for dirpath, _, files in os.walk(os.path.join(ls_dir, "pipeline")):
    for name in sorted(files):
        path = os.path.join(dirpath, name)
        try:
            text = open(path).read()
            depth, stack, i, line = 0, [], 0, 1
            pairs = {"{": "}", "[": "]"}
            while i < len(text):
                c = text[i]
                if c == "\n":
                    line += 1
                elif c == "#":
                    i = text.find("\n", i)
                    if i < 0:
                        break
                    continue
                elif c in "\"'":
                    end = i + 1
                    while end < len(text) and text[end] != c:
                        end += 2 if text[end] == "\\" else 1
                    if end >= len(text):
                        raise ValueError(f"line {line}: string never closed")
                    line += text.count("\n", i, end)
                    i = end
                elif c in pairs:
                    stack.append((pairs[c], line))
                elif c in "}]":
                    if not stack or stack[-1][0] != c:
                        raise ValueError(f"line {line}: unexpected {c}")
                    stack.pop()
                i += 1
            if stack:
                raise ValueError(f"line {stack[-1][1]}: not closed")
            for section in ("input", "filter", "output"):
                if not re.search(rf"^{section}\s*\{{", text, re.M):
                    raise ValueError(f"no {section} section")
            ok(f"{rel(path)}: balanced, input/filter/output")
        except Exception as e:  # noqa: BLE001
            fail(rel(path), str(e))
for dirpath, _, files in os.walk(os.path.join(ls_dir, "templates")):
    for name in sorted(files):
        path = os.path.join(dirpath, name)
        try:
            json.load(open(path))
            ok(f"{rel(path)}: JSON")
        except Exception as e:  # noqa: BLE001
            fail(rel(path), str(e))

# --- inputs for promtool -----------------------------------------------------------------
prom = os.path.join(deploy, "prometheus")
rules_abs = os.path.join(prom, "rules", "chirp.rules.yml")
# The local stack's configuration, rendered as its scripts do.
tmpl = open(os.path.join(prom, "local.yml.tmpl")).read()
for marker in ("@TARGETS@", "@RULES@"):
    if marker not in tmpl:
        fail("deploy/prometheus/local.yml.tmpl", f"no {marker}")
rendered = tmpl.replace("@TARGETS@", '["127.0.0.1:18081", "127.0.0.1:18082", "127.0.0.1:18083"]').replace("@RULES@", rules_abs)
open(os.path.join(work, "local.yml"), "w").write(rendered)
# kubernetes.yml with its Kubernetes discovery swapped for a static target, for a
# promtool built without Kubernetes discovery (Debian's).
try:
    k8s = yaml.safe_load(open(os.path.join(prom, "kubernetes.yml")))
    k8s["rule_files"] = [os.path.join(prom, r) for r in k8s.get("rule_files", [])]
    for sc in k8s["scrape_configs"]:
        sds = sc.pop("kubernetes_sd_configs", None)
        if sds is None:
            continue
        for sd in sds:
            if sd.get("role") not in ("node", "service", "pod", "endpoints", "endpointslice", "ingress"):
                raise ValueError(f"{sc['job_name']}: kubernetes_sd role {sd.get('role')}")
            for sel in sd.get("selectors", []):
                if set(sel) - {"role", "label", "field"} or sel.get("role") != sd["role"]:
                    raise ValueError(f"{sc['job_name']}: selector {sel}")
        sc["static_configs"] = [{"targets": ["127.0.0.1:18081"]}]
    yaml.safe_dump(k8s, open(os.path.join(work, "kubernetes-static.yml"), "w"), sort_keys=False)
except Exception as e:  # noqa: BLE001
    fail("deploy/prometheus/kubernetes.yml", str(e))
# Every dashboard expression as a recording rule, so that promtool parses it as PromQL.
# An expression used in several places is kept once, with all of its origins.
seen, unique = {}, []
for source, expr in expressions:
    if expr in seen:
        unique[seen[expr]][0].append(source)
    else:
        seen[expr] = len(unique)
        unique.append(([source], expr))
dash_rules = {"groups": [{"name": "expressions", "rules": [
    {"record": f"expression_{i}", "expr": expr} for i, (_, expr) in enumerate(unique)]}]}
yaml.safe_dump(dash_rules, open(os.path.join(work, "expressions.rules.yml"), "w"), sort_keys=False, width=1000)
with open(os.path.join(work, "expressions.txt"), "w") as f, \
        open(os.path.join(work, "expressions.sources"), "w") as g, \
        open(os.path.join(work, "expressions.origins"), "w") as h:
    for i, (sources, expr) in enumerate(unique):
        f.write(expr + "\n")
        g.write(f"expression_{i}: {'; '.join(sources)}\n")
        h.write("\t".join(sources) + "\n")

for good, name, why in results:
    print(("ok   " if good else "FAIL ") + name + ("" if good else "\n     " + why))
print(f"COUNTS {sum(1 for r in results if r[0])} {sum(1 for r in results if not r[0])}")
PY
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
