"""Fixture rows of the policies in policy/ai_platform_policies/workloads/containers.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    GOOD,
    GPU_TOLERATION,
    case,
    container,
    dep,
    deployment,
    gpu_container,
    gpu_deployment,
    pod,
    without,
)

BAD_GPU = gpu_container()
BAD_GPU["resources"] = {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}, "limits": {"memory": "16Gi"}}
case(
    "k8s-container-resources",
    dep(gpu_deployment()),
    dep(deployment(pod(BAD_GPU, tolerations=[GPU_TOLERATION]))),
    "extended resources are set in resources.limits",
    dep(deployment(pod(container(resources={})))),
    True,
)
case(
    "k8s-container-probes",
    GOOD,
    dep(deployment(pod(container(readinessProbe=None)))),
    "has no readinessProbe",
    dep(deployment(pod(without(container(), "livenessProbe", "readinessProbe")))),
    True,
)
case(
    "k8s-container-image-pinned",
    GOOD,
    dep(deployment(pod(container(image="111111111111.dkr.ecr.us-west-2.amazonaws.com/vllm:latest")))),
    "pin a tag or digest",
    dep(deployment(pod(without(container(), "image")))),
    True,
    allowedRegistries=["111111111111.dkr.ecr.us-west-2.amazonaws.com"],
    requireDigest=True,
)
case(
    "k8s-pod-gpu-scheduling",
    dep(gpu_deployment()),
    dep(deployment(pod(gpu_container(), nodeSelector={"platform.ai/accelerator": "nvidia"}))),
    "add tolerations [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]",
    dep(deployment(pod(gpu_container(), tolerations=[GPU_TOLERATION]))),
    True,
)
