"""Offline checks of the files Kibana and Logstash read (neither runs here), for
scripts/check-observability-files.py. Each function raises ValueError (or a JSON or OS
error) naming the first problem, and returns a line saying what was checked."""

import json
import re


def kibana_saved_objects(path):
    """One saved object (type, id, attributes) per line, references resolved, and each
    search source's JSON parses."""
    objects = []
    with open(path, encoding="utf-8") as f:
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
    return f"{len(objects)} objects, references resolved"


def logstash_pipeline(path):
    """Braces and brackets balance outside comments and strings, every string is closed,
    and there are input, filter and output sections."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stack, i, line = [], 0, 1
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
        if not re.search(rf"^{section}\s*\{{", text, re.MULTILINE):
            raise ValueError(f"no {section} section")
    return "balanced, input/filter/output"


def json_file(path):
    with open(path, encoding="utf-8") as f:
        json.load(f)
    return "JSON"
