#!/usr/bin/env python3
"""What one step of load cost the local stack, process by process and call by call.

  profile_stack.py snap STATE_DIR OUT.json   CPU ticks of every process group (named by
                                             the stack's pid files), every service's
                                             request and dependency-call counters, and the
                                             requests the broker made of its S3 store (by
                                             kind, from the S3 server's log), when it has one
  profile_stack.py diff A.json B.json N      CPU time and calls per request over N requests
"""

import glob
import json
import os
import re
import sys
import urllib.request

LABELS = re.compile(r'(\w+)="([^"]*)"')


def cpu(state):
    """CPU ticks (user and system) by process group, named by the stack's pid files."""
    names = {}
    for f in glob.glob(f"{state}/*.pid") + glob.glob(f"{state}/nginx/nginx.pid"):
        try:
            with open(f) as pid:
                names[int(pid.read().split()[0])] = os.path.basename(f)[:-4]
        except (OSError, ValueError, IndexError):
            pass
    out = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        name = names.get(int(fields[2])) or comm
        if name.startswith("postgres"):
            name = "postgres"
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def calls(env_file):
    """Requests served (by route) and dependency calls (by operation), per service."""
    urls = {}
    with open(env_file) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            # A service's internal listener is the same process: counted once.
            if value.startswith("http://") and "GATEWAY" not in key and "INTERNAL" not in key:
                urls[key] = value
    out = {}
    for name, url in urls.items():
        try:
            with urllib.request.urlopen(url + "/metrics", timeout=5) as res:
                text = res.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            for metric, arrow, fields in (
                ("chirp_http_requests_total", "<-", ("method", "route")),
                ("chirp_dependency_duration_seconds_count", "->", ("dependency", "operation")),
            ):
                m = re.match(metric + r"\{(.*)\} (\S+)", line)
                if m:
                    labels = dict(LABELS.findall(m.group(1)))
                    key = f"{name} {arrow} " + " ".join(labels.get(x, "") for x in fields)
                    out[key] = out.get(key, 0) + float(m.group(2))
    return out


def s3_kind(line):
    """The kind of an S3 request in moto's log: the method and what tansu keeps at the
    path (a listing of a partition's batches, a group's state, a group's offset of a
    partition, a partition's watermark, a batch, ...)."""
    m = re.search(r'"(?:\x1b\[[0-9;]*m)*(\w+) (\S+) HTTP', line)
    if not m:
        return None
    method, path = m.groups()
    if "list-type=" in path:
        return f"{method} (list) " + ("batches" if "records" in path else "other")
    path = path.split("?")[0]
    for pattern, kind in (
        (r"/offsets/", "group offset"),
        (r"/groups/consumers/[^/]+\.json$", "group state"),
        (r"/watermark\.json$", "watermark"),
        (r"/records/", "batch"),
        (r"/producers", "producer"),
        (r"meta\.json$", "meta"),
    ):
        if re.search(pattern, path):
            return f"{method} {kind}"
    return f"{method} other"


def s3(state):
    """Requests the broker made of its S3 store so far, by kind (none on its memory log)."""
    out = {}
    try:
        with open(f"{state}/s3.log", errors="replace") as f:
            for line in f:
                kind = s3_kind(line)
                if kind:
                    out[kind] = out.get(kind, 0) + 1
    except OSError:
        pass
    return out


def main():
    if sys.argv[1] == "snap":
        state, path = sys.argv[2], sys.argv[3]
        with open(path, "w") as f:
            json.dump({"cpu": cpu(state), "calls": calls(f"{state}/env"), "s3": s3(state)}, f)
        return
    with open(sys.argv[2]) as f:
        a = json.load(f)
    with open(sys.argv[3]) as f:
        b = json.load(f)
    n = float(sys.argv[4])
    hz = os.sysconf("SC_CLK_TCK")
    rows = sorted(((b["cpu"][k] - a["cpu"].get(k, 0)) * 1000 / hz, k) for k in b["cpu"])
    total = 0.0
    print(f"CPU over {n:.0f} requests")
    for ms, name in reversed(rows):
        if ms > 0:
            total += ms
            print(f"  {name:30s} {ms:9.0f} ms {ms / n * 1000:9.1f} us a request")
    print(f"  {'all':30s} {total:9.0f} ms {total / n * 1000:9.1f} us a request")
    print("calls per request")
    for key in sorted(b["calls"]):
        d = b["calls"][key] - a["calls"].get(key, 0)
        if d > 0:
            print(f"  {key:70s} {d:8.0f} {d / n:7.3f}")
    s3_a, s3_b = a.get("s3", {}), b.get("s3", {})
    if s3_b:
        print("the broker's S3 requests per request")
        for key in sorted(s3_b, key=lambda k: s3_a.get(k, 0) - s3_b[k]):
            d = s3_b[key] - s3_a.get(key, 0)
            if d > 0:
                print(f"  {key:70s} {d:8.0f} {d / n:7.3f}")


if __name__ == "__main__":
    main()
