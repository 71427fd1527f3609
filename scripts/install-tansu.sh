#!/usr/bin/env bash
# Prints the path of a tansu 0.6.0 (a Kafka-protocol broker) that can keep its log in
# memory and in S3 (`dynostore`), installing it with cargo first if the one in cargo's
# bin is missing or was built without that feature (about 15 minutes, once per machine).
# (Its SQLite storage panicked under the fault tests; its PostgreSQL storage needs a
# schema that tansu 0.6 does not ship.)
set -euo pipefail
scripts=$(dirname "$0")
cargo_home=${CARGO_HOME:-$HOME/.cargo}
bin="$cargo_home/bin"
features=dynostore
if ! { [ -x "$bin/tansu" ] &&
  python3 "$scripts/cargo-installed.py" "$cargo_home/.crates2.json" tansu 0.6.0 "$features" 2>/dev/null; }; then
  echo "installing tansu 0.6.0, a Kafka-compatible broker (about 15 minutes, once per machine)" >&2
  cargo install tansu@0.6.0 --locked --features "$features" >&2
fi
echo "$bin/tansu"
