# One entry point for every task. Each target installs what it needs on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# checkov has its own venv: its pins would fight the project's (tests/infra/test_scanners.py runs it)
SCAN_VENV ?= .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed-stamp
SOURCES := genesys evidence bridge_cli emulator local_stack stream_worker functions infra app.py tests
DURATION ?= 120
SEED ?= 7
OUTAGE ?= 0
# jsii prints a banner about the Node.js version on every import of aws_cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: install lint test demo soak bench bench-memory clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,cdk]'
	@touch $(STAMP)

$(SCAN_STAMP): scanners.txt
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install -q --disable-pip-version-check -r scanners.txt
	@touch $(SCAN_STAMP)

install: $(STAMP) $(SCAN_STAMP)

lint: install
	$(VENV)/bin/ruff check $(wildcard $(SOURCES))
	$(VENV)/bin/ruff format --check $(wildcard $(SOURCES))
	$(VENV)/bin/mypy $(wildcard $(SOURCES))

test: lint
	@rm -rf cdk.out
	$(VENV)/bin/pytest

demo: install
	$(PY) -m local_stack.demo --duration $(DURATION) --seed $(SEED) --outage $(OUTAGE)

# a long randomized chaos run; SEED is random unless given
soak: install
	$(PY) -m local_stack.demo --soak --duration $(DURATION) $(if $(filter command line,$(origin SEED)),--seed $(SEED),)

bench: install
	$(PY) -m tests.bench

# 30 minutes: the rate the worker sustains with headroom, then RSS and queue depth minute by minute
bench-memory: install
	$(PY) -m tests.bench --memory

clean:
	rm -rf $(VENV) $(SCAN_VENV) .mypy_cache .ruff_cache .pytest_cache cdk.out
