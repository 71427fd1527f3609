"""Names every dependency of the workspace's [workspace.dependencies] that no crate uses
(cargo-machete reads each crate, not the workspace table). Exits non-zero if there is one.

Usage: python3 scripts/unused-workspace-deps.py [ROOT]"""
import glob
import os
import sys
import tomllib

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
with open(os.path.join(root, "Cargo.toml"), "rb") as f:
    declared = set(tomllib.load(f)["workspace"]["dependencies"])
used = set()
for path in glob.glob(os.path.join(root, "crates", "*", "Cargo.toml")):
    with open(path, "rb") as f:
        manifest = tomllib.load(f)
    for table in ("dependencies", "dev-dependencies", "build-dependencies"):
        used.update(manifest.get(table, {}))
unused = sorted(declared - used)
for name in unused:
    print(f"Cargo.toml: workspace dependency {name} is used by no crate", file=sys.stderr)
sys.exit(1 if unused else 0)
