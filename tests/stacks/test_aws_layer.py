"""Per-stack guarantees of the AWS layer (cluster, node pools, autoscaler), as users rely on them."""

from __future__ import annotations

from blueprint.preview.plan import Plan, Resource
from components.cluster import LOG_TYPES, NODE_ROLE_POLICIES
from components.node_pool import CA_TEMPLATE
from tests import fixtures as fx
from tests.conftest import plan_for, stack_raw
from tests.k8s_layer import stack_config

NG = "aws:eks/nodeGroup:NodeGroup"
TAG = "aws:autoscaling/tag:Tag"


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


NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"


def _capacity_types(plan: Plan) -> set[str]:
    """Capacity types of the GPU capacity: node groups' capacityType, NodePools' capacity-type requirement."""
    kinds = {ng.inputs["capacityType"] for ng in plan.by_type(NG) if _gpu(ng)}
    for pool in plan.by_type(NODEPOOL):
        for req in pool.inputs["spec"]["template"]["spec"]["requirements"]:
            if req["key"] == "karpenter.sh/capacity-type":
                kinds |= {v.upper().replace("-", "_") for v in req["values"]}
    return kinds


def test_prod_is_private_only_with_on_demand_gpus_that_never_scale_to_zero() -> None:
    plan = plan_for(fx.PROD)
    assert _eks(plan).inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert _capacity_types(plan) == {"ON_DEMAND"}
    for ng in [ng for ng in plan.by_type(NG) if _gpu(ng)]:
        assert ng.inputs["scalingConfig"]["minSize"] >= 1
    # With Karpenter nothing has a minimum size: the models' own minimum replicas keep their nodes.
    scaled = [r for r in plan.by_type("kubernetes:keda.sh/v1alpha1:ScaledObject") if "canary" not in r.name]
    assert scaled
    assert all(r.inputs["spec"]["minReplicaCount"] >= 1 for r in scaled)


def test_dev_gpu_pools_are_spot_and_scale_from_zero() -> None:
    plan = plan_for(fx.DEV)
    gpu = [ng for ng in plan.by_type(NG) if _gpu(ng)]
    assert gpu
    for ng in gpu:
        assert ng.inputs["capacityType"] == "SPOT"
        assert ng.inputs["scalingConfig"]["minSize"] == 0


def test_staging_mixes_on_demand_and_spot_gpus() -> None:
    assert _capacity_types(plan_for(fx.STAGING)) == {"ON_DEMAND", "SPOT"}


def test_every_pool_that_can_be_empty_carries_the_scale_from_zero_tags(stack_plan: Plan) -> None:
    empty_capable = [ng for ng in stack_plan.by_type(NG) if ng.inputs["scalingConfig"]["minSize"] == 0]
    for ng in empty_capable:
        tags = _asg_tags(stack_plan, ng)
        for label, value in ng.inputs["labels"].items():
            assert tags[f"{CA_TEMPLATE}/label/{label}"] == value
        if _gpu(ng):
            assert tags[f"{CA_TEMPLATE}/taint/nvidia.com/gpu"] == "true:NoSchedule"
            assert int(tags[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"]) >= 1
    # Every managed pool the config lets reach zero is one of them (Karpenter pools are not node groups).
    pools = stack_config(stack_plan.stack).resolved_node_pools().values()
    assert len(empty_capable) == sum(1 for p in pools if p.min_size == 0 and p.karpenter is None)


def test_dev_gpu_count_tag_reflects_time_slicing() -> None:
    plan = plan_for(fx.DEV)
    replicas = stack_raw(fx.DEV)["gpu"]["timeSlicingReplicas"]
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
        # The preview role's read-only entry (AmazonEKSAdminViewPolicy) is not an admin; Karpenter's node
        # role joins as EC2_LINUX (nodes, no access policy).
        if "-viewer-" not in e.name and e.inputs.get("type") != "EC2_LINUX"
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


def test_node_groups_follow_the_control_plane_version(stack_plan: Plan) -> None:
    version = _eks(stack_plan).inputs["version"]
    for ng in stack_plan.by_type(NG):
        assert ng.inputs["version"] == version
