#!/usr/bin/env python3
"""The metric series Chirp exposes, read from its Rust sources instead of a hand-kept list.

usage: scripts/chirp_metrics.py [ROOT]   prints them, one a line (ROOT: the repository)

A family is registered through the process's `Telemetry` (crates/core/src/http/metrics.rs):
`counter_with("name", ...)`, `counter_family(`, `gauge_with(`, `float_gauge_with(`,
`histogram_with(`, or `registry.register("name", help, metric)` with the metric's type
declared in the same file. The name is a string literal or a constant of the crate. The
registry prefixes `chirp_`; a counter is read as NAME_total, a histogram as NAME_bucket,
NAME_sum and NAME_count. scripts/check-observability-files.py imports `series_names`."""

import glob
import os
import re
import sys

PREFIX = "chirp_"
KIND_OF_METHOD = {
    "counter_with": "counter", "counter_family": "counter", "gauge_with": "gauge",
    "float_gauge_with": "gauge", "histogram_with": "histogram",
}
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
STRING = r'"((?:[^"\\]|\\.)*)"'
CALL = re.compile(
    r"\.\s*(counter_with|counter_family|gauge_with|float_gauge_with|histogram_with|register)"
    rf"\s*\(\s*(?:{STRING}|([A-Za-z_]\w*))")
# The rest of `register("name", "help", METRIC`: the metric's variable.
REGISTERED = re.compile(rf"\s*,\s*{STRING}\s*,\s*&?([a-z_]\w*)")
CONST = re.compile(rf"\bconst\s+([A-Z_][A-Z0-9_]*)\s*:\s*&(?:'static\s+)?str\s*=\s*{STRING}")


class ScanError(Exception):
    pass


def source(path):
    """The file's code: no comment lines (doc examples name calls too), no test module."""
    with open(path, encoding="utf-8") as f:
        lines = ["\n" if line.lstrip().startswith("//") else line for line in f]
    text = "".join(lines)
    tests = re.search(r"#\[cfg\(test\)\]\s*mod\s", text)
    return text[:tests.start()] if tests else text


def kind_of_variable(text, at, var, where):
    """What a variable passed to `register` at `at` holds: from the last `let` of it
    before there, else from a field of that name."""
    lets = re.findall(rf"\blet\s+(?:mut\s+)?{var}\b[^;]*;", text[:at])
    field = re.search(rf"\b{var}\s*:[^\n]*", text)
    decl = lets[-1] if lets else field.group(0) if field else ""
    kinds = re.findall(r"\b(Histogram|Counter|Gauge)\b", decl)
    if not kinds:
        raise ScanError(f"{where}: cannot tell what kind of metric `{var}` is")
    return kinds[0].lower()


def families(root):
    """{family name (unprefixed): kind} of every registration in crates/*/src."""
    files = {p: source(p) for p in sorted(glob.glob(os.path.join(root, "crates/*/src/**/*.rs"),
                                                    recursive=True))}
    consts = {}
    for path, text in files.items():
        for name, value in CONST.findall(text):
            consts.setdefault(name, {})[path] = value
    found = {}
    for path, text in files.items():
        for m in CALL.finditer(text):
            method, literal, ident = m.groups()
            where = f"{os.path.relpath(path, root)}:{text.count(chr(10), 0, m.start()) + 1}"
            if literal is not None:
                name = literal
            elif ident.isupper():
                values = consts.get(ident, {})
                if path in values:
                    name = values[path]
                elif len(set(values.values())) == 1:
                    name = next(iter(values.values()))
                else:
                    raise ScanError(f"{where}: no single constant {ident} to name the metric")
            else:
                continue  # a parameter passed on: Telemetry's own plumbing
            if method == "register":
                rest = REGISTERED.match(text, m.end())
                if not rest:
                    raise ScanError(f"{where}: cannot read the metric registered as {name!r}")
                kind = kind_of_variable(text, m.start(), rest.group(2), where)
            else:
                kind = KIND_OF_METHOD[method]
            if found.get(name, kind) != kind:
                raise ScanError(f"{where}: {name} registered as a {kind} and a {found[name]}")
            found[name] = kind
    if not found:
        raise ScanError(f"no metric registration found in {root}/crates/*/src")
    return found


def series_names(root):
    """The names of the series Chirp's /metrics pages can hold."""
    return {PREFIX + name + suffix
            for name, kind in families(root).items() for suffix in SUFFIXES[kind]}


if __name__ == "__main__":
    try:
        names = series_names(sys.argv[1] if len(sys.argv) > 1 else
                             os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    except ScanError as e:
        sys.exit(f"chirp_metrics: {e}")
    print("\n".join(sorted(names)))
