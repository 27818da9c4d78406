"""Fixture rows of the policies in policy/ai_platform_policies/cost.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    GPU_NG,
    LT,
    LT_OK,
    NG,
    PROVIDER,
    case,
    deep,
    dep,
    gpu_deployment,
    merged,
    without,
)
from tests.policy.harness import R

case(
    "eks-node-group-gpu-instance-allowlist",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, instanceTypes=["p5.48xlarge"])),
    "change nodePools.gpu-a10g.instanceTypes in stacks/Pulumi.<stack>.yaml",
    R(NG, without(GPU_NG, "instanceTypes")),
    False,
    allowedGpuInstanceTypes=["g5.xlarge"],
)
case(
    "eks-node-group-gpu-max-size",
    R(NG, GPU_NG),
    R(NG, deep(GPU_NG, "scalingConfig.maxSize", 6.0)),
    "lower nodePools.gpu-a10g.maxSize in stacks/Pulumi.<stack>.yaml",
    R(NG, without(GPU_NG, "scalingConfig.maxSize")),
    True,
    maxNodesPerPool=2,
)
case(
    "eks-gpu-capacity-budget",
    [R(NG, GPU_NG, "a"), R(NG, GPU_NG, "b")],
    [R(NG, GPU_NG, "a"), R(NG, deep(GPU_NG, "scalingConfig.maxSize", 4.0), "b")],
    "above the budget of 4",
    [R(NG, without(GPU_NG, "scalingConfig"), "a")],
    False,
    maxGpuNodesTotal=4,
    maxGpusTotal=8,
)
case(
    "eks-node-group-gpu-spot",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, capacityType="ON_DEMAND")),
    "set nodePools.gpu-a10g.capacityType: SPOT",
    R(NG, without(GPU_NG, "capacityType")),
    True,
)
case(
    "eks-node-group-gpu-scale-to-zero",
    R(NG, GPU_NG),
    R(NG, deep(GPU_NG, "scalingConfig.minSize", 1.0)),
    "set nodePools.gpu-a10g.minSize: 0",
    R(NG, without(GPU_NG, "scalingConfig.minSize")),
    True,
)
case(
    "eks-node-group-gpu-scale-from-zero-labels",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, labels={"platform.ai/pool": "gpu-a10g"})),
    "carries no platform.ai/accelerator or platform.ai/gpu-model label",
    R(NG, without(GPU_NG, "labels")),
    True,
)
PINNED = deep(GPU_NG, "scalingConfig.desiredSize", 2.0)
case(
    "eks-node-group-desired-size-unmanaged",
    R(NG, PINNED, ignore_changes=["scalingConfig.desiredSize"]),
    R(NG, PINNED),
    "add ignore_changes=['scalingConfig.desiredSize']",
    R(NG, without(GPU_NG, "scalingConfig")),
    False,
)
case(
    "k8s-serving-gpu-replicas-capped",
    dep(gpu_deployment(replicas=1.0)),
    dep(gpu_deployment(replicas=3.0)),
    "lower serving.models.<name>.minReplicas",
    dep(without(gpu_deployment(), "spec.replicas")),
    False,
    maxGpuReplicas=1,
)
case(
    "ec2-launch-template-gp3",
    R(LT, LT_OK),
    R(LT, deep(LT_OK, "blockDeviceMappings.0.ebs.volumeType", "gp2")),
    "set ebs.volumeType: gp3",
    R(LT, without(LT_OK, "blockDeviceMappings.0.ebs.volumeType")),
    True,
)
case(
    "aws-provider-region-allowlist",
    R(PROVIDER, {"region": "us-west-2"}),
    R(PROVIDER, {"region": "ap-south-1"}),
    "set region in stacks/Pulumi.<stack>.yaml",
    R(PROVIDER, {}),
    True,
    allowedRegions=["us-west-2"],
)
# The caps price the plan with the committed us-west-2 table: 2 on-demand g5.xlarge at ceiling stay
# under $2,000/month, 4 do not (each is over $700/month at any plausible refresh).
_CAP_PROVIDER = R(PROVIDER, {"region": "us-west-2"}, "aws")
case(
    "cost-monthly-caps",
    [_CAP_PROVIDER, R(NG, merged(GPU_NG, capacityType="ON_DEMAND"), "gpu")],
    [_CAP_PROVIDER, R(NG, deep(merged(GPU_NG, capacityType="ON_DEMAND"), "scalingConfig.maxSize", 4.0), "gpu")],
    "exceeds this environment's cap of $2,000/month (prices us-west-2",
    [R(NG, without(GPU_NG, "scalingConfig"), "gpu")],
    False,
    maxMonthlyCeiling=2000,
)
