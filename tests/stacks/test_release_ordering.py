"""Issue 11 defect 8: every Helm release whose pods need nodes waits for the node pools and CoreDNS."""

from __future__ import annotations

from blueprint.preview.plan import Plan

HELM = "kubernetes:helm.sh/v3:Release"
# Charts that install only CRDs create no pod; a DaemonSet-only chart is ready with zero nodes (Helm's
# wait counts the pods it wants, none before a node exists), and GPU nodes must find the device plugin.
NO_PODS = {"prometheus-operator-crds", "nvidia-device-plugin"}


def _waits_for(plan: Plan, urn: str) -> set[str]:
    """Everything a resource waits for, directly or through what it waits for."""
    deps = {r.urn: set(r.dependencies) for r in plan.resources}
    seen: set[str] = set()
    todo = list(deps.get(urn, ()))
    while todo:
        u = todo.pop()
        if u not in seen:
            seen.add(u)
            todo.extend(deps.get(u, ()))
    return seen


def test_every_release_with_pods_waits_for_every_node_pool_and_coredns(stack_plan: Plan) -> None:
    groups = {ng.urn for ng in stack_plan.by_type("aws:eks/nodeGroup:NodeGroup")}
    (coredns,) = [a for a in stack_plan.by_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "coredns"]
    assert groups
    late = {}
    for release in stack_plan.by_type(HELM):
        if release.inputs["chart"] in NO_PODS:
            continue
        missing = (groups | {coredns.urn}) - _waits_for(stack_plan, release.urn)
        if missing:
            late[release.inputs["name"]] = sorted(m.rsplit("::", 1)[-1] for m in missing)
    assert late == {}, f"releases that race the node pools: {late}"
