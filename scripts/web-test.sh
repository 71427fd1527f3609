#!/usr/bin/env bash
# The web client's browser tests: scripts/web-test.py in Debian's Chromium (installed with
# apt when missing) driven by Playwright (PyPI, in .build/venv; it downloads no browser),
# with axe-core (npm, in .build/axe) injected for the accessibility check, screenshots
# and report.json going to OUT_DIR; then scripts/web-firefox.mjs in Debian's firefox-esr
# (apt) driven by puppeteer-core (npm, in .build/puppeteer) over WebDriver BiDi.
#
# Usage: scripts/web-test.sh OUT_DIR [BASE_URL]
#   Without BASE_URL: against a fresh `chirp all` of its own (target/debug/chirp), stopped
#   after, pass or fail. With BASE_URL (a local stack's gateway): against that.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

out=${1:?usage: scripts/web-test.sh OUT_DIR [BASE_URL]}
[ -x /usr/bin/chromium ] || apt_install chromium
[ -x /usr/bin/firefox-esr ] || apt_install firefox-esr
# Pinned: the version whose API the test was written against.
venv_module playwright playwright==1.65.3
axe_dir="$root/.build/axe"
axe="$axe_dir/node_modules/axe-core/axe.min.js"
if [ ! -f "$axe" ]; then
  echo "installing axe-core (npm)" >&2
  mkdir -p "$axe_dir"
  npm install --silent --no-audit --no-fund --prefix "$axe_dir" axe-core@4.14.1 >/dev/null
fi
puppeteer_dir="$root/.build/puppeteer"
if [ ! -d "$puppeteer_dir/node_modules/puppeteer-core" ]; then
  echo "installing puppeteer-core (npm)" >&2
  mkdir -p "$puppeteer_dir"
  # No browser download: it drives the firefox-esr apt installed.
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix "$puppeteer_dir" \
    puppeteer-core@25.19.0 >/dev/null
fi

work=$(mktemp -d)
cleanup() {
  [ ! -f "$work/chirp.pid" ] || stop_group "$(cat "$work/chirp.pid")"
  rm -rf "$work"
}
trap cleanup EXIT

ttl=()
if [ $# -ge 2 ]; then
  base=${2%/}
  label="local stack through NGINX"
else
  port=$(free_port)
  base="http://127.0.0.1:$port"
  label="chirp all"
  # Seven accounts from one address in a minute: more than a person makes (5 in 30
  # minutes by default), so that limit is off here; the others stay as shipped. Access
  # tokens live 20 s, shorter than the run, so that a tab left open must renew its own.
  ttl=(--token-ttl 20)
  spawn_group "$work/chirp.pid" "$work/chirp.log" target/debug/chirp all \
    --listen "127.0.0.1:$port" --mastodon-listen off --data-dir "$work/data" --insecure-fast-hashing \
    --signup-limit-per-address off --access-token-ttl-secs 20
  wait_ready "$base" 30 || { cat "$work/chirp.log" >&2; echo "chirp all did not become ready" >&2; exit 1; }
fi

if ! "$venv/bin/python" scripts/web-test.py "$base" "$out" "$axe" --label "$label" "${ttl[@]}" ||
  ! node scripts/web-firefox.mjs "$base" "$puppeteer_dir"; then
  [ ! -f "$work/chirp.log" ] || tail -20 "$work/chirp.log" >&2
  exit 1
fi
