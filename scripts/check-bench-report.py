#!/usr/bin/env python3
"""Checks a chirp-bench report (report.json) for completeness after a smoke run: every
section is there, every step sent its requests and got answers without errors, fanout
delivered everything it owed, the fanout lag was sampled, the memory figures were read,
the live streams got every event owed to them and idle streams' memory was read, the tour of the public routes got every answer it wanted, and the plot was written. Figures are not judged: a smoke run is not a timed test.

usage: scripts/check-bench-report.py REPORT"""

import json
import os
import sys


def main(path):
    with open(path, encoding="utf-8") as f:
        r = json.load(f)
    problems = []

    def need(cond, what):
        if not cond:
            problems.append(what)

    for key in ("machine", "settings", "population", "targets", "baselines", "mix",
                "engagement", "compose", "fanout", "fanout_lag", "streams", "memory", "tour"):
        need(key in r, f"no {key} section")
    if problems:
        return report(problems)
    pop = r["population"]
    need(pop["users"] > 0 and pop["follows"] > 0, "an empty population")
    need(pop.get("settle_secs") is not None,
         "the population's events were not all handled before the measurements")
    need(pop["celebrity_followers"] > r["settings"]["threshold"],
         "the celebrity is not above the threshold")
    searches = {"http floor": r["baselines"]["http_floor"], "mix": r["mix"],
                "engagement": r["engagement"], "compose": r["compose"]}
    for name, s in searches.items():
        need(len(s["steps"]) > 0, f"{name}: no steps")
        need(s["sustained"] is not None, f"{name}: not even the first step held")
        for step in s["steps"]:
            need(step.get("started_unix_ms", 0) > 0, f"{name} at {step['rate']}/s: no start time")
            need(isinstance(step.get("slow_windows"), list),
                 f"{name} at {step['rate']}/s: no slow windows")
            for op, o in step["ops"].items():
                need(o["ok"] > 0, f"{name} at {step['rate']}/s: no {op} answered")
                need(o["errors"] == 0,
                     f"{name} at {step['rate']}/s: {op} errors: {o.get('first_error')}")
                need(o["latency"]["p99_ms"] > 0, f"{name}: {op} has no latency")
    mix_ops = set(r["mix"]["steps"][0]["ops"]) if r["mix"]["steps"] else set()
    need(mix_ops == {"home", "user", "compose"}, f"the mix ran {sorted(mix_ops)}")
    engaged = r["engagement"]["steps"]
    engaged_ops = set(engaged[0]["ops"]) if engaged else set()
    need(engaged_ops == {"home", "user", "like", "repost", "reply", "compose"},
         f"the engagement mix ran {sorted(engaged_ops)}")
    need(r["baselines"]["raw_store"]["reads_per_sec"] > 0, "the raw store was not read")
    for key in ("fanout", "fanout_lag"):
        need("error" not in r[key], f"{key}: {r[key].get('error')}")
    need(r["fanout"].get("complete"), "fanout did not deliver everything it owed")
    need((r["fanout"].get("deliveries_per_sec") or 0) > 0, "no fanout rate")
    lag = r["fanout_lag"].get("lag") or {}
    need(lag.get("samples", 0) > 0, "no fanout lag samples")
    need(lag.get("timeouts", 1) == 0, "fanout lag samples timed out")
    need(lag.get("polls", 0) >= lag.get("samples", 0) > 0,
         "the lag probes' timeline reads not counted")
    need((r["memory"]["timeline_entries"] or 0) > 0, "no timeline entries counted")
    need((r["memory"]["bytes_per_entry"] or 0) > 0, "no bytes per entry")
    for key in ("lag", "idle"):
        need("error" not in r["streams"][key], f"streams {key}: {r['streams'][key].get('error')}")
    slag = r["streams"]["lag"]
    need(slag.get("posts", 0) > 0 and slag.get("likes", 0) > 0, "no posts or likes in the stream step")
    need(slag.get("failed_requests", 1) == 0, f"stream step errors: {slag.get('first_error')}")
    need(slag.get("streams_lost", 1) == 0, "streams lost during the stream step")
    for what in ("deliveries", "notifications"):
        need(slag.get(f"{what}_owed", 0) > 0, f"no stream {what} owed")
        need(slag.get(f"{what}_missing", 1) == 0,
             f"stream {what} missing: {slag.get(f'{what}_missing')} of {slag.get(f'{what}_owed')}")
    need(r["streams"]["idle"].get("streams", 0) > 0, "no idle streams opened")
    need(r["streams"]["idle"].get("rss_after") is not None or not r.get("spawned"),
         "the spawned server's memory not read with its idle streams open")
    need(len(r["targets"]) == 9, "not every target reported")
    tour = r["tour"] or {}
    need(len(tour.get("calls", [])) > 0, "no tour of the routes")
    for u in tour.get("unexpected", [])[:5]:
        problems.append(f"tour: {u}")
    plot = os.path.join(os.path.dirname(path), "plot.svg")
    need(os.path.exists(plot) and svg(plot), "no plot.svg")
    return report(problems)


def svg(path):
    with open(path, encoding="utf-8") as f:
        return f.read().startswith("<svg")


def report(problems):
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"bench report: {len(problems)} problems", file=sys.stderr)
        return 1
    print("bench report: complete")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
