# Chirp: every target a newcomer needs. `make test` runs every test from a clean clone.

CARGO ?= cargo

.PHONY: build serve test suites lint fmt walkthrough clean

## Build the release binary.
build:
	$(CARGO) build --release

## Run `chirp all` (the embedded default) on http://127.0.0.1:8080 with data in ./data.
serve:
	$(CARGO) run --release

## Every test: lint, then (with PostgreSQL and Redis started if none runs) the unit and
## port suites, the black-box API suite on the embedded defaults and again on the deployed
## adapters, and the README walk-through.
test: lint
	scripts/with-deps.sh $(MAKE) suites

suites:
	$(CARGO) test --workspace
	CHIRP_TEST_WITH=postgres,redis,elasticsearch,mongodb,kafka $(CARGO) test -p chirp --test api
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
