#!/usr/bin/env python3
"""Tells whether `cargo install` has installed a crate at a version with features.

usage: scripts/cargo-installed.py CRATES2_JSON CRATE VERSION FEATURE[,FEATURE...]

Reads cargo's record of installs (CARGO_HOME/.crates2.json) and exits 0 if CRATE
VERSION is there, built with every FEATURE, else 1 (scripts/install-tansu.sh: a tansu
built without `dynostore` cannot keep its log in memory or S3)."""

import json
import sys


def main(path, crate, version, features):
    with open(path, encoding="utf-8") as f:
        installs = json.load(f)["installs"]
    want = set(features.split(","))
    prefix = f"{crate} {version} "
    return any(key.startswith(prefix) and want <= set(install.get("features", []))
               for key, install in installs.items())


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(0 if main(*sys.argv[1:]) else 1)
