"""Fixture rows of the Karpenter policies (policy/ai_platform_policies/karpenter.py), registered into CASES."""

from __future__ import annotations

from typing import Any

from tests.policy.cases_common import case, deep, without
from tests.policy.harness import R

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


def _req(key: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


GPU_POOL: dict[str, Any] = {
    "apiVersion": "karpenter.sh/v1",
    "kind": "NodePool",
    "metadata": {"name": "gpu-a10g"},
    "spec": {
        "template": {
            "metadata": {"labels": {"platform.ai/accelerator": "nvidia"}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "al2023-soci"},
                "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                "requirements": [
                    _req("karpenter.k8s.aws/instance-family", "g5"),
                    _req("karpenter.k8s.aws/instance-gpu-manufacturer", "nvidia"),
                ],
            },
        },
        "limits": {"cpu": "64", "memory": "256Gi", "nvidia.com/gpu": "8"},
    },
}
NODE_CLASS: dict[str, Any] = {
    "apiVersion": "karpenter.k8s.aws/v1",
    "kind": "EC2NodeClass",
    "metadata": {"name": "al2023-soci"},
    "spec": {
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "200Gi", "encrypted": True}}],
    },
}
TAINTS = "spec.template.spec.taints"

case(
    "karpenter-nodepool-gpu-taint",
    R(NODEPOOL, GPU_POOL, "gpu"),
    R(NODEPOOL, deep(GPU_POOL, TAINTS, [{"key": "nvidia.com/gpu", "effect": "PreferNoSchedule"}]), "gpu"),
    "has no nvidia.com/gpu:NoSchedule taint",
    R(NODEPOOL, without(GPU_POOL, TAINTS), "gpu"),
    True,
)
case(
    "karpenter-nodepool-gpu-limits",
    R(NODEPOOL, GPU_POOL, "gpu"),
    R(NODEPOOL, deep(GPU_POOL, "spec.limits", {"cpu": "64"}), "gpu"),
    "has no spec.limits for memory, nvidia.com/gpu",
    R(NODEPOOL, without(GPU_POOL, "spec.limits"), "gpu"),
    True,
)
case(
    "karpenter-nodeclass-imds",
    R(NODECLASS, NODE_CLASS, "nc"),
    R(NODECLASS, deep(NODE_CLASS, "spec.metadataOptions.httpPutResponseHopLimit", 2.0), "nc"),
    "hop limit 2",
    R(NODECLASS, without(NODE_CLASS, "spec.metadataOptions"), "nc"),
    True,
    maxHopLimit=1,
)
case(
    "karpenter-nodeclass-ebs-encrypted",
    R(NODECLASS, NODE_CLASS, "nc"),
    R(NODECLASS, deep(NODE_CLASS, "spec.blockDeviceMappings.0.ebs.encrypted", False), "nc"),
    "volume /dev/xvda is unencrypted",
    R(NODECLASS, without(NODE_CLASS, "spec.blockDeviceMappings"), "nc"),
    True,
)
case(
    "karpenter-nodepool-instance-families",
    R(NODEPOOL, GPU_POOL, "gpu"),
    R(NODEPOOL, deep(GPU_POOL, "spec.template.spec.requirements.0.values", ["g5", "p5"]), "gpu"),
    "allows instance families ['p5'] outside this tier's ['g5', 'g6']",
    R(NODEPOOL, without(GPU_POOL, "spec.template.spec.requirements.0"), "gpu"),
    True,
    allowedFamilies=["g5", "g6"],
)
