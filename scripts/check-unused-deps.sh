#!/usr/bin/env bash
# Unused Rust dependencies (part of `make lint`): cargo-machete over the workspace, from
# crates.io, `cargo install`ed into cargo's bin first when it is missing (a minute or two,
# once per machine). It reads the sources, so a crate used only through another crate's
# macros can look unused: such a crate is named in its Cargo.toml's
# [package.metadata.cargo-machete] ignored list, with the reason beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-machete >/dev/null && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo-machete" ]; then
  echo "installing cargo-machete" >&2
  cargo install cargo-machete --locked >&2
fi
cargo machete
python3 scripts/unused-workspace-deps.py
