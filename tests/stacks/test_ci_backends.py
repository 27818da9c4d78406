"""Every stack: the CI backends its file enables are in its plan, pinned, isolated and GPU-capable."""

from __future__ import annotations

from typing import Any

import pytest

from blueprint.preview.plan import Plan
from blueprint.stackfiles import stack_names
from tests import fixtures as fx
from tests.conftest import ROOT, plan_for, stack_raw

HELM = "kubernetes:helm.sh/v3:Release"
# backend -> (chart, namespaces key -> default, the GPU marker in its values or job templates)
BACKENDS: dict[str, tuple[str, dict[str, str]]] = {
    "arc": ("gha-runner-scale-set", {"namespace": "arc-runners", "jobNamespace": "arc-jobs"}),
    "gitlab": ("gitlab-runner", {"namespace": "gitlab-runner", "jobNamespace": "gitlab-jobs"}),
    "jenkins": ("jenkins", {"namespace": "jenkins", "agentNamespace": "jenkins-agents"}),
    "circleci": ("container-agent", {"namespace": "circleci"}),
}


def _section(raw: dict[str, Any], backend: str) -> dict[str, Any]:
    ci = raw.get("ciRunners") or {}
    return ci if backend == "arc" else (ci.get(backend) or {})


def _namespace_objects(plan: Plan, kind: str, ns: str) -> list[Any]:
    return [r for r in plan.by_type(f"kubernetes:{kind}") if (r.inputs.get("metadata") or {}).get("namespace") == ns]


@pytest.mark.parametrize("stack", stack_names(ROOT))
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_enabled_backends_are_pinned_isolated_and_offer_gpus(stack: str, backend: str) -> None:
    raw = stack_raw(stack)
    section = _section(raw, backend)
    chart, namespaces = BACKENDS[backend]
    plan = plan_for(stack)
    releases = [r for r in plan.by_type(HELM) if str(r.inputs.get("chart", "")).endswith(chart)]
    k8s_layer = (raw.get("delivery") or {}).get("kubernetesLayer", True)
    if not (section.get("enabled") and k8s_layer):
        assert releases == [], f"{stack}: {backend} is off but its chart is in the plan"
        return
    assert releases
    assert all(r.inputs["version"] and r.inputs["version"][0].isdigit() for r in releases)
    for key, default in namespaces.items():
        ns = section.get(key, default)
        names = {
            r.inputs["metadata"]["name"] for r in _namespace_objects(plan, "networking.k8s.io/v1:NetworkPolicy", ns)
        }
        assert "default-deny" in names, f"{stack}: {ns} has no default-deny NetworkPolicy"
        assert _namespace_objects(plan, "core/v1:ResourceQuota", ns), f"{stack}: {ns} has no ResourceQuota"
    if backend != "arc":
        gpu_templates = [
            t
            for t in plan.by_type("kubernetes:core/v1:PodTemplate")
            if t.inputs["metadata"]["labels"].get("platform.ai/ci-job-profile", "").startswith(f"{backend}.")
            and any("nvidia.com/gpu" in (c["resources"]["limits"]) for c in t.inputs["template"]["spec"]["containers"])
        ]
        assert gpu_templates, f"{stack}: {backend} offers no GPU job profile"


def test_dev_runs_all_four_backends() -> None:
    raw = stack_raw(fx.DEV)
    assert all(_section(raw, b).get("enabled") for b in BACKENDS)
