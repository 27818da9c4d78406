"""GPU facts the node and cost policies and the cost estimator share: the taint and resource names, GPUs per
instance type (one table; tests/policy checks it against components.vocabulary.GPU_FAMILIES). Standard library only."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._props import as_list

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"

# GPUs per instance for the NVIDIA families the platform allows (EC2 accelerated-computing
# instance pages). tests/policy checks this table against components.vocabulary.GPU_FAMILIES.
GPUS_PER_INSTANCE: Mapping[str, Mapping[str, int]] = {
    "g4dn": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "metal": 8},
    "g5": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4,
           "48xlarge": 8},
    "g6": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4,
           "48xlarge": 8},
    "g6e": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4,
            "48xlarge": 8},
    "p4d": {"24xlarge": 8},
    "p4de": {"24xlarge": 8},
    "p5": {"48xlarge": 8},
    "p5e": {"48xlarge": 8},
}  # fmt: skip

_GPU_FAMILY = re.compile(r"^(g4dn|g5|g6|g6e|g6f|gr6|p3|p3dn|p4d|p4de|p5|p5e|p5en|p6-b200|g7e)\.")


def is_gpu_instance(instance_type: str) -> bool:
    """An NVIDIA GPU instance type (g4dn, g5, g6, g6e, p4d, p5, …)."""
    return bool(_GPU_FAMILY.match(instance_type or ""))


def gpus_of(instance_type: str) -> int:
    """GPUs per instance; 0 for CPU types; 1 for a GPU type missing from the table (conservative)."""
    family, _, size = instance_type.partition(".")
    if family in GPUS_PER_INSTANCE:
        return GPUS_PER_INSTANCE[family].get(size, 1)
    return 1 if is_gpu_instance(instance_type) else 0


def node_group_instance_types(props: Mapping[str, Any]) -> list[str]:
    """A managed node group's ``instanceTypes``."""
    return [str(t) for t in as_list(props.get("instanceTypes"))]


def is_gpu_node_group(props: Mapping[str, Any]) -> bool:
    """A managed node group of GPU instances (by instance type, or a GPU AMI type)."""
    types = node_group_instance_types(props)
    if any(is_gpu_instance(t) for t in types):
        return True
    return "NVIDIA" in str(props.get("amiType") or "") or "_GPU" in str(props.get("amiType") or "")
