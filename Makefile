# Chirp: every target a newcomer needs. `make test` runs every test from a clean clone.

CARGO ?= cargo

.PHONY: openapi fuzz web-test mastodon-test build serve run stop stack-up stack-down stack-suite test suites lint fmt walkthrough check-deploy check-observability bench bench-stack bench-smoke profile-stack clean

COMPOSE = docker compose -f deploy/docker-compose.yml --env-file deploy/.env

## Build the release binary.
build:
	$(CARGO) build --release

## Run `chirp all` (the embedded default) on http://127.0.0.1:8080 with data in ./data.
serve:
	$(CARGO) run --release

## The deployed shape with docker compose, gateway on http://127.0.0.1:8080 and the
## Mastodon API on http://127.0.0.1:8090 (needs deploy/.env: copy deploy/.env.example).
run: deploy/signing-keys
	$(COMPOSE) up -d --build

## AuthService's key set for `make run`: one Ed25519 key, made once. Readable by the
## container's user (uid 10001), since compose mounts a file secret as it is on the host.
deploy/signing-keys:
	umask 022 && printf '%s\n' "$$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" > $@

stop:
	$(COMPOSE) down

## The deployed shape without Docker: every dependency on loopback, the eight services,
## the web client and the Mastodon API as separate processes, NGINX in front; prints the
## gateway's URL and the Mastodon API's.
stack-up:
	$(CARGO) build --bin chirp
	scripts/stack.sh up

stack-down:
	scripts/stack.sh down

## The black-box API suite through NGINX in front of a local stack of its own (and
## chirp-bench's short run through it, for the live Prometheus check).
stack-suite:
	$(CARGO) build --bin chirp --bin chirp-bench
	scripts/stack-suite.sh

## Every test: lint, then (with PostgreSQL and Redis started if none runs) the unit and
## port suites and the fault tests on local stacks, the black-box API suite on the
## embedded defaults, on the deployed adapters, and through NGINX in front of the local
## stack, the web client in a real browser, the README walk-through, and the deployment
## files.
test: lint
	scripts/with-deps.sh $(MAKE) suites

suites:
	$(CARGO) test --workspace
	CHIRP_TEST_WITH=postgres,redis,elasticsearch,mongodb,kafka $(CARGO) test -p chirp --test api
	$(MAKE) stack-suite
	scripts/schemathesis.sh
	scripts/web-test.sh target/web-test
	scripts/mastodon-test.sh
	$(MAKE) walkthrough
	$(MAKE) check-deploy
	scripts/check-observability.sh
	$(MAKE) bench-smoke

## Formatting and lints, as CI checks them; the scripts (ruff, shellcheck); unused Rust
## dependencies (cargo-machete).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	scripts/lint-scripts.sh
	scripts/check-unused-deps.sh

fmt:
	$(CARGO) fmt --all

## Writes docs/openapi.json from the code (a test fails while it differs).
openapi:
	CHIRP_WRITE_OPENAPI=1 $(CARGO) test -p chirp --lib openapi::tests::the_committed_document_is_the_generated_one

## schemathesis against a fresh `chirp all` (part of `make test`).
fuzz:
	$(CARGO) build --bin chirp
	scripts/schemathesis.sh

## The web client in Debian's Chromium (Playwright) and Firefox ESR (puppeteer-core)
## against a fresh `chirp all`:
## screenshots and the home page's figures in target/web-test (part of `make test`).
web-test:
	$(CARGO) build --bin chirp
	scripts/web-test.sh target/web-test

## The Mastodon API driven by Mastodon.py (PyPI) against a fresh `chirp all` (part of
## `make test`).
mastodon-test:
	$(CARGO) build --bin chirp
	scripts/mastodon-test.sh

## Runs the README's curl walk-through against a fresh `chirp all`.
walkthrough:
	$(CARGO) build --bin chirp
	scripts/readme-walkthrough.sh target/debug/chirp

## Prometheus configurations, alert rules and their unit tests (promtool), Grafana
## dashboards, the Logstash pipeline and Kibana's saved objects, checked offline.
check-observability:
	scripts/check-observability.sh

## The compose file and Kubernetes manifests against their schemas, the NGINX routes
## in a real NGINX in front of `chirp all`.
check-deploy:
	$(CARGO) build --bin chirp
	scripts/check-deploy.sh target/debug/chirp

## The benchmark (BENCHMARKS.md): `chirp all` (release build), 10,000 users, the
## social-network mix, baselines in the same run; report and plot in target/bench.
bench:
	$(CARGO) build --release --bin chirp --bin chirp-bench
	target/release/chirp-bench --spawn target/release/chirp --out target/bench

## The same through NGINX in front of the local stack (release binaries, Redis store).
bench-stack:
	$(CARGO) build --release --bin chirp --bin chirp-bench
	scripts/bench-stack.sh

## What a request costs the local stack, process by process and call by call
## (BENCHMARKS.md, issue 21): one step of the mix at 150 requests/s on 2,000 users.
profile-stack:
	$(CARGO) build --release --bin chirp --bin chirp-bench
	scripts/profile-stack.sh

## A few seconds of the benchmark on a tiny population, checking that it runs and
## reports (not a timed test: no figure is judged).
bench-smoke:
	$(CARGO) build --bin chirp --bin chirp-bench
	target/debug/chirp-bench --smoke --spawn target/debug/chirp --out target/bench-smoke
	python3 scripts/check-bench-report.py target/bench-smoke/report.json

clean:
	$(CARGO) clean
