# The two commands a newcomer needs: `make run` and `make test`.
# Each installs what is missing first (npm packages, and clamd via apt-get).

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The compiled worker (dist/), rebuilt when a source file or the lock file changes.
dist/cli.js: $(shell find src -name '*.ts') scripts/build.ts package-lock.json node_modules/.bucketscan-installed
	npm run build --silent

build: dist/cli.js

.PHONY: help build run demo test test-unit test-integration test-fidelity typecheck deps clamd chaos bench

help:
	@echo "make run    start the local stack (emulator, clamd, worker) in the foreground (SOURCES=<file>: several buckets)"
	@echo "make demo   the same, then upload a clean file and the EICAR test file"
	@echo "make test   type-check and run the whole test suite"
	@echo "make chaos  the full chaos suite (kills, clamd restart, S3/SQS/SNS faults); rewrites docs/reliability.md"

# npm ci only when the lock file changed since the last install.
node_modules/.bucketscan-installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.bucketscan-installed

clamd:
	@scripts/ensure-clamd.sh

# SOURCES=<file>: scan the buckets of a sources file (docs/sources.md), e.g.
# make run SOURCES=docs/examples/two-buckets.json
# (make would export it, and the worker reads SOURCES as the sources document
# itself, inline JSON: a deployment's setting. Here it is only the file's name.)
unexport SOURCES
run: deps clamd build
	npm start --silent -- local $(if $(SOURCES),--sources $(SOURCES))

demo: deps clamd build
	npm start --silent -- local --demo $(if $(SOURCES),--sources $(SOURCES))

test: deps clamd test-deploy
	npm test

typecheck: deps
	npm run typecheck

test-unit: deps
	npm run test:unit

test-integration: deps clamd
	npm run test:integration

test-fidelity: deps clamd
	npm run test:fidelity

# The full chaos suite: a few hundred files while the worker is SIGKILLed and
# restarted, clamd is killed once, and S3/SQS/SNS calls fail; then the end state is
# checked exactly and docs/reliability.md rewritten. CHAOS_SEED=<n> repeats a run.
CHAOS_FILES ?= 400
CHAOS_KILLS ?= 8
CHAOS_SEED ?=
chaos: deps clamd
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" node test/chaos/run.ts --files $(CHAOS_FILES) --kills $(CHAOS_KILLS) \
		$(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) --report docs/reliability.md

# The benchmark (docs/benchmarks.md): about 10 minutes and 2.5 GiB of memory on
# 2 cores; run it on a quiet machine. `npm run bench:smoke` is the quick version.
bench: deps clamd
	npm run bench -- --doc

# The AWS deployment (deploy/, its own npm package): construct assertions, cdk-nag,
# cfn-lint, offline `cdk synth`, the checked-in template's freshness, and the
# worker run with the environment the task definition gives it. Needs cfn-lint
# (pip install cfn-lint) and the compiled worker (dist/cli.js).
deploy/node_modules/.bucketscan-installed: deploy/package.json deploy/package-lock.json
	npm --prefix deploy ci --no-audit --no-fund
	@touch $@

.PHONY: test-deploy deploy-template
test-deploy: deps clamd shellcheck dist/cli.js deploy/node_modules/.bucketscan-installed
	npm --prefix deploy test

# The definitions updater's scripts (deploy/updater/*.sh) are checked with shellcheck (Debian's package).
.PHONY: shellcheck
shellcheck:
	@command -v shellcheck >/dev/null 2>&1 || { echo "bucketscan: shellcheck not found; installing it with apt-get" >&2; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null; }

# Rewrites deploy/bucketscan.template.json from the construct.
deploy-template: deploy/node_modules/.bucketscan-installed
	npm --prefix deploy run template --silent

# ---- Container images (docs/containers.md) ----------------------------------
# make image       build localhost/bucketscan-{worker,clamd,emulator}:$(IMAGE_TAG) with podman
# make test-image  build them (tag "test") and run them for real (test/image): clamd with
#                  the test signatures and freshclam off, the worker against the emulator,
#                  all on the host's loopback; prints the image sizes
# Both install podman, runc and debootstrap when missing (apt-get), and build a local
# stand-in for a base image that cannot be pulled (scripts/base-images.sh, which says
# so loudly; such images are for tests only).
IMAGE_TAG ?= latest

.PHONY: image test-image

image: deps
	@scripts/images.sh setup
	@scripts/images.sh build $(IMAGE_TAG)

test-image: IMAGE_TAG = test
test-image: image
	BUCKETSCAN_IMAGE_TAG=$(IMAGE_TAG) PATH="$(CURDIR)/node_modules/.bin:$$PATH" node --test --test-concurrency=1 --test-timeout=600000 test/image/image.test.ts test/image/deployed-config.test.ts
