#!/usr/bin/env python3
"""Prints a TCP port that is free on 127.0.0.1 (scripts/lib.sh's `free_port`).

usage: scripts/free-port.py [--cluster]

With --cluster, a port P between 20000 and 45000 such that P + 10000 is free too: a
Redis Cluster node listens on both (its cluster bus).

A port is free when it binds, but it has to stay free until the program it is for binds
it, seconds later. Two things took ports in between: an outgoing connection (the kernel
gives those ports of its ephemeral range, net.ipv4.ip_local_port_range, 32768-60999 here,
the same range port 0 binds from; seen: a stack's service failing with "Address already
in use"), and another script of the same run picking the same port. So a port is taken
below the ephemeral range where it can be, and every port handed out is kept in a list
(under a lock, in the temporary directory) and not handed out again for ten minutes."""

import fcntl
import json
import os
import random
import socket
import sys
import tempfile
import time

REGISTRY = os.path.join(tempfile.gettempdir(), "chirp-free-ports.json")
HOLD_SECS = 600


def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def pick(candidates):
    """The first port of `candidates()` (a list of ports that must all be free) whose
    ports are free and not handed out lately; they are recorded as handed out."""
    with open(REGISTRY + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(REGISTRY) as f:
                recent = json.load(f)
        except (OSError, ValueError):
            recent = {}
        now = time.time()
        recent = {p: t for p, t in recent.items() if now - t < HOLD_SECS}
        while True:
            ports = candidates()
            if all(str(p) not in recent and free(p) for p in ports):
                break
        for p in ports:
            recent[str(p)] = now
        tmp = REGISTRY + ".tmp"
        with open(tmp, "w") as f:
            json.dump(recent, f)
        os.replace(tmp, REGISTRY)
        return ports[0]


def main(args):
    if args == ["--cluster"]:
        return pick(lambda: [(p := random.randint(20000, 45000)), p + 10000])
    if args:
        sys.exit(__doc__)
    high = min(ephemeral_low(), 65536) - 1
    return pick(lambda: [random.randint(min(10000, high), high)])


if __name__ == "__main__":
    print(main(sys.argv[1:]))
