# Two commands work on a fresh clone: `make preview` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
PYTHON ?= python3

.PHONY: preview test lint typecheck unit bench snapshots render docs clean

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt images/drift-job/requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

## preview: offline preview of STACK (default dev), with the policy report
preview: $(VENV)/.runtime
	$(VENV)/bin/blueprint preview $(STACK)

## test: everything CI checks (lint, types, tests)
test: lint typecheck unit

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy infra components blueprint

unit: $(VENV)/.dev
	$(PY) -m pytest -n 2

## bench: time the offline preview of every stack (median of several runs) - not part of `make test`
bench: $(VENV)/.dev
	$(PY) -m tests.bench

## snapshots: rewrite snapshots/<stack>.json after an intended infrastructure change
snapshots: $(VENV)/.runtime
	$(VENV)/bin/blueprint preview --all --write-snapshots --quiet

## docs: regenerate docs/components.md from the Args and config docstrings (a test fails when it is stale)
docs: $(VENV)/.runtime
	$(PY) -m blueprint.docs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
