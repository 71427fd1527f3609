#!/usr/bin/env python3
"""Asks a live Prometheus, for scripts/check-prometheus-live.sh.

usage:
  scripts/check-prometheus-live.py up PROMETHEUS COUNT SECS
      Waits up to SECS until COUNT targets of job "chirp" are up; if they are not, lists
      every target's health and exits 1.
  scripts/check-prometheus-live.py run PROMETHEUS EXPRESSIONS ORIGINS [--verbose]
      Runs each expression of EXPRESSIONS (one a line) as an instant query. ORIGINS says
      on line N where line N's expression comes from (scripts/check-observability.sh
      writes both). Each must be answered with status "success", and each must return at
      least one sample unless it is only an alert's condition (such as `> 0.05`), which a
      healthy system leaves empty. --verbose lists those empty conditions. Exits 1 if
      any expression fails.

PROMETHEUS is its base URL, e.g. http://127.0.0.1:9090."""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def query(prom, expr):
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


def up(prom, count, secs):
    deadline = time.monotonic() + float(secs)
    have = 0
    while True:
        result = query(prom, 'count(up{job="chirp"} == 1)').get("data", {}).get("result", [])
        have = int(float(result[0]["value"][1])) if result else 0
        if have == int(count) or time.monotonic() > deadline:
            break
        time.sleep(1)
    if have == int(count):
        print(f"all {have} targets up")
        return 0
    print(f"only {have} of {count} targets are up:", file=sys.stderr)
    with urllib.request.urlopen(prom + "/api/v1/targets", timeout=15) as res:
        for t in json.load(res)["data"]["activeTargets"]:
            print(" ", t["scrapeUrl"], t["health"], t.get("lastError", ""), file=sys.stderr)
    return 1


def run(prom, exprs_path, origins_path, *flags):
    verbose = "--verbose" in flags
    with open(exprs_path, encoding="utf-8") as f:
        exprs = f.read().splitlines()
    with open(origins_path, encoding="utf-8") as f:
        origins = [line.split("\t") for line in f.read().splitlines()]
    if len(exprs) != len(origins):
        sys.exit("expressions and origins do not line up")
    ok = empty_allowed = 0
    failures, notes = [], []
    for expr, srcs in zip(exprs, origins):
        where = "; ".join(srcs)
        answer = query(prom, expr)
        if answer.get("status") != "success":
            failures.append((f"status {answer.get('status')}: {answer.get('error')}", where, expr))
            continue
        data = answer["data"]
        # A scalar or a string is always one sample.
        samples = len(data["result"]) if data["resultType"] in ("vector", "matrix") else 1
        if samples:
            ok += 1
            if data["resultType"] == "vector" and all(r["value"][1] == "NaN" for r in data["result"]):
                notes.append(f"only NaN: {expr}  ({where})")
        elif {s.split()[0] for s in srcs} == {"alert"}:
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
    return 1 if failures else 0


COMMANDS = {"up": (up, 3), "run": (run, 3)}

if __name__ == "__main__":
    name, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    command, at_least = COMMANDS.get(name, (None, 0))
    if command is None or len(args) < at_least:
        sys.exit(__doc__)
    sys.exit(command(*args))
