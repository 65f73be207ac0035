# Verity Desk — the two commands of the README:
#   make run   set up everything, build, and launch the desktop app
#   make test  set up everything, then run every test (Rust, UI, end-to-end, parity fixtures)
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eo pipefail -c
ENV := source scripts/env.sh

.PHONY: run test setup setup-test build ui test-rust test-ui test-e2e bench package test-package

setup:
	@scripts/setup.sh run

setup-test:
	@scripts/setup.sh test

ui:
	@cd ui && npm run build

build: setup ui
	@$(ENV); cargo build --workspace

run: build
	@$(ENV)
	if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ]; then
	  echo "verity-desk: no display found (DISPLAY/WAYLAND_DISPLAY unset)." >&2
	  echo "  On a desktop, run 'make run' inside your graphical session." >&2
	  echo "  On a headless machine, run it under a virtual display:  xvfb-run -a make run" >&2
	  exit 3
	fi
	exec ./target/debug/verity-desk

test: setup-test
	@t0=$$(date +%s)
	$(MAKE) --no-print-directory ui
	echo "==> [phase] ui build: $$(( $$(date +%s) - t0 )) s"; t=$$(date +%s)
	$(MAKE) --no-print-directory test-rust
	echo "==> [phase] rust tests: $$(( $$(date +%s) - t )) s"; t=$$(date +%s)
	$(MAKE) --no-print-directory test-ui
	echo "==> [phase] ui tests: $$(( $$(date +%s) - t )) s"; t=$$(date +%s)
	$(MAKE) --no-print-directory test-e2e
	echo "==> [phase] end-to-end: $$(( $$(date +%s) - t )) s"
	echo "==> all tests passed in $$(( $$(date +%s) - t0 )) s"

test-rust:
	@$(ENV); cargo test --workspace --no-fail-fast

test-ui:
	@cd ui && npm test

test-e2e:
	@$(ENV); bash tests/e2e/run.sh

# The networks run inside libtorch (built optimised); the dev profile's deps are opt-level 3,
# so the one debug build serves benchmarks too (no second, release build).
bench: setup
	@$(ENV); cargo build --bin verity
	./target/debug/verity bench models --out target/bench/models.json
	./target/debug/verity bench pipeline --out target/bench/pipeline.json

# An installable .deb (release build by the Tauri bundler; the app, the verity CLI, the lean
# libtorch runtime and the shipped models): target/package/*.deb and manifest.txt.
package: setup
	@scripts/package.sh

# Unpacks the .deb into a temporary root, hides .venv, runs verity info/analyze and the app
# under Xvfb from the unpacked tree. Not part of `make test` (the release build alone takes
# longer than the rest of CI); run after `make package`.
test-package: package
	@scripts/test-package.sh
