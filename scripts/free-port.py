#!/usr/bin/env python3
"""Prints a TCP port that is free on 127.0.0.1 (scripts/lib.sh's `free_port`).

usage: scripts/free-port.py [--cluster]

With --cluster, a port P between 20000 and 45000 such that P + 10000 is free too: a
Redis Cluster node listens on both (its cluster bus)."""

import random
import socket
import sys


def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main(args):
    if args == ["--cluster"]:
        while True:
            port = random.randint(20000, 45000)
            if free(port) and free(port + 10000):
                return port
    if args:
        sys.exit(__doc__)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    print(main(sys.argv[1:]))
