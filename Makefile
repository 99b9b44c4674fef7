# Two commands on a fresh machine: `make up` runs the local stack with a demo request,
# `make test` passes the whole suite. Everything they need is installed from here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_BIN := /usr/lib/postgresql/15/bin

.PHONY: up up-postgres up-sqlite up-scale up-single down status test lint unit contract bench chaos clean venv-test venv-up node postgres redis chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamps keyed on pyproject.toml: a changed dependency list reinstalls, an unchanged one costs nothing.
$(VENV)/.up-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[sandbox]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.up-installed

venv-up: $(VENV)/.up-installed
venv-test: $(VENV)/.test-installed

# GitHub's official OpenAPI description, for the fake GitHub's contract tests.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@
node: node_modules/.installed

# PostgreSQL 15 server binaries, for the registry tests on PostgreSQL.
postgres:
	@if [ ! -x $(PG_BIN)/initdb ]; then \
		echo "Installing postgresql-15 (registry tests run on PostgreSQL too)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null; \
	fi

# Debian's Redis, for Prefect's messaging in the scale topology (`make up-scale`).
redis:
	@if ! command -v redis-server >/dev/null; then \
		echo "Installing redis-server (Prefect's messaging when scaled out)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi

# Debian's Chromium, for the browser tests (Playwright drives it; no browser download).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing chromium (the browser tests sign in through the gateway with it)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

up: venv-up
	$(BIN)/paved up

# Prefect and the registry on a local PostgreSQL cluster under .paved/postgres. The mode is
# remembered: `make up` keeps it until `make up-sqlite` (the two keep separate data).
up-postgres: venv-up postgres
	$(BIN)/paved up --postgres

up-sqlite: venv-up
	$(BIN)/paved up --sqlite

# The topology a company runs (PostgreSQL, Redis, two API servers, services apart, three
# workers); remembered until `make up-single`.
up-scale: venv-up postgres redis
	$(BIN)/paved up --scale

up-single: venv-up
	$(BIN)/paved up --single

down:
	@if [ -x $(BIN)/paved ]; then $(BIN)/paved down; else echo "nothing to stop: no $(VENV)"; fi

status: venv-up
	$(BIN)/paved status

lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# loadgroup: the e2e modules share one stack, so they stay on one worker.
test: venv-test node postgres chromium lint
	$(BIN)/python -m pytest -n 3 --dist loadgroup

# Figures, not assertions: the stack is started (idempotent), then the benchmark scripts
# print what they measure. BURST sets how many service:create run at once.
# bench_audit starts servers of its own; AUDIT_PG names an EMPTY PostgreSQL database for
# its registry (not PG's: bench_registry fills that one).
BURST ?= 50
bench: venv-test
	$(BIN)/paved up
	$(BIN)/python -m tests.perf.bench_service_create --burst $(BURST)
	$(BIN)/python -m tests.perf.bench_registry $(if $(PG),--postgres-url $(PG))
	$(BIN)/python -m tests.perf.bench_audit $(if $(AUDIT_PG),--postgres-url $(AUDIT_PG))

# Faults under a burst on the scale topology (docs/local-stack.md); minutes a round, so not
# part of `make test`. ROUNDS=3 for three in a row.
ROUNDS ?= 1
chaos: venv-test postgres redis
	$(BIN)/paved up --scale
	$(BIN)/python -m tests.chaos.run --rounds $(ROUNDS)

clean: down
	rm -rf $(VENV) .paved node_modules .cache
