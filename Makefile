# Feedback Loop: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000

# Tests run against real Postgres and Redis on this machine.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/feedback
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
TEST_CACHE_URL ?= redis://127.0.0.1:6379/1

.PHONY: install install-dev demo test lint typecheck pytest services migrate clean screenshots bench-smoke

# A stamp per requirements file keeps `make install` idempotent and quick.
$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

# Embedded default: SQLite and the filesystem broker under var/, nothing to start.
demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py build_tiny_model
	$(PY) manage.py run_demo --host $(HOST) --port $(PORT)

services:
	@bash .ci/services.sh

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy .

pytest: install-dev services
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_REDIS_URL) \
		CACHE_URL=$(TEST_CACHE_URL) \
		$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# Every benchmark at a tiny size: it runs and prints its figures (not a measurement).
bench-smoke: install
	nice $(PY) bench/train.py --processes 2 --pairs 16 --repeats 1
	nice $(PY) bench/import_memory.py --smoke --db feedback_bench_import_mem_smoke

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

# Tiny sizes of the benchmarks of issue 13 (the leaderboard fit, active labelling).
bench-smoke:
	$(BIN)/python bench/leaderboard.py --smoke
	$(BIN)/python bench/active.py --smoke

# The README's screenshots (docs/screenshots/), from a throw-away demo: see tools/screenshots.py.
screenshots: install-dev
	$(BIN)/python tools/screenshots.py
