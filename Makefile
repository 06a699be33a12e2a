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

.PHONY: install install-dev demo test lint typecheck imports pytest bench-smoke services migrate clean screenshots

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

# The import contracts of pyproject.toml ([tool.importlinter]): the architecture, checked.
imports: install-dev
	$(BIN)/lint-imports

pytest: install-dev services
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_REDIS_URL) \
		CACHE_URL=$(TEST_CACHE_URL) \
		$(BIN)/pytest $(PYTEST_ARGS)

# Every benchmark under bench/ at a tiny size: it runs and prints its figures (the figures
# mean nothing at this size). Throw-away databases are named $(BENCH_DB)_*, each a copy of
# one migrated template; Redis is the test broker/cache. Add a line per new benchmark:
# $(SMOKE) bench/NAME.py --tiny-size-options $(FIGURES) 'text of a figure line'
BENCH_DB ?= feedback_bench_smoke
BENCH_PORT ?= 8790
SMOKE = set -o pipefail; BENCH_TEMPLATE=$(BENCH_DB)_template BENCH_REDIS=$(TEST_REDIS_URL) \
	CELERY_BROKER_URL=$(TEST_REDIS_URL) CACHE_URL=$(TEST_CACHE_URL) nice -n 10 $(PY)
FIGURES = | tee -a /dev/stderr | grep >/dev/null
bench-smoke: install-dev services
	DATABASE_URL=$$($(PY) -m bench._db create $(BENCH_DB)_template) $(PY) manage.py migrate --noinput -v0
	$(SMOKE) bench/train.py --pairs 8 --repeats 1 --methods reward $(FIGURES) 'pairs/s'
	$(SMOKE) bench/train.py --processes 2 --pairs 16 --repeats 1 $(FIGURES) 'pairs/s'
	$(SMOKE) bench/learning.py --epochs 1 --max-pairs 16 $(FIGURES) -E 'held-out accuracy|nothing to measure'
	$(SMOKE) bench/gpu_dpo.py --steps 1 --batch 2 --length 64 $(FIGURES) -E 'tokens/s|no CUDA'
	BENCH_DB=$(BENCH_DB)_import BENCH_ROWS=200 $(SMOKE) bench/import_bench.py $(FIGURES) 'rows/s'
	$(SMOKE) bench/export.py --db $(BENCH_DB)_export --sizes 200 --port $(BENCH_PORT) --drop \
		$(FIGURES) 'rows/s'
	BENCH_REDIS=$(TEST_CACHE_URL) $(SMOKE) bench/annotate.py --db $(BENCH_DB)_annotate \
		--annotators 2 --seconds 2 --items 40 --workers 1 --port $(BENCH_PORT) \
		$(FIGURES) 'judgements/s'
	$(SMOKE) bench/loop.py --db $(BENCH_DB)_loop --items 4 --steps 1 --eval-prompts 2 \
		$(FIGURES) 'orchestration overhead'
	$(SMOKE) bench/import_memory.py --smoke --db $(BENCH_DB)_import_mem $(FIGURES) 'peak'
	$(SMOKE) bench/leaderboard.py --smoke $(FIGURES) -E 'win rate|nothing to measure'
	$(SMOKE) bench/active.py --smoke $(FIGURES) -E 'labels ->|nothing to measure'
	BENCH_DB=$(BENCH_DB)_agreement $(SMOKE) bench/agreement.py --smoke $(FIGURES) 'agreement rate'
	BENCH_DB=$(BENCH_DB)_reliability $(SMOKE) bench/reliability.py --items 30 --test-items 10 \
		--epochs 1 $(FIGURES) 'held-out accuracy'
	BENCH_DB=$(BENCH_DB)_review $(SMOKE) bench/review.py --smoke $(FIGURES) 'review page'
	$(PY) -m bench._db drop $(BENCH_DB)_template

test: lint typecheck imports pytest bench-smoke

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

# The README's screenshots (docs/screenshots/), from a throw-away demo: see tools/screenshots.py.
screenshots: install-dev
	$(BIN)/python tools/screenshots.py
