#!/usr/bin/env python3
"""Finds the processes a test run left behind, and ends them.

usage: scripts/leftovers.py NAME=VALUE [FILE]

A process is one the run started if its environment holds NAME=VALUE or it holds FILE
open: scripts/with-deps.sh exports CHIRP_TEST_RUN=<a value of its own> and keeps a file
of the run's open, and every process of the run inherits both. (The file is for servers
that write their process title over their environment: Redis, NGINX, PostgreSQL's
backends.) Each that is still alive two seconds on, other than this program and its
ancestors (the script that asks), is printed with its pid and command line, then sent
SIGTERM, and SIGKILL two seconds later if it is still there. Exits 1 if there was any,
else 0."""

import os
import signal
import sys
import time


def proc(pid, name):
    with open(f"/proc/{pid}/{name}", "rb") as f:
        return f.read()


def parent_and_state(pid):
    # The command name, in parentheses, may hold spaces: the fields after it are fixed.
    after_name = proc(pid, "stat").rsplit(b")", 1)[1].split()
    return int(after_name[1]), after_name[0].decode()


def ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = parent_and_state(pid)[0]
        except OSError:
            break
    return pids


def holds(pid, path):
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) == path:
                return True
        except OSError:  # closed meanwhile
            continue
    return False


def marked(marker, path, spare):
    """The live processes (not zombies) whose environment holds `marker` or that hold
    `path` open."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spare:
            continue
        pid = int(entry)
        try:
            if marker not in proc(pid, "environ").split(b"\0") and not (path and holds(pid, path)):
                continue
            if parent_and_state(pid)[1] == "Z":
                continue
            found.append(pid)
        except OSError:  # gone, or a kernel thread
            continue
    return found


def alive(pid):
    try:
        return parent_and_state(pid)[1] != "Z"
    except OSError:
        return False


def command_line(pid):
    try:
        return proc(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def wait_gone(pids, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def main(marker, path=None):
    if "=" not in marker or marker.endswith("="):
        sys.exit(__doc__)
    path = path and os.path.realpath(path)
    # A process signalled a moment ago may still be on its way out.
    left = wait_gone(marked(marker.encode(), path, ancestors()), 2)
    if not left:
        print(f"no process of this run ({marker}) is left")
        return 0
    print(f"{len(left)} processes of this run ({marker}) are still alive:", file=sys.stderr)
    for pid in left:
        print(f"  {pid}: {command_line(pid)}", file=sys.stderr)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        left = wait_gone(left, 2)
        if not left:
            break
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]) if len(sys.argv) in (2, 3) else __doc__)
