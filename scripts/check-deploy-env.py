#!/usr/bin/env python3
"""The settings the deployment files give Chirp, against the ones it reads.

usage: scripts/check-deploy-env.py HELP FILE... [-- OTHER...]

HELP is the output of `chirp --help`, whose every setting names its environment variable
(`[env: CHIRP_LISTEN=]`). Every `CHIRP_*` variable a FILE or OTHER names must be one of
them (a misspelt one would be silently ignored), and each FILE (compose, the Kubernetes
Secret, the local stack) must set the internal API's shared secret. Prints what is wrong
and exits 1, or prints a summary."""

import re
import sys

REQUIRED = "CHIRP_INTERNAL_SECRET"
# Variables of the scripts themselves, not of chirp.
SCRIPTS_OWN = re.compile(r"CHIRP_(STACK|TEST|BINARY|BENCH)\w*")


def main(help_path, *args):
    files = list(args)
    others = []
    if "--" in files:
        at = files.index("--")
        files, others = files[:at], files[at + 1:]
    with open(help_path, encoding="utf-8") as f:
        known = set(re.findall(r"\[env: (\w+)=", f.read()))
    if not known:
        sys.exit(f"{help_path} names no environment variable: is it `chirp --help`?")
    problems = []
    for path in files + others:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        named = {m for m in re.findall(r"\bCHIRP_\w+", text) if not SCRIPTS_OWN.fullmatch(m)}
        for unknown in sorted(named - known):
            problems.append(f"{path}: {unknown} is not a setting of chirp")
        if path in files and REQUIRED not in named:
            problems.append(f"{path}: does not set {REQUIRED}")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"deployment settings: {len(files) + len(others)} files, every CHIRP_ variable known, "
          f"{REQUIRED} set by {len(files)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
