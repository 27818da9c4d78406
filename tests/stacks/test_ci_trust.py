"""Issue 12 item 3: no runner or job pod can read the GitHub App key; only the building stack pushes images."""

from __future__ import annotations

import json
from typing import Any

from blueprint.preview.analyses.pod_templates import pod_templates
from blueprint.preview.plan import Plan
from blueprint.preview.render import k8s_object
from tests.conftest import stack_raw

READ = {"get", "list", "watch", "*"}
RBAC = "kubernetes:rbac.authorization.k8s.io/v1:"


def _objects(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return [o for r in plan.resources if r.type.endswith(f":{kind}") and (o := k8s_object(r))]


def secret_readers(plan: Plan, namespace: str, name: str) -> set[tuple[str, str]]:
    """Service accounts (namespace, name) whose Roles/ClusterRoles let them read this Secret."""
    roles = {("Role", o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in _objects(plan, "Role")}
    roles |= {("ClusterRole", None, o["metadata"]["name"]): o for o in _objects(plan, "ClusterRole")}

    def reads(role: dict[str, Any]) -> bool:
        for rule in role.get("rules") or []:
            if not ({"", "*"} & set(rule.get("apiGroups") or [])):
                continue
            if not ({"secrets", "*"} & set(rule.get("resources") or [])) or not (READ & set(rule.get("verbs") or [])):
                continue
            if not rule.get("resourceNames") or name in rule["resourceNames"]:
                return True
        return False

    out = set()
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for b in _objects(plan, kind):
            bns = b["metadata"].get("namespace")
            if kind == "RoleBinding" and bns != namespace:
                continue
            ref = b["roleRef"]
            role = roles.get((ref["kind"], bns if ref["kind"] == "Role" else None, ref["name"]))
            if role is None or reads(role):  # an unknown role is assumed to read
                for s in b.get("subjects") or []:
                    if s.get("kind") == "ServiceAccount":
                        out.add((s.get("namespace") or bns, s["name"]))
    return out


def ci_identities(plan: Plan) -> set[tuple[str, str]]:
    """Service accounts of every runner pod and every job pod the hooks would create."""
    out = set()
    for pod in pod_templates(plan):
        if "runner pod" in pod.where or "job pod" in pod.where:
            out.add((pod.namespace, pod.spec.get("serviceAccountName") or "default"))
    return out


def test_no_runner_or_job_pod_can_read_the_github_app_key(stack_plan: Plan) -> None:
    keys = [
        s["metadata"]
        for s in _objects(stack_plan, "Secret")
        if "github_app_private_key" in json.dumps(s.get("stringData") or s.get("data") or {})
    ]
    identities = ci_identities(stack_plan)
    if not stack_raw(stack_plan.stack).get("ciRunners", {}).get("enabled"):
        assert not keys
        assert not identities
        return
    (meta,) = keys
    assert identities, "runner and job pods are found"
    assert any(ns != meta["namespace"] for ns, _ in identities), "job pods run outside the key's namespace"
    readers = secret_readers(stack_plan, meta["namespace"], meta["name"])
    assert not readers & identities, f"CI pods that can read {meta['namespace']}/{meta['name']}: {readers & identities}"


def test_the_reader_check_catches_a_role_that_can_read_the_key() -> None:
    """The check above is not vacuous: a runner bound to a secret-reading Role in the key's namespace is caught."""
    from tests.analyses.test_admission import resource

    role = {
        "metadata": {"name": "r", "namespace": "arc-runners"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
    }
    binding = {
        "metadata": {"name": "b", "namespace": "arc-runners"},
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "arc-runner", "namespace": "arc-runners"}],
    }
    plan = Plan(
        "t",
        "p",
        [
            resource("Role", "rbac.authorization.k8s.io/v1", role),
            resource("RoleBinding", "rbac.authorization.k8s.io/v1", binding),
        ],
        {},
    )
    assert secret_readers(plan, "arc-runners", "github-app") == {("arc-runners", "arc-runner")}
    role["rules"][0]["resourceNames"] = ["other"]
    assert secret_readers(plan, "arc-runners", "github-app") == set()


def test_only_the_stack_that_builds_images_pushes_from_its_cluster(stack_plan: Plan) -> None:
    ci = stack_raw(stack_plan.stack).get("ciRunners", {})
    push = bool(ci.get("enabled") and ci.get("pushToRegistry"))
    sas = [s for s in _objects(stack_plan, "ServiceAccount") if s["metadata"]["name"] == "arc-runner"]
    annotated = [s for s in sas if "eks.amazonaws.com/role-arn" in (s["metadata"].get("annotations") or {})]
    assert bool(annotated) == push
    trusted = [
        r
        for r in stack_plan.by_type("aws:iam/role:Role")
        if "system:serviceaccount:" in (r.inputs.get("assumeRolePolicy") or "")
        and "arc-runner" in r.inputs["assumeRolePolicy"]
    ]
    assert bool(trusted) == push, "no IAM role trusts the runners unless the stack builds images"


def test_job_pods_carry_their_own_resources_in_every_stack(stack_plan: Plan) -> None:
    """Issue 11 defect 5: the job namespace's LimitRange default (500m / 1Gi) must not size builds."""
    jobs = [p for p in pod_templates(stack_plan) if p.where.endswith("job pod (hook template)")]
    sets = stack_raw(stack_plan.stack).get("ciRunners", {}).get("scaleSets", {})
    enabled = stack_raw(stack_plan.stack).get("ciRunners", {}).get("enabled")
    assert len(jobs) == (len(sets) if enabled else 0)
    for pod in jobs:
        job = next(c for c in pod.spec["containers"] if c["name"] == "job")
        limits = job["resources"]["limits"]
        assert {"cpu", "memory", "ephemeral-storage"} <= set(limits), pod.where
        assert job["resources"]["requests"] == limits
