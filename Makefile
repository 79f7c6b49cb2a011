# The two commands a newcomer needs: `make run` and `make test`.
# Each installs what is missing first (npm packages, and clamd via apt-get).

SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help run demo test test-unit test-integration test-fidelity typecheck deps clamd

help:
	@echo "make run    start the local stack (emulator, clamd, worker) in the foreground"
	@echo "make demo   the same, then upload a clean file and the EICAR test file"
	@echo "make test   type-check and run the whole test suite"

# npm ci only when the lock file changed since the last install.
node_modules/.bucketscan-installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.bucketscan-installed

clamd:
	@scripts/ensure-clamd.sh

run: deps clamd
	npm start --silent -- local

demo: deps clamd
	npm start --silent -- local --demo

test: deps clamd
	npm test

typecheck: deps
	npm run typecheck

test-unit: deps
	npm run test:unit

test-integration: deps clamd
	npm run test:integration

test-fidelity: deps clamd
	npm run test:fidelity
