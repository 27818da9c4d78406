"""The NodePool component: pure helpers, and the node groups of the committed stacks under mocks."""

from __future__ import annotations

import pytest

from blueprint.preview.plan import Plan, Resource
from components.node_pool import CA_TEMPLATE, autoscaler_template_tags, block_devices, node_labels
from components.vocabulary import GPU_TAINT_KEY, LABEL_GPU_MODEL, LABEL_POOL

NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
TAG = "aws:autoscaling/tag:Tag"


def _args(**kw: object):  # type: ignore[no-untyped-def]
    """NodePoolArgs without a cluster (the helpers never touch it)."""
    from components.node_pool import NodePoolArgs

    base: dict[str, object] = {"cluster": None, "subnets": [], "instance_types": ["g5.xlarge"]}
    return NodePoolArgs(**{**base, **kw})  # type: ignore[arg-type]


def test_block_devices_follow_the_ami_family() -> None:
    (al,) = block_devices("AL2023_x86_64_NVIDIA", 200)
    assert (al.device_name, al.ebs.volume_size, al.ebs.encrypted, al.ebs.volume_type) == (
        "/dev/xvda",
        200,
        "true",
        "gp3",
    )
    os_vol, data = block_devices("BOTTLEROCKET_x86_64_NVIDIA", 300)
    assert (os_vol.device_name, os_vol.ebs.volume_size, os_vol.ebs.encrypted) == ("/dev/xvda", None, "true")
    assert (data.device_name, data.ebs.volume_size, data.ebs.encrypted) == ("/dev/xvdb", 300, "true")


def test_gpu_template_tags_describe_labels_taint_and_gpus() -> None:
    args = _args(ami_type="BOTTLEROCKET_x86_64_NVIDIA", gpu_model="l4", gpus_per_node=4, advertised_gpus=8,
                 capacity_type="SPOT", disk_size_gib=250)  # fmt: skip
    tags = autoscaler_template_tags("gpu-l4", args)
    for k, v in node_labels("gpu-l4", args).items():
        assert tags[f"{CA_TEMPLATE}/label/{k}"] == v
    assert tags[f"{CA_TEMPLATE}/label/platform.ai/ami-family"] == "bottlerocket"
    assert tags[f"{CA_TEMPLATE}/label/eks.amazonaws.com/capacityType"] == "SPOT"
    assert tags[f"{CA_TEMPLATE}/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert tags[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"] == "8"
    # Below the volume size: the kubelet keeps 10% of it free.
    assert tags[f"{CA_TEMPLATE}/resources/ephemeral-storage"] == "212Gi"


def test_cpu_pool_has_no_gpu_labels_taint_or_resource() -> None:
    args = _args(instance_types=["m6i.large"], labels={"team": "ml"})
    labels = node_labels("system", args)
    assert labels == {"team": "ml", LABEL_POOL: "system", "platform.ai/ami-family": "al2023"}
    assert not [k for k in autoscaler_template_tags("system", args) if "nvidia" in k]


def _pool_resources(plan: Plan, pool: str, typ: str) -> list[Resource]:
    component = plan.get("platform:index:NodePool", pool)
    return [r for r in plan.by_type(typ) if r.parent == component.urn]


def test_every_launch_template_is_hardened(stack_plan: Plan) -> None:
    templates = stack_plan.by_type(LT)
    assert len(templates) == len(stack_plan.by_type(NG))
    for lt in templates:
        md = lt.inputs["metadataOptions"]
        assert md["httpTokens"] == "required"
        assert md["httpPutResponseHopLimit"] == 1
        for bd in lt.inputs["blockDeviceMappings"]:
            assert bd["ebs"]["encrypted"] == "true"
            assert bd["ebs"]["volumeType"] == "gp3"
        (nic,) = lt.inputs["networkInterfaces"]
        assert nic["associatePublicIpAddress"] == "false"
        assert "subnetId" not in nic  # prohibited in an MNG launch template
        assert nic["securityGroups"]  # the cluster SG, which EKS no longer adds itself
        assert {t["resourceType"] for t in lt.inputs["tagSpecifications"]} >= {"instance", "volume"}
        assert lt.inputs["updateDefaultVersion"] is True


def test_node_groups_use_their_template_and_leave_desired_size_to_the_autoscaler(stack_plan: Plan) -> None:
    for ng in stack_plan.by_type(NG):
        pool = ng.inputs["labels"][LABEL_POOL]
        (lt,) = _pool_resources(stack_plan, pool, LT)
        assert ng.inputs["launchTemplate"]["id"] == lt.outputs["id"]
        assert "scalingConfig.desiredSize" in ng.ignore_changes
        assert ng.inputs["nodeRepairConfig"] == {"enabled": True}
        assert ng.inputs["updateConfig"]["maxUnavailable"] >= 1
        assert "diskSize" not in ng.inputs  # set in the launch template; both is an error


def test_gpu_pools_are_always_tainted_and_labelled(stack_plan: Plan) -> None:
    gpu_groups = [ng for ng in stack_plan.by_type(NG) if "NVIDIA" in ng.inputs["amiType"]]
    # Karpenter stacks have no GPU node group (tests/stacks/test_karpenter.py covers their NodePools).
    assert gpu_groups or stack_plan.by_type("kubernetes:karpenter.sh/v1:NodePool")
    for ng in gpu_groups:
        assert {"key": GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"} in ng.inputs["taints"]
        assert ng.inputs["labels"]["platform.ai/accelerator"] == "nvidia"
        assert ng.inputs["labels"][LABEL_GPU_MODEL]
    for ng in stack_plan.by_type(NG):
        if "NVIDIA" not in ng.inputs["amiType"]:
            assert not ng.inputs.get("taints")


def test_asg_tags_target_the_node_groups_asg(dev_plan: Plan) -> None:
    for ng in dev_plan.by_type(NG):
        pool = ng.inputs["labels"][LABEL_POOL]
        asg = ng.outputs["resources"][0]["autoscalingGroups"][0]["name"]
        tags = _pool_resources(dev_plan, pool, TAG)
        assert tags
        for t in tags:
            assert t.inputs["autoscalingGroupName"] == asg
            assert t.inputs["tag"]["propagateAtLaunch"] is False
            # EKS owns the discovery tags; the pool adds only the node template.
            assert t.inputs["tag"]["key"].startswith(CA_TEMPLATE + "/")


@pytest.mark.parametrize("bad", [{"min_size": 2, "desired_size": 1}, {"desired_size": 5, "max_size": 3}])
def test_sizes_are_checked(bad: dict[str, int]) -> None:
    import pulumi

    from components.node_pool import NodePool

    with pytest.raises(ValueError, match="min_size <= desired_size <= max_size"):
        NodePool("x", _args(**bad), pulumi.ResourceOptions())
