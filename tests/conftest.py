"""Shared fixtures: stack plans captured once per session, and a config builder for config tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from blueprint.preview.engine import run_stack
from blueprint.preview.plan import Plan
from blueprint.stackfiles import load_stack, stack_names

ROOT = Path(__file__).resolve().parent.parent
STACKS = stack_names(ROOT)

_PLANS: dict[str, Plan] = {}


def plan_for(stack: str) -> Plan:
    """The offline plan of a committed stack (computed once per test process)."""
    if stack not in _PLANS:
        _PLANS[stack] = run_stack(stack, load_stack(stack, ROOT))
    return _PLANS[stack]


@pytest.fixture(params=STACKS)
def stack_plan(request: pytest.FixtureRequest) -> Plan:
    """Parametrised over every committed stack."""
    return plan_for(request.param)


@pytest.fixture
def dev_plan() -> Plan:
    """The plan of the first dev-tier stack (tests/fixtures.py)."""
    from tests.fixtures import DEV

    return plan_for(DEV)


@pytest.fixture
def prod_plan() -> Plan:
    from tests.fixtures import PROD

    return plan_for(PROD)


def stack_raw(stack: str) -> dict[str, Any]:
    """The project's keys (``<project>:``) of a committed stack file, namespace stripped (secure values kept as dicts)."""
    from tests.fixtures import PROJECT

    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith(f"{PROJECT}:")}


@pytest.fixture
def raw_config() -> Callable[[str], dict[str, Any]]:
    """A deep copy of a committed stack's raw config, to mutate in tests."""
    return lambda stack="dev": copy.deepcopy(stack_raw(stack))
