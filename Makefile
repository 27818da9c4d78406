# Two commands work on a fresh clone: `make preview` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
PYTHON ?= python3

POLICY_VENV := policy/venv

.PHONY: preview test lint fix typecheck unit bench snapshots render docs clean policy-venv

# Exactly what `pulumi install` does with `main: infra/` (pulumi sdk/python/toolchain/pip.go,
# InstallDependencies): `python -m pip install -r requirements.txt` with the program directory infra/ as
# the working directory. infra/requirements.txt pulls in the pins and installs the project (`-e ..`).
$(VENV)/.runtime: requirements.txt infra/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	cd infra && $(abspath $(PY)) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

## policy-venv: the policy pack's virtualenv; `--policy-pack policy` runs policy/venv/bin/python, which the CLI never creates
policy-venv: $(POLICY_VENV)/.installed

# The same command `pulumi install` runs inside policy/ (the pack directory is the working directory).
$(POLICY_VENV)/.installed: policy/requirements.txt
	test -x $(POLICY_VENV)/bin/python || $(PYTHON) -m venv $(POLICY_VENV)
	cd policy && venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
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

## fix: sort imports and format (what `blueprint fork` runs on the files it rewrote)
fix: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

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
	$(VENV)/bin/blueprint docs

clean:
	rm -rf $(VENV) $(POLICY_VENV) .pytest_cache .mypy_cache .ruff_cache
