"""Helpers for tests of the Kubernetes layer (Monitoring + GpuStack) under mocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pulumi_kubernetes as k8s

from blueprint.preview.engine import run_program as _run_program
from blueprint.preview.plan import Plan, Resource
from blueprint.stackfiles import load_stack
from infra.config import PlatformConfig, decode_flat, parse_config
from tests.conftest import ROOT, plan_for, stack_raw

HELM = "kubernetes:helm.sh/v3:Release"


def fake_provider() -> k8s.Provider:
    """A provider that can reach no cluster (the mocks answer instead)."""
    return k8s.Provider("k8s", kubeconfig="{}", enable_server_side_apply=True)


def k8s_plan(stack: str) -> Plan:
    """The plan of ``stack``; it must contain the Kubernetes layer (wired in infra/__main__.py)."""
    plan = plan_for(stack)
    assert plan.by_type("platform:index:Monitoring"), "infra/__main__.py does not wire Monitoring"
    assert plan.by_type("platform:index:GpuStack"), "infra/__main__.py does not wire GpuStack"
    return plan


def run_program(program: Callable[[], None], stack: str = "dev") -> Plan:
    """Run an ad-hoc program (e.g. one component with non-default args) with ``stack``'s config."""
    settings = load_stack(stack, ROOT)
    raw, _ = decode_flat(settings.config)
    return _run_program(
        program,
        stack=stack,
        region=str(raw["region"]),
        account=str(raw["accountId"]),
        config=settings.config,
        secret_keys=settings.secret_keys,
    )


def release(plan: Plan, release_name: str) -> Resource:
    """The Helm release with this Helm release name."""
    (r,) = [r for r in plan.by_type(HELM) if r.inputs.get("name") == release_name]
    return r


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) pair of a nested values map."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")


def stack_config(stack: str) -> PlatformConfig:
    """The validated config of a committed stack (secure values as placeholders)."""
    raw = {
        k: ("placeholder" if isinstance(v, dict) and set(v) == {"secure"} else v) for k, v in stack_raw(stack).items()
    }
    secret = [k for k, v in stack_raw(stack).items() if isinstance(v, dict) and set(v) == {"secure"}]
    return parse_config(raw, secret_keys=secret, source=f"stacks/Pulumi.{stack}.yaml")
