#!/usr/bin/env bash
# Lints the scripts (part of `make lint`): `ruff check` on every scripts/*.py (PyPI ruff,
# installed into .build/venv when missing), `bash -n` on every scripts/*.sh, and then
# ShellCheck on them where it is installed or apt can install it; where neither works
# it is skipped, saying so, so that a machine without it can still lint.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# Pinned: a newer ruff may check more than this one did.
venv_program ruff ruff==0.17.6
"$venv/bin/ruff" check --quiet --cache-dir "$root/.build/ruff-cache" scripts
for f in scripts/*.sh; do bash -n "$f"; done
# The JavaScript: the test programs, and the web client's modules (ES modules all).
for f in scripts/*.mjs crates/web/assets/js/*.js crates/web/assets/js/pages/*.js; do
  node --experimental-default-type=module --check "$f"
done
command -v shellcheck >/dev/null || apt_install shellcheck 2>/dev/null || true
if command -v shellcheck >/dev/null; then
  shellcheck -x scripts/*.sh
  shellchecked=", shellcheck"
else
  shellchecked=""
  echo "skip shellcheck: not installed, and apt could not install it" >&2
fi
py=(scripts/*.py)
sh=(scripts/*.sh)
js=(scripts/*.mjs crates/web/assets/js/*.js crates/web/assets/js/pages/*.js)
echo "scripts lint: ruff check (${#py[@]} files), bash -n$shellchecked (${#sh[@]} files), node --check (${#js[@]} files)"
