"""Admission simulation: LimitRange defaulting and LimitRanger, ResourceQuota constraints, Pod Security.

Broken fixtures are plans built from plain manifests (the shape ``k8s_object`` reads); the committed
stacks must come out clean.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from blueprint.preview.analyses import ANALYSES, AnalysisResult
from blueprint.preview.analyses.admission import (
    analyse,
    default_limit_range_item,
    psa_violations,
    quantity,
)
from blueprint.preview.analyses.pod_templates import hook_job_pod
from blueprint.preview.plan import Plan, Resource
from components import _k8s
from tests import fixtures as fx
from tests.conftest import ROOT, STACKS, plan_for

GPU = "nvidia.com/gpu"


def resource(kind: str, api: str, obj: dict[str, Any]) -> Resource:
    return Resource(
        urn=f"urn:pulumi:t::p::{kind}::{obj['metadata']['name']}",
        type=f"kubernetes:{api}:{kind}",
        name=obj["metadata"]["name"],
        parent="",
        custom=True,
        provider="",
        inputs=obj,
        dependencies=[],
        property_dependencies={},
        protect=False,
        retain_on_delete=False,
        ignore_changes=[],
    )


def namespace(name: str, level: str = "restricted") -> Resource:
    labels = {"pod-security.kubernetes.io/enforce": level}
    return resource("Namespace", "core/v1", {"metadata": {"name": name, "labels": labels}})


def deployment(name: str, ns: str, spec: dict[str, Any]) -> Resource:
    obj = {"metadata": {"name": name, "namespace": ns}, "spec": {"template": {"spec": spec}}}
    return resource("Deployment", "apps/v1", obj)


def restricted(name: str, **resources: Any) -> dict[str, Any]:
    return {"name": name, "image": "x", "securityContext": dict(_k8s.RESTRICTED_CONTAINER), **resources}


POD_SC = _k8s.restricted_pod(1000)


def run(*resources: Resource) -> AnalysisResult:
    return analyse(Plan("t", "p", list(resources), {}), ROOT)


def test_gpu_max_without_default_hands_gpus_to_containers_that_set_none() -> None:
    """Issue 11 defect 1: the serving LimitRange's GPU max became every container's default."""
    limit_range = resource(
        "LimitRange",
        "core/v1",
        {
            "metadata": {"name": "limits", "namespace": "serving"},
            "spec": {"limits": [{"type": "Container", "max": {GPU: "8"}}]},
        },
    )
    quota = resource(
        "ResourceQuota",
        "core/v1",
        {"metadata": {"name": "q", "namespace": "serving"}, "spec": {"hard": {f"requests.{GPU}": "2"}}},
    )
    spec = {
        "securityContext": POD_SC,
        "initContainers": [restricted("fetch-model")],
        "containers": [restricted("server", resources={"limits": {GPU: "1"}, "requests": {GPU: "1"}})],
    }
    result = run(namespace("serving"), limit_range, quota, deployment("llm", "serving", spec))
    objects = [f.object for f in result.findings]
    assert "Deployment serving/llm init container fetch-model" in objects
    assert any(f"{GPU}=8" in f.rule for f in result.findings)
    assert any("exceeded quota" in f.rule for f in result.findings)
    assert all(f.fix and f.blocking for f in result.findings)


def test_limit_range_max_without_limit_and_pod_type_are_checked() -> None:
    # Type Pod gets no defaulting: a pod-level max with no limit is refused as LimitRanger says.
    item = {"type": "Pod", "max": {"memory": "1Gi"}}
    lr = resource("LimitRange", "core/v1", {"metadata": {"name": "l", "namespace": "a"}, "spec": {"limits": [item]}})
    spec = {"securityContext": POD_SC, "containers": [restricted("c", resources={"requests": {"memory": "2Gi"}})]}
    (finding,) = run(namespace("a"), lr, deployment("d", "a", spec)).findings
    assert finding.object == "Deployment a/d pod"
    assert "maximum memory usage per Pod is 1Gi. No limit is specified." in finding.rule


def test_quota_on_cpu_refuses_a_container_without_a_cpu_request() -> None:
    quota = resource(
        "ResourceQuota",
        "core/v1",
        {"metadata": {"name": "q", "namespace": "a"}, "spec": {"hard": {"requests.cpu": "4"}}},
    )
    spec = {
        "securityContext": POD_SC,
        "containers": [restricted("ok", resources={"requests": {"cpu": "1"}}), restricted("bare")],
    }
    (finding,) = run(namespace("a"), quota, deployment("d", "a", spec)).findings
    assert finding.object == "Deployment a/d container bare"
    assert "must specify requests.cpu" in finding.rule


def test_privileged_pod_in_a_restricted_namespace_is_refused() -> None:
    spec = {"containers": [{"name": "agent", "image": "x", "securityContext": {"privileged": True}}]}
    result = run(namespace("a", "restricted"), deployment("d", "a", spec))
    rules = [f.rule for f in result.findings]
    assert any("privileged: true is forbidden at restricted" in r for r in rules)
    assert any("runAsNonRoot" in r for r in rules)
    assert any("seccompProfile" in r for r in rules)
    # The same pod is fine where the namespace enforces privileged.
    assert not run(namespace("a", "privileged"), deployment("d", "a", spec)).findings


def test_baseline_refuses_host_paths_but_not_root() -> None:
    spec = {"containers": [{"name": "c"}], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
    assert psa_violations(spec, "baseline") == [("pod", "hostPath volume h is forbidden at baseline")]
    assert psa_violations({"containers": [{"name": "c"}]}, "baseline") == []


def test_limit_range_defaulting_matches_the_api_server() -> None:
    item = default_limit_range_item({"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}})
    assert item["default"] == {"cpu": "2"}
    assert item["defaultRequest"] == {"cpu": "2", "memory": "1Mi"}
    assert default_limit_range_item({"type": "Pod", "max": {"cpu": "2"}}) == {"type": "Pod", "max": {"cpu": "2"}}


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Fraction(1, 2)), ("16Gi", Fraction(16 * 2**30)), ("1e3", Fraction(1000)), ("2k", Fraction(2000))],
)
def test_quantities(text: str, value: Fraction) -> None:
    assert quantity(text) == value


def test_hook_job_pod_merges_the_job_container_and_adds_the_hooks_init_container() -> None:
    template = {"spec": {"containers": [{"name": "$job", "image": "ignored", "resources": {"limits": {"cpu": "4"}}}]}}
    pod = hook_job_pod(template)
    assert pod["containers"][0] == {"name": "job", "resources": {"limits": {"cpu": "4"}}}
    assert pod["initContainers"][0]["name"] == "fs-init"


def test_admission_is_registered() -> None:
    assert "blueprint.preview.analyses.admission" in ANALYSES


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_no_admission_findings(stack: str) -> None:
    result = analyse(plan_for(stack), Path(ROOT))
    assert [f.line() for f in result.findings if f.blocking] == []
    assert result.checked["pod templates"] >= len(plan_for(stack).by_type("kubernetes:apps/v1:Deployment")) >= 1


def test_an_unbounded_emptydir_is_found_unless_the_pod_limits_its_disk() -> None:
    """Issue 12 item 8 / issue 11 defect 10: weights in an unbounded emptyDir can fill the node disk."""
    volumes = [
        {"name": "models", "emptyDir": {}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
    ]
    spec = {"securityContext": POD_SC, "containers": [restricted("server")], "volumes": volumes}
    (finding,) = run(namespace("a"), deployment("d", "a", spec)).findings
    assert finding.object == "Deployment a/d volume models"
    assert "sizeLimit" in finding.fix
    spec["containers"] = [restricted("server", resources={"limits": {"ephemeral-storage": "10Gi"}})]
    assert not run(namespace("a"), deployment("d", "a", spec)).findings


def test_container_action_step_pods_are_reported_as_advisory() -> None:
    """The hooks' step pod has a privileged init container: baseline refuses it, and the report says so."""
    plan = plan_for(fx.DEV)
    result = analyse(plan, Path(ROOT))
    steps = [f for f in result.findings if "container-action step pod" in f.object]
    assert steps
    assert all(not f.blocking and "privileged" in f.rule and "composite actions" in f.fix for f in steps)
    assert result.checked["optional pods"] == len(steps)


def test_ci_job_pod_templates_are_admitted_like_pods() -> None:
    """The CI backends' job shapes (v1 PodTemplate, components/_ci.py) meet their namespace's quota and PSA."""
    from components import _ci

    gpu_job = _ci.job_pod_spec(_ci.JobProfile(gpus=1), "build", "ubuntu:24.04")
    template = resource(
        "PodTemplate",
        "core/v1",
        {"metadata": {"name": "gitlab-gpu", "namespace": "jobs"}, "template": {"spec": gpu_job}},
    )
    no_gpus = resource(
        "ResourceQuota",
        "core/v1",
        {"metadata": {"name": "q", "namespace": "jobs"}, "spec": {"hard": {f"requests.{GPU}": "0"}}},
    )
    assert not run(namespace("jobs", "baseline"), template).findings
    (finding,) = run(namespace("jobs", "baseline"), no_gpus, template).findings
    assert finding.object.startswith("PodTemplate jobs/gitlab-gpu")
    assert "exceeded quota" in finding.rule
    # A root-capable job shape is refused where the namespace enforces restricted.
    assert run(namespace("jobs", "restricted"), template).findings
