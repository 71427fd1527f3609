#!/usr/bin/env python3
"""Checks the logs of Chirp processes (`--log-format json`) after a full API run: every
line is one JSON object with the Elastic Common Schema fields Chirp promises, every
request has its line with the trace and span it belongs to, and no line holds a password,
a token or an email address.

usage: scripts/check-logs.py LOG...
Exits non-zero, naming each offending line, when a check fails."""

import json
import re
import sys

# What the API suite sends as secrets: its passwords (tests/api/*.rs), and the shapes of
# what the service hands out (access tokens are JWTs; refresh tokens end in 43 characters
# of base64url) and of an email address.
PASSWORDS = [
    "secret-password",
    "long enough",
    "analytical engine",
    "not the password",
    "wrong password",
    "whatever password",
]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
REFRESH = re.compile(r"[0-9]+\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

ALWAYS = ["@timestamp", "log.level", "message", "service.name"]
REQUEST = ["http.request.method", "url.path", "http.response.status_code", "event.duration",
           "trace.id", "span.id"]
TRACE_ID = re.compile(r"[0-9a-f]{32}")
SPAN_ID = re.compile(r"[0-9a-f]{16}")


def main(paths):
    problems = []
    requests = 0
    users = 0
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                where = f"{path}:{n}"
                line = line.rstrip("\n")
                if not line:
                    continue
                for secret in PASSWORDS:
                    if secret in line:
                        problems.append(f"{where}: a password ({secret!r})")
                for name, pattern in (("an access token", JWT), ("a refresh token", REFRESH),
                                      ("an email address", EMAIL)):
                    if pattern.search(line):
                        problems.append(f"{where}: {name}")
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError:
                    problems.append(f"{where}: not one JSON object: {line[:120]}")
                    continue
                if not isinstance(doc, dict):
                    problems.append(f"{where}: not a JSON object")
                    continue
                missing = [k for k in ALWAYS if k not in doc]
                if missing:
                    problems.append(f"{where}: without {missing}")
                if doc.get("message") == "request":
                    requests += 1
                    missing = [k for k in REQUEST if k not in doc]
                    if missing:
                        problems.append(f"{where}: a request line without {missing}")
                    if not TRACE_ID.fullmatch(str(doc.get("trace.id", ""))) or \
                            not SPAN_ID.fullmatch(str(doc.get("span.id", ""))):
                        problems.append(f"{where}: a request line without valid trace ids")
                    if "user.id" in doc:
                        users += 1
    if requests == 0:
        problems.append("no request lines at all: are these the logs of an API run?")
    if users == 0:
        problems.append("no request line names its user")
    for p in problems[:50]:
        print(p, file=sys.stderr)
    if problems:
        print(f"log check: {len(problems)} problems", file=sys.stderr)
        return 1
    print(f"log check: {len(paths)} logs, {requests} request lines ({users} with a user), "
          "all ECS JSON, no secrets")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
