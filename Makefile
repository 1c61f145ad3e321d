# GitOps Lab — the two set-up commands are `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

# The policy checker of `make check` (.ci/policy/check), in a venv of its own: its pins (boto3, packaging) would
# otherwise downgrade the lab's.
CHECKOV_VERSION := 3.3.30

.PHONY: up down test check unit integration contract e2e ci-cluster bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[gate]'
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

up: $(VENV)/.installed          ## create .venv, install the lab, bring it up
	$(BIN)/invoke up; rc=$$?; echo "invoke is in $(VENV): \`source $(VENV)/bin/activate\` first, or run $(BIN)/invoke TASK"; exit $$rc

down: $(VENV)/.installed
	$(BIN)/invoke down

$(VENV)/checkov/.installed-$(CHECKOV_VERSION): $(BIN)/python
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

check: $(VENV)/.installed-test $(VENV)/checkov/.installed-$(CHECKOV_VERSION)  ## lint, format, types, layering, Dockerfile lint, policy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint app/Dockerfile
	$(BIN)/python .ci/policy/check --checkov $(VENV)/checkov/bin/checkov

test: check                     ## the whole suite (integration tests skip without Docker, fail in CI)
	$(BIN)/pytest

unit: $(VENV)/.installed-test       ## fakes only: no git, kubectl, docker or kind process (tests/tiers.py)
	$(BIN)/pytest -m 'not integration and not docker and not e2e'

integration: $(VENV)/.installed-test  ## real git and kubectl kustomize (integration), real Docker (docker)
	$(BIN)/pytest -m 'integration or docker'

contract: $(VENV)/.installed-test  ## the Docker fake (tests/fakes/docker.py) against the real daemon: tests/contract
	$(BIN)/pytest -m contract

e2e: $(VENV)/.installed-test    ## on a real cluster with the lab up (opt-in)
	$(BIN)/pytest -m e2e -p no:cacheprovider

ci-cluster: $(VENV)/.installed-test  ## CI's cluster stage: up --offline on stand-in images + e2e (KEEP_LAB=1 keeps it up)
	KEEP_LAB=$(KEEP_LAB) .ci/cluster/stage

bench: $(VENV)/.installed-test
	$(BIN)/python bench/bench_app.py
	$(BIN)/python bench/bench_ship.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
