"""Workload guarantees every stack must keep: GPU placement, resources, probes, pinned images,
network isolation, disruption budgets, canary weights and the CI runners' push scope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from blueprint.preview.plan import Plan
from blueprint.preview.render import k8s_object
from infra.config import GPU_RESOURCE, GPU_TAINT_KEY, LABEL_ACCELERATOR
from tests.conftest import STACKS, stack_raw

HELM = "kubernetes:helm.sh/v3:Release"
SCALE_SET_CHART = "gha-runner-scale-set"
ECR_WRITE = ("ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload")


def objects(plan: Plan, kind: str) -> list[dict[str, Any]]:
    """Rendered Kubernetes objects of one kind."""
    out = []
    for r in plan.resources:
        if r.type.endswith(f":{kind}"):
            obj = k8s_object(r)
            if obj is not None:
                out.append(obj)
    return out


def pod_specs(plan: Plan) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) of every workload the platform defines: Deployments and runner scale sets."""
    for d in objects(plan, "Deployment"):
        yield f"Deployment {d['metadata']['name']}", d["spec"]["template"]["spec"]
    for r in plan.by_type(HELM):
        if r.inputs["chart"].endswith(SCALE_SET_CHART):
            yield f"scale set {r.inputs['name']}", r.inputs["values"]["template"]["spec"]


def gpus(container: dict[str, Any]) -> int:
    return int(float(container.get("resources", {}).get("limits", {}).get(GPU_RESOURCE, 0)))


def tolerates_gpu_taint(spec: dict[str, Any]) -> bool:
    return any(t.get("key") == GPU_TAINT_KEY and t.get("effect") == "NoSchedule" for t in spec.get("tolerations", []))


def requires_gpu_nodes(spec: dict[str, Any]) -> bool:
    terms = (
        spec.get("affinity", {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution", {})
        .get("nodeSelectorTerms", [])
    )
    return bool(terms) and all(
        any(
            e["key"] == LABEL_ACCELERATOR and e["operator"] == "In" and "nvidia" in e["values"]
            for e in t["matchExpressions"]
        )
        for t in terms
    )


def test_every_gpu_workload_tolerates_the_taint_and_requests_gpus(stack_plan: Plan) -> None:
    seen = 0
    for where, spec in pod_specs(stack_plan):
        wants_gpu = any(gpus(c) for c in spec["containers"])
        on_gpu_nodes = tolerates_gpu_taint(spec) or requires_gpu_nodes(spec)
        assert wants_gpu == on_gpu_nodes, where
        if wants_gpu:
            seen += 1
            assert tolerates_gpu_taint(spec), where
            assert requires_gpu_nodes(spec), where
            for c in spec["containers"]:
                if gpus(c):
                    assert c["resources"]["requests"][GPU_RESOURCE] == c["resources"]["limits"][GPU_RESOURCE], where
    assert seen, "every stack serves a GPU model and runs GPU runners"


def test_every_container_has_requests_limits_and_serving_containers_have_probes(stack_plan: Plan) -> None:
    for where, spec in pod_specs(stack_plan):
        for c in spec.get("initContainers", []) + spec["containers"]:
            res = c.get("resources", {})
            assert {"cpu", "memory"} <= set(res.get("requests", {})), f"{where}/{c['name']}"
            assert {"cpu", "memory"} <= set(res.get("limits", {})), f"{where}/{c['name']}"
        if where.startswith("Deployment"):
            for c in spec["containers"]:
                assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(c), f"{where}/{c['name']}"
                # Guaranteed QoS: requests equal limits.
                assert c["resources"]["requests"] == c["resources"]["limits"], where


def _images(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "image" and isinstance(v, str):
                yield v
            elif k == "image" and isinstance(v, dict) and "tag" in v:
                yield f"{v.get('repository', '?')}:{v['tag']}"
            else:
                yield from _images(v)
    elif isinstance(value, list):
        for v in value:
            yield from _images(v)


def test_no_image_uses_latest_and_platform_images_are_pinned(stack_plan: Plan) -> None:
    images = [i for r in stack_plan.resources if r.type.startswith("kubernetes:") for i in _images(r.inputs)]
    assert images
    for image in images:
        assert not image.endswith(":latest"), image
        assert image.rsplit("/", 1)[-1].count(":") >= 1 or "@sha256:" in image, f"unpinned {image}"
    for where, spec in pod_specs(stack_plan):
        for c in spec.get("initContainers", []) + spec["containers"]:
            # Our registry only (its own repositories or its pull-through cache).
            assert ".dkr.ecr." in c["image"], f"{where}: {c['image']}"
    for _, spec in pod_specs(stack_plan):
        for c in spec.get("initContainers", []):
            assert "@sha256:" in c["image"], c["image"]


def test_every_workload_namespace_has_a_default_deny_network_policy(stack_plan: Plan) -> None:
    # Namespaces of the workloads layer (serving, KEDA, ARC). Monitoring and the GPU stack own theirs.
    workload = ("platform:index:Serving", "platform:index:CiRunners")
    namespaces = {
        obj["metadata"]["name"]
        for r in stack_plan.by_type("kubernetes:core/v1:Namespace")
        if any(t in r.parent for t in workload) and (obj := k8s_object(r))
    }
    runners = (
        {"arc-runners", "arc-systems", "arc-jobs"} if stack_raw(stack_plan.stack)["ciRunners"].get("enabled") else set()
    )
    assert {"serving", *runners} <= namespaces
    policies = objects(stack_plan, "NetworkPolicy")
    for ns in namespaces:
        deny = [
            p
            for p in policies
            if p["metadata"]["namespace"] == ns
            and p["spec"]["podSelector"] == {}
            and "Ingress" in p["spec"]["policyTypes"]
            and not p["spec"].get("ingress")
        ]
        assert deny, f"namespace {ns} has no default-deny NetworkPolicy"


def test_every_serving_deployment_has_a_matching_pdb(stack_plan: Plan) -> None:
    pdbs = objects(stack_plan, "PodDisruptionBudget")
    deployments = objects(stack_plan, "Deployment")
    assert deployments
    for d in deployments:
        labels = d["spec"]["template"]["metadata"]["labels"]
        matching = [
            p
            for p in pdbs
            if p["metadata"]["namespace"] == d["metadata"]["namespace"]
            and p["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(matching) == 1, d["metadata"]["name"]
        assert matching[0]["spec"].get("maxUnavailable") == 1 or matching[0]["spec"].get("minAvailable")


@pytest.mark.parametrize("stack", STACKS)
def test_canary_weights_add_up_to_100_and_match_config(stack: str) -> None:
    from tests.conftest import plan_for

    plan = plan_for(stack)
    models = stack_raw(stack)["serving"]["models"]
    (ingress,) = objects(plan, "Ingress")
    notes = ingress["metadata"]["annotations"]
    for name, model in models.items():
        action = json.loads(notes[f"alb.ingress.kubernetes.io/actions.{name}"])
        groups = {g["serviceName"]: g["weight"] for g in action["forwardConfig"]["targetGroups"]}
        assert sum(groups.values()) == 100, name
        if "canary" in model:
            assert groups[f"{name}-canary"] == model["canary"]["weight"]
            assert groups[name] == 100 - model["canary"]["weight"]
        else:
            assert groups == {name: 100}
    services = {s["metadata"]["name"] for s in objects(plan, "Service")}
    for g in (
        g["serviceName"]
        for k, v in notes.items()
        if ".actions." in k
        for g in json.loads(v)["forwardConfig"]["targetGroups"]
    ):
        assert g in services, f"the ALB action forwards to a missing Service {g}"


def test_runner_role_can_push_only_to_the_platform_repositories(stack_plan: Plan) -> None:
    ci = stack_raw(stack_plan.stack)["ciRunners"]
    if not (ci.get("enabled") and ci.get("pushToRegistry")):
        return  # no push role at all: tests/stacks/test_ci_trust.py
    (sa,) = [s for s in objects(stack_plan, "ServiceAccount") if s["metadata"]["name"] == "arc-runner"]
    role_arn = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    (role,) = [r for r in stack_plan.by_type("aws:iam/role:Role") if r.outputs.get("arn") == role_arn]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    subjects = [v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == [f"system:serviceaccount:{sa['metadata']['namespace']}:arc-runner"]
    repo_arns = {r.outputs["arn"] for r in stack_plan.by_type("aws:ecr/repository:Repository")}
    assert repo_arns
    attached = [
        a for a in stack_plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if role.urn in a.dependencies
    ]
    assert not attached, "the push role carries no managed policies"
    policies = [p for p in stack_plan.by_type("aws:iam/rolePolicy:RolePolicy") if role.urn in p.dependencies]
    assert policies
    writes = 0
    for p in policies:
        for stmt in json.loads(p.inputs["policy"])["Statement"]:
            actions = [stmt["Action"]] if isinstance(stmt["Action"], str) else stmt["Action"]
            resources = [stmt["Resource"]] if isinstance(stmt["Resource"], str) else stmt["Resource"]
            assert stmt["Effect"] == "Allow"
            assert not any(a in ("*", "ecr:*") for a in actions)
            if any(a in ECR_WRITE for a in actions):
                writes += 1
                assert set(resources) <= repo_arns, resources
            else:
                assert actions == ["ecr:GetAuthorizationToken"], actions
    assert writes
