#!/usr/bin/env bash
# Prints the path of a tansu 0.6.0 (a Kafka-protocol broker) that can keep its log in
# memory and in S3 (`dynostore`), installing it with cargo first if the one in cargo's
# bin is missing or was built without that feature (about 15 minutes, once per machine).
# (Its SQLite storage panicked under the fault tests; its PostgreSQL storage needs a
# schema that tansu 0.6 does not ship.)
set -euo pipefail
bin="${CARGO_HOME:-$HOME/.cargo}/bin"
features=dynostore
has_features() {
  [ -x "$bin/tansu" ] && python3 - "${CARGO_HOME:-$HOME/.cargo}/.crates2.json" "$features" <<'PY'
import json, sys
installs = json.load(open(sys.argv[1]))["installs"]
want = set(sys.argv[2].split(","))
ok = any(k.startswith("tansu 0.6.0 ") and want <= set(v.get("features", [])) for k, v in installs.items())
sys.exit(0 if ok else 1)
PY
}
if ! has_features 2>/dev/null; then
  echo "installing tansu 0.6.0, a Kafka-compatible broker (about 15 minutes, once per machine)" >&2
  cargo install tansu@0.6.0 --locked --features "$features" >&2
fi
echo "$bin/tansu"
