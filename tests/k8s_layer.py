"""The Kubernetes layer (Monitoring + GpuStack) of a committed stack, under mocks.

Once ``infra/__main__.py`` wires the layer to the cluster's provider, the full stack plan holds it
and is used as is. Until then the layer runs alone with the stack's config and a provider made
here, through the same ``infra.observability`` wiring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from blueprint.engine import run_stack
from blueprint.plan import Plan, Resource
from blueprint.stackfiles import load_stack
from infra.config import PlatformConfig, load_config, parse_config
from tests.conftest import ROOT, plan_for, stack_raw

HELM = "kubernetes:helm.sh/v3:Release"
_PLANS: dict[str, Plan] = {}


def fake_provider() -> k8s.Provider:
    """A provider that can reach no cluster (the mocks answer instead)."""
    return k8s.Provider("k8s", kubeconfig="{}", enable_server_side_apply=True)


def _layer() -> None:
    from infra.observability import observability

    cfg = load_config()
    observability(
        cfg, fake_provider(), storage_class_name="gp3-encrypted", cluster_name=f"ai-platform-{pulumi.get_stack()}"
    )


def k8s_plan(stack: str) -> Plan:
    """A plan of ``stack`` that contains its Kubernetes layer."""
    if stack not in _PLANS:
        full = plan_for(stack)
        if any(r.type == "platform:index:Monitoring" for r in full.resources):
            _PLANS[stack] = full
        else:
            _PLANS[stack] = run_stack(stack, load_stack(stack, ROOT), program=_layer)
    return _PLANS[stack]


def run_program(program: Callable[[], None], stack: str = "dev") -> Plan:
    """Run an ad-hoc program (e.g. one component with non-default args) with ``stack``'s config."""
    return run_stack(stack, load_stack(stack, ROOT), program=program)


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
