#!/usr/bin/env python3
"""Checks deploy/k8s's NetworkPolicies against the rest of the rendered manifests (read
from stdin, the output of `kubectl kustomize deploy/k8s`):
  - every Chirp pod is selected by a policy, and no policy admits everyone (a rule
    without `from`);
  - the pods that serve the internal API serve it on a port of its own (`internal`),
    which admits Chirp's own pods and nobody else (AuthService's: the Mastodon API's pods
    and nobody else), and which no Ingress routes to; their other ports admit, from
    outside the namespace, only the ingress controller and Prometheus, and TimelineService
    and FanoutService (nothing outside Chirp calls them) not the ingress controller
    either; peers are configured to call that port;
  - the Mastodon API is on an origin of its own: every Ingress rule that routes to it has
    a host, and routes that host to nothing else;
  - every Service the Ingress routes to admits the ingress controller, and every pod
    that asks to be scraped admits Prometheus (else the policy would break them).
Exits non-zero, naming what is wrong."""
import sys

import yaml

INGRESS_NS = "ingress-nginx"
MONITORING_NS = "monitoring"
PEERS_ONLY = {"timeline", "fanout"}
MASTODON = "mastodon"

docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
policies = by_kind.get("NetworkPolicy", [])
problems = []


def selects(selector, labels):
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        op, key, values = e["operator"], e["key"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def admitted(labels, port=None):
    """What the policies selecting pods of `labels` let in (on `port`, a port name, when
    given): ('pods', selector) and ('namespace', name); None when some rule admits
    everyone."""
    peers = []
    for p in policies:
        if not selects(p["spec"]["podSelector"], labels):
            continue
        for rule in p["spec"].get("ingress") or []:
            ports = {q.get("port") for q in rule.get("ports") or []}
            if port is not None and ports and port not in ports:
                continue
            if not rule.get("from"):
                return None
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    ns = (peer["namespaceSelector"].get("matchLabels") or {}).get(
                        "kubernetes.io/metadata.name", "*")
                    peers.append(("namespace", ns))
                else:
                    peers.append(("pods", peer.get("podSelector")))
    return peers


CHIRP_PODS = {"matchLabels": {"app.kubernetes.io/name": "chirp"}}
MASTODON_PODS = {"matchLabels": {"app.kubernetes.io/name": "chirp", "app.kubernetes.io/component": MASTODON}}
# The services with an internal API, and the only pods its port may admit.
INTERNAL_API = {"read": CHIRP_PODS, "graph": CHIRP_PODS, "timeline": CHIRP_PODS, "auth": MASTODON_PODS}
# The configuration's addresses of an internal API: each must be that Service's internal port.
INTERNAL_URLS = ("CHIRP_READ_URL", "CHIRP_GRAPH_URL", "CHIRP_TIMELINE_URL", "CHIRP_AUTH_INTERNAL_URL")


pods = {}
for dep in by_kind.get("Deployment", []):
    tmpl = dep["spec"]["template"]
    labels = tmpl["metadata"].get("labels") or {}
    name = dep["metadata"]["name"]
    pods[name] = (labels, tmpl["metadata"].get("annotations") or {})
    if not any(selects(p["spec"]["podSelector"], labels) for p in policies):
        problems.append(f"Deployment {name}: no NetworkPolicy selects its pods")
        continue
    peers = admitted(labels)
    if peers is None:
        problems.append(f"Deployment {name}: a policy admits every pod of the cluster")
        continue
    namespaces = {n for kind, n in peers if kind == "namespace"}
    component = labels.get("app.kubernetes.io/component")
    extra = namespaces - {INGRESS_NS, MONITORING_NS}
    if extra:
        problems.append(f"Deployment {name} admits namespaces {sorted(extra)}")
    ports = {q.get("name") for c in tmpl["spec"]["containers"] for q in c.get("ports") or []}
    if component in INTERNAL_API:
        if "internal" not in ports:
            problems.append(f"Deployment {name} serves /internal/v1 but has no port named internal")
        callers = INTERNAL_API[component]
        inside = admitted(labels, "internal") or [("everyone", None)]
        outsiders = [peer for peer in inside if peer != ("pods", callers)]
        if outsiders:
            problems.append(f"Deployment {name}: its internal port admits {outsiders}, not only {callers}")
    if component in PEERS_ONLY and INGRESS_NS in namespaces:
        problems.append(f"Deployment {name}: the ingress controller is admitted, though nothing outside Chirp calls it")
    scraped = (pods[name][1] or {}).get("prometheus.io/scrape") == "true"
    if scraped and MONITORING_NS not in namespaces:
        problems.append(f"Deployment {name} asks to be scraped but Prometheus ({MONITORING_NS}) is not admitted")

services = {s["metadata"]["name"]: s["spec"]["selector"] for s in by_kind.get("Service", [])}
internal_ports = {
    s["metadata"]["name"]: {q.get("name") for q in s["spec"]["ports"] if q.get("targetPort") == "internal"} |
    {q.get("port") for q in s["spec"]["ports"] if q.get("targetPort") == "internal"}
    for s in by_kind.get("Service", [])
}
for cm in by_kind.get("ConfigMap", []):
    for key in INTERNAL_URLS:
        url = (cm.get("data") or {}).get(key)
        if url is None:
            continue
        host, _, port = url.split("//", 1)[-1].rstrip("/").partition(":")
        if int(port or 80) not in internal_ports.get(host, set()):
            problems.append(f"ConfigMap {cm['metadata']['name']}: {key}={url} is not the internal port of Service {host}")
# The Services each host routes to (None: the rules without a host).
routed = {}
for ing in by_kind.get("Ingress", []):
    for rule in ing["spec"].get("rules") or []:
        for path in rule["http"]["paths"]:
            svc = path["backend"]["service"]["name"]
            routed.setdefault(rule.get("host"), set()).add(svc)
            port = path["backend"]["service"].get("port") or {}
            if port.get("name") in internal_ports.get(svc, set()) or port.get("number") in internal_ports.get(svc, set()):
                problems.append(f"Ingress routes {path['path']} to the internal port of {svc}")
            selector = services.get(svc)
            if selector is None:
                problems.append(f"Ingress routes {path['path']} to an unknown Service {svc}")
                continue
            for name, (labels, _) in pods.items():
                if all(labels.get(k) == v for k, v in selector.items()):
                    peers = admitted(labels, "http")
                    if peers is not None and ("namespace", INGRESS_NS) not in peers:
                        problems.append(f"Ingress routes {path['path']} to {name}, whose pods do not admit the ingress controller")

for host, svcs in routed.items():
    if MASTODON not in svcs:
        continue
    if host is None:
        problems.append("an Ingress rule without a host routes to the Mastodon API: it would share Chirp's origin")
    elif svcs != {MASTODON}:
        problems.append(f"host {host} routes to the Mastodon API and to {sorted(svcs - {MASTODON})}: "
                        "the Mastodon API's paths collide with Chirp's, so it needs a host of its own")
if MASTODON in services and not any(MASTODON in svcs for svcs in routed.values()):
    problems.append("no Ingress routes to the Mastodon API's Service")

if not policies:
    problems.append("no NetworkPolicy in deploy/k8s")
for p in problems:
    print(f"network policy check: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"network policies: {len(policies)} policies cover {len(pods)} Deployments")
