"""The ClusterAutoscaler component under mocks: chart values, IRSA scope and expander priorities."""

from __future__ import annotations

import json
import re

from blueprint.preview.plan import Plan, Resource
from components.cluster_autoscaler import IMAGE_TAGS, expander_priorities
from tests.conftest import STACKS, plan_for, stack_raw
from tests.k8s_layer import stack_config

RELEASE = "kubernetes:helm.sh/v3:Release"


def _eks(plan: Plan) -> Resource:
    (eks,) = plan.by_type("aws:eks/cluster:Cluster")
    return eks


def test_autoscaler_matches_the_cluster_and_runs_on_the_system_pool(stack_plan: Plan) -> None:
    (release,) = [r for r in stack_plan.by_type(RELEASE) if r.inputs["name"] == "cluster-autoscaler"]
    values = release.inputs["values"]
    eks = _eks(stack_plan)
    assert values["autoDiscovery"]["clusterName"] == eks.inputs["name"]
    assert values["image"]["tag"] == IMAGE_TAGS[eks.inputs["version"]]
    assert values["image"]["tag"].startswith(f"v{eks.inputs['version']}.")
    assert values["awsRegion"] == stack_raw(stack_plan.stack)["region"]
    assert values["extraArgs"]["balance-similar-node-groups"] is True
    assert values["extraArgs"]["skip-nodes-with-system-pods"] is False
    assert values["nodeSelector"] == {"platform.ai/pool": "system"}
    assert values["resources"]["requests"]
    assert values["resources"]["limits"]["memory"]
    assert release.inputs["version"] == "9.59.0"
    # Its pod needs a node: the release waits for the node pools.
    groups = {ng.urn for ng in stack_plan.by_type("aws:eks/nodeGroup:NodeGroup")}
    assert groups <= set(release.dependencies)
    # ... and DNS, to reach the AWS APIs.
    (coredns,) = [a for a in stack_plan.by_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "coredns"]
    assert coredns.urn in release.dependencies


def test_autoscaler_role_can_only_scale_this_clusters_groups(stack_plan: Plan) -> None:
    (release,) = [r for r in stack_plan.by_type(RELEASE) if r.inputs["name"] == "cluster-autoscaler"]
    role_arn = release.inputs["values"]["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    role = next(r for r in stack_plan.by_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn)
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert "system:serviceaccount:kube-system:cluster-autoscaler" in json.dumps(trust["Condition"])
    (policy,) = [p for p in stack_plan.by_type("aws:iam/rolePolicy:RolePolicy") if role.urn in p.dependencies]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    scale = statements["ScaleOwnNodegroups"]
    assert "autoscaling:SetDesiredCapacity" in scale["Action"]
    cluster = _eks(stack_plan).inputs["name"]
    assert scale["Condition"] == {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}}
    assert all(not a.startswith("autoscaling:Set") for a in statements["Describe"]["Action"])


def test_priority_expander_prefers_spot_pools_by_exact_name() -> None:
    prio = expander_priorities(["gpu"])
    (pattern,) = prio["50"]
    assert re.match(pattern, "eks-gpu-20261122001500123400000001-5ec0a4f7-1111-2222-3333-444455556666")
    assert not re.match(pattern, "eks-gpu-big-20261122001500123400000001-5ec0a4f7-1111-2222-3333-444455556666")
    assert prio["10"] == [".*"]
    # The stack's spot node groups come first; Karpenter pools are no node groups and never listed.
    for stack in STACKS:
        cfg = stack_config(stack)
        spot = [p.name for p in cfg.resolved_node_pools().values() if p.capacity_type == "SPOT" and not p.karpenter]
        (release,) = [r for r in plan_for(stack).by_type(RELEASE) if r.inputs["name"] == "cluster-autoscaler"]
        assert release.inputs["values"]["expanderPriorities"] == expander_priorities(spot)


def test_an_autoscaler_image_exists_for_every_supported_version() -> None:
    from infra.config import EKS_STANDARD_SUPPORT_VERSIONS

    for version in EKS_STANDARD_SUPPORT_VERSIONS:
        assert IMAGE_TAGS[version].startswith(f"v{version}.")
