#!/usr/bin/env python3
"""The file checks of scripts/check-observability.sh, and the inputs it gives promtool.

usage: scripts/check-observability-files.py ROOT WORK   (needs PyYAML)

Checks, under ROOT/deploy: the alert and recording rules (every metric they name is one
Chirp exposes or a rule records; alerts have a severity, a summary and a description);
every Grafana dashboard (schema, uids, panel ids and kinds, data sources, rate windows,
metric names, Grafana variables) and the provisioning files against the dashboards and
docker-compose.yml; the Kibana saved objects and the Logstash pipeline and templates.
The metrics Chirp exposes are read from its sources (scripts/chirp_metrics.py).

Writes into WORK: local.yml (the local stack's configuration rendered with dummy
targets), kubernetes-static.yml (kubernetes.yml with its Kubernetes discovery swapped for
a static target), expressions.rules.yml (every expression of the rules and dashboards as
a recording rule, so that promtool parses it), expressions.txt (those expressions as
they run, one a line), expressions.sources and expressions.origins (where each is from).

Prints "ok   WHAT" or "FAIL WHAT" and the reason on the next line, per check, and last
"COUNTS PASSED FAILED". Exits 0: the counts are the verdict."""

import json
import os
import re
import sys

import chirp_metrics
import elastic_files
import yaml
from promql_names import metric_names, strip_strings

DS = {"type": "prometheus", "uid": "prometheus"}
K8S_ROLES = ("node", "service", "pod", "endpoints", "endpointslice", "ingress")


class Checks:
    def __init__(self, root):
        self.root = root
        self.results = []  # (passed, name, why)
        self.expressions = []  # (source, expression as run)

    def ok(self, name):
        self.results.append((True, name, ""))

    def fail(self, name, why):
        self.results.append((False, name, why))

    def rel(self, path):
        return os.path.relpath(path, self.root)


def one_line(expr):
    """The expression with whitespace outside string literals collapsed."""
    parts = re.split(r'("(?:[^"\\]|\\.)*")', expr)
    return "".join(p if i % 2 else re.sub(r"\s+", " ", p) for i, p in enumerate(parts)).strip()


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def exposed_metrics(c):
    """The series Chirp's /metrics pages hold, and Prometheus's own `up`."""
    try:
        names = chirp_metrics.series_names(c.root)
        c.ok(f"crates/*/src: {len(names)} metric series registered")
        return names | {"up"}
    except (chirp_metrics.ScanError, OSError) as e:
        c.fail("crates/*/src: the metrics Chirp registers", str(e))
        return {"up"}


def check_rules(c, path, known):
    """The rules' expressions, and the names they record (which dashboards may use)."""
    recorded = set()
    try:
        rules = load_yaml(path)
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    recorded.add(rule["record"])
                kind = "record" if "record" in rule else "alert"
                c.expressions.append((f"{kind} {c.rel(path)} {rule.get(kind)}", one_line(rule["expr"])))
        for group in rules["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule.get("alert")
                unknown = metric_names(rule["expr"]) - known - recorded
                if unknown:
                    raise ValueError(f"{name}: unknown metrics {sorted(unknown)}")
                if "alert" in rule:
                    for key in ("summary", "description"):
                        if not rule.get("annotations", {}).get(key):
                            raise ValueError(f"{name}: no {key} annotation")
                    if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                        raise ValueError(f"{name}: severity label missing or unknown")
        c.ok(f"{c.rel(path)}: metrics known, alerts have severity, summary and description")
    except Exception as e:  # noqa: BLE001 - any error is this check's failure
        c.fail(c.rel(path), str(e))
    return recorded


def panels_of(items):
    for p in items:
        yield p
        yield from panels_of(p.get("panels", []))


def substitute(expr, variables):
    """The expression with Grafana's variables replaced by values Prometheus can run."""
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


def dashboard_variables(d, problems):
    variables = {}
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") in ("constant", "custom", "textbox"):
            variables[v["name"]] = str(v.get("query", ""))
        else:
            variables[v["name"]] = v.get("allValue") or ".+"
        if v.get("type") == "query" and v.get("datasource") != DS:
            problems.append(f"variable {v['name']}: datasource is not {DS}")
    return variables


def check_panel(c, p, path, variables, known, problems):
    """Checks one panel; the number of its targets."""
    title = p.get("title", "?")
    if p.get("type") not in ("timeseries", "stat"):
        problems.append(f"panel {title!r}: type {p.get('type')}")
    if p.get("datasource") != DS:
        problems.append(f"panel {title!r}: datasource is not {DS}")
    targets = p.get("targets") or []
    if not targets:
        problems.append(f"panel {title!r}: no targets")
    count = 0
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
        unknown = metric_names(expr) - known
        if unknown:
            problems.append(f"panel {title!r}: unknown metrics {sorted(unknown)}")
        try:
            c.expressions.append((f"dashboard {c.rel(path)} {title!r} {t.get('refId')}",
                                  one_line(substitute(expr, variables))))
        except ValueError as e:
            problems.append(f"panel {title!r}: {e}")
        count += 1
    return count


def check_dashboards(c, dash_dir, known):
    uids = {}
    names = sorted(f for f in os.listdir(dash_dir) if f.endswith(".json"))
    if not names:
        c.fail("deploy/grafana/dashboards", "no dashboards")
    for name in names:
        path = os.path.join(dash_dir, name)
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            problems = []
            if d.get("schemaVersion") != 39:
                problems.append(f"schemaVersion {d.get('schemaVersion')}, not 39")
            if not d.get("uid") or not d.get("title"):
                problems.append("no uid or title")
            elif d["uid"] in uids:
                problems.append(f"uid {d['uid']} also in {uids[d['uid']]}")
            uids[d.get("uid")] = name
            variables = dashboard_variables(d, problems)
            ids = set()
            count = 0
            for p in panels_of(d.get("panels", [])):
                if p.get("id") in ids:
                    problems.append(f"panel id {p.get('id')} twice")
                ids.add(p.get("id"))
                if "gridPos" not in p:
                    problems.append(f"panel {p.get('title', '?')!r}: no gridPos")
                if p.get("type") != "row":
                    count += check_panel(c, p, path, variables, known, problems)
            if problems:
                c.fail(c.rel(path), "; ".join(problems))
            else:
                c.ok(f"{c.rel(path)}: {count} targets")
        except Exception as e:  # noqa: BLE001
            c.fail(c.rel(path), str(e))


def check_provisioning(c, deploy):
    try:
        prov = os.path.join(deploy, "grafana", "provisioning")
        ds = load_yaml(os.path.join(prov, "datasources", "prometheus.yml"))
        if DS["uid"] not in {x["uid"] for x in ds["datasources"]}:
            raise ValueError(f"no data source with uid {DS['uid']}")
        providers = load_yaml(os.path.join(prov, "dashboards", "chirp.yml"))["providers"]
        compose = load_yaml(os.path.join(deploy, "docker-compose.yml"))
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
        c.ok("deploy/grafana/provisioning: data source uid and dashboard path match the dashboards and compose")
    except Exception as e:  # noqa: BLE001
        c.fail("deploy/grafana/provisioning", str(e))


def check_file(c, path, check):
    try:
        c.ok(f"{c.rel(path)}: {check(path)}")
    except Exception as e:  # noqa: BLE001
        c.fail(c.rel(path), str(e))


def check_logging(c, deploy):
    check_file(c, os.path.join(deploy, "kibana", "saved-objects.ndjson"), elastic_files.kibana_saved_objects)
    ls_dir = os.path.join(deploy, "logstash")
    for sub, check in (("pipeline", elastic_files.logstash_pipeline), ("templates", elastic_files.json_file)):
        for dirpath, _, files in os.walk(os.path.join(ls_dir, sub)):
            for name in sorted(files):
                check_file(c, os.path.join(dirpath, name), check)


def write_promtool_inputs(c, prom, work):
    rules_abs = os.path.join(prom, "rules", "chirp.rules.yml")
    # The local stack's configuration, rendered as its scripts do.
    with open(os.path.join(prom, "local.yml.tmpl"), encoding="utf-8") as f:
        tmpl = f.read()
    for marker in ("@TARGETS@", "@RULES@"):
        if marker not in tmpl:
            c.fail("deploy/prometheus/local.yml.tmpl", f"no {marker}")
    rendered = tmpl.replace("@TARGETS@", '["127.0.0.1:18081", "127.0.0.1:18082", "127.0.0.1:18083"]')
    with open(os.path.join(work, "local.yml"), "w", encoding="utf-8") as f:
        f.write(rendered.replace("@RULES@", rules_abs))
    # For a promtool built without Kubernetes discovery (Debian's).
    try:
        k8s = load_yaml(os.path.join(prom, "kubernetes.yml"))
        k8s["rule_files"] = [os.path.join(prom, r) for r in k8s.get("rule_files", [])]
        for sc in k8s["scrape_configs"]:
            sds = sc.pop("kubernetes_sd_configs", None)
            if sds is None:
                continue
            for sd in sds:
                if sd.get("role") not in K8S_ROLES:
                    raise ValueError(f"{sc['job_name']}: kubernetes_sd role {sd.get('role')}")
                for sel in sd.get("selectors", []):
                    if set(sel) - {"role", "label", "field"} or sel.get("role") != sd["role"]:
                        raise ValueError(f"{sc['job_name']}: selector {sel}")
            sc["static_configs"] = [{"targets": ["127.0.0.1:18081"]}]
        with open(os.path.join(work, "kubernetes-static.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(k8s, f, sort_keys=False)
    except Exception as e:  # noqa: BLE001
        c.fail("deploy/prometheus/kubernetes.yml", str(e))
    # An expression used in several places is kept once, with all of its origins.
    seen, unique = {}, []
    for source, expr in c.expressions:
        if expr in seen:
            unique[seen[expr]][0].append(source)
        else:
            seen[expr] = len(unique)
            unique.append(([source], expr))
    as_rules = {"groups": [{"name": "expressions", "rules": [
        {"record": f"expression_{i}", "expr": expr} for i, (_, expr) in enumerate(unique)]}]}
    with open(os.path.join(work, "expressions.rules.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(as_rules, f, sort_keys=False, width=1000)
    with open(os.path.join(work, "expressions.txt"), "w", encoding="utf-8") as f, \
            open(os.path.join(work, "expressions.sources"), "w", encoding="utf-8") as g, \
            open(os.path.join(work, "expressions.origins"), "w", encoding="utf-8") as h:
        for i, (sources, expr) in enumerate(unique):
            f.write(expr + "\n")
            g.write(f"expression_{i}: {'; '.join(sources)}\n")
            h.write("\t".join(sources) + "\n")


def main(root, work):
    c = Checks(root)
    deploy = os.path.join(root, "deploy")
    prom = os.path.join(deploy, "prometheus")
    known = exposed_metrics(c)
    recorded = check_rules(c, os.path.join(prom, "rules", "chirp.rules.yml"), known)
    check_dashboards(c, os.path.join(deploy, "grafana", "dashboards"), known | recorded)
    check_provisioning(c, deploy)
    check_logging(c, deploy)
    write_promtool_inputs(c, prom, work)
    for passed, name, why in c.results:
        print(("ok   " if passed else "FAIL ") + name + ("" if passed else "\n     " + why))
    print(f"COUNTS {sum(1 for r in c.results if r[0])} {sum(1 for r in c.results if not r[0])}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
