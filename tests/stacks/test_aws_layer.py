"""Per-stack guarantees of the AWS layer (cluster, node pools, autoscaler), as users rely on them."""

from __future__ import annotations

import json
import re

from blueprint.plan import Plan, Resource
from components.cluster import LOG_TYPES, NODE_ROLE_POLICIES
from components.cluster_autoscaler import IMAGE_TAGS, expander_priorities
from components.node_pool import CA_TEMPLATE
from tests.conftest import plan_for, stack_raw

NG = "aws:eks/nodeGroup:NodeGroup"
TAG = "aws:autoscaling/tag:Tag"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _eks(plan: Plan) -> Resource:
    (eks,) = plan.by_type("aws:eks/cluster:Cluster")
    return eks


def _asg_tags(plan: Plan, ng: Resource) -> dict[str, str]:
    asg = ng.outputs["resources"][0]["autoscalingGroups"][0]["name"]
    return {
        t.inputs["tag"]["key"]: t.inputs["tag"]["value"]
        for t in plan.by_type(TAG)
        if t.inputs["autoscalingGroupName"] == asg
    }


def _gpu(ng: Resource) -> bool:
    return "NVIDIA" in ng.inputs["amiType"]


def test_prod_is_private_only_with_on_demand_gpus_that_never_scale_to_zero() -> None:
    plan = plan_for("prod")
    assert _eks(plan).inputs["vpcConfig"]["endpointPublicAccess"] is False
    gpu = [ng for ng in plan.by_type(NG) if _gpu(ng)]
    assert gpu
    for ng in gpu:
        assert ng.inputs["capacityType"] == "ON_DEMAND"
        assert ng.inputs["scalingConfig"]["minSize"] >= 1


def test_dev_gpu_pools_are_spot_and_scale_from_zero() -> None:
    plan = plan_for("dev")
    gpu = [ng for ng in plan.by_type(NG) if _gpu(ng)]
    assert gpu
    for ng in gpu:
        assert ng.inputs["capacityType"] == "SPOT"
        assert ng.inputs["scalingConfig"]["minSize"] == 0


def test_staging_mixes_on_demand_and_spot_gpus() -> None:
    kinds = {ng.inputs["capacityType"] for ng in plan_for("staging").by_type(NG) if _gpu(ng)}
    assert kinds == {"ON_DEMAND", "SPOT"}


def test_every_pool_that_can_be_empty_carries_the_scale_from_zero_tags(stack_plan: Plan) -> None:
    empty_capable = [ng for ng in stack_plan.by_type(NG) if ng.inputs["scalingConfig"]["minSize"] == 0]
    for ng in empty_capable:
        tags = _asg_tags(stack_plan, ng)
        for label, value in ng.inputs["labels"].items():
            assert tags[f"{CA_TEMPLATE}/label/{label}"] == value
        if _gpu(ng):
            assert tags[f"{CA_TEMPLATE}/taint/nvidia.com/gpu"] == "true:NoSchedule"
            assert int(tags[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"]) >= 1
    if stack_plan.stack == "dev":
        assert len(empty_capable) == 2


def test_dev_gpu_count_tag_reflects_time_slicing() -> None:
    plan = plan_for("dev")
    replicas = stack_raw("dev")["gpu"]["timeSlicingReplicas"]
    for ng in (ng for ng in plan.by_type(NG) if _gpu(ng)):
        # g5.xlarge / g6.xlarge: one GPU, advertised `replicas` times by the device plugin.
        assert _asg_tags(plan, ng)[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"] == str(replicas)


def test_every_gpu_node_group_is_tainted(stack_plan: Plan) -> None:
    for ng in stack_plan.by_type(NG):
        if _gpu(ng):
            assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in ng.inputs["taints"]


def test_launch_templates_require_imdsv2_hop_1_and_encrypted_gp3(stack_plan: Plan) -> None:
    for lt in stack_plan.by_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
        assert lt.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert all(
            b["ebs"]["encrypted"] == "true" and b["ebs"]["volumeType"] == "gp3"
            for b in lt.inputs["blockDeviceMappings"]
        )


def test_gpu_pools_get_at_least_200_gib_for_model_images(stack_plan: Plan) -> None:
    templates = {lt.outputs["id"]: lt for lt in stack_plan.by_type("aws:ec2/launchTemplate:LaunchTemplate")}
    for ng in stack_plan.by_type(NG):
        if _gpu(ng):
            lt = templates[ng.inputs["launchTemplate"]["id"]]
            assert max(b["ebs"].get("volumeSize", 0) for b in lt.inputs["blockDeviceMappings"]) >= 200


def test_node_role_has_only_node_policies(stack_plan: Plan) -> None:
    role = stack_plan.get("aws:iam/role:Role", "cluster-node-role")
    attached = [
        a.inputs["policyArn"]
        for a in stack_plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if role.urn in a.dependencies
    ]
    assert sorted(attached) == sorted(NODE_ROLE_POLICIES)
    assert not [p for p in attached if "CNI" in p]
    for ng in stack_plan.by_type(NG):
        assert ng.inputs["nodeRoleArn"] == role.outputs["arn"]


def test_access_entries_are_exactly_the_configured_admins(stack_plan: Plan) -> None:
    admins = sorted(stack_raw(stack_plan.stack)["cluster"]["adminRoleArns"])
    entries = sorted(
        e.inputs["principalArn"]
        for e in stack_plan.by_type("aws:eks/accessEntry:AccessEntry")
        # DeployIdentity adds the preview role's read-only entry (AmazonEKSAdminViewPolicy) itself.
        if not e.parent.endswith("platform:index:DeployIdentity::delivery")
    )
    assert entries == admins


def test_all_log_types_and_key_rotation(stack_plan: Plan) -> None:
    assert sorted(_eks(stack_plan).inputs["enabledClusterLogTypes"]) == sorted(LOG_TYPES)
    assert len(LOG_TYPES) == 5
    for key in stack_plan.by_type("aws:kms/key:Key"):
        assert key.inputs["enableKeyRotation"] is True


def test_desired_size_is_ignored_everywhere(stack_plan: Plan) -> None:
    for ng in stack_plan.by_type(NG):
        assert ng.ignore_changes == ["scalingConfig.desiredSize"]


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
    assert any("NodePool" in d for d in release.dependencies)


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
    staging = plan_for("staging")
    (release,) = [r for r in staging.by_type(RELEASE) if r.inputs["name"] == "cluster-autoscaler"]
    assert release.inputs["values"]["expanderPriorities"]["50"] == expander_priorities(["gpu-a10g-spot"])["50"]


def test_an_autoscaler_image_exists_for_every_supported_version() -> None:
    from infra.config import EKS_STANDARD_SUPPORT_VERSIONS

    for version in EKS_STANDARD_SUPPORT_VERSIONS:
        assert IMAGE_TAGS[version].startswith(f"v{version}.")


def test_node_groups_follow_the_control_plane_version(stack_plan: Plan) -> None:
    version = _eks(stack_plan).inputs["version"]
    for ng in stack_plan.by_type(NG):
        assert ng.inputs["version"] == version
