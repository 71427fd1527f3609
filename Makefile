# Chirp: every target a newcomer needs. `make test` runs every test from a clean clone.

CARGO ?= cargo

.PHONY: build serve test unit api lint fmt walkthrough clean

## Build the release binary.
build:
	$(CARGO) build --release

## Run `chirp all` (the embedded default) on http://127.0.0.1:8080 with data in ./data.
serve:
	$(CARGO) run --release

## Every test: lint, unit and black-box API tests, and the README walk-through.
test: lint
	$(CARGO) test --workspace
	$(MAKE) walkthrough

## Formatting and lints, as CI checks them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Runs the README's curl walk-through against a fresh `chirp all`.
walkthrough:
	$(CARGO) build --bin chirp
	scripts/readme-walkthrough.sh target/debug/chirp

clean:
	$(CARGO) clean
