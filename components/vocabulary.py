"""The platform's shared vocabulary: node labels, the GPU taint, GPU instance facts and AMI types.

The bottom layer: components and ``infra/config`` both import it, it imports the standard library
only (tests/test_layering.py), so a component never needs the config layer to know what a label is
called. The policy pack keeps its own copies of what it checks (it must load alone under the Pulumi
CLI); tests/policy/test_pack.py checks those copies equal to these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

# Node labels the platform sets on every pool; workloads select GPU pools with these.
LABEL_POOL = "platform.ai/pool"
LABEL_ACCELERATOR = "platform.ai/accelerator"
LABEL_GPU_MODEL = "platform.ai/gpu-model"
LABEL_AMI_FAMILY = "platform.ai/ami-family"

# GPU pools carry this taint; the NVIDIA device plugin advertises this extended resource.
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_RESOURCE = "nvidia.com/gpu"

# The Kubernetes service account the CI runner pods run as (in ``ciRunners.namespace``). The
# registry's CI push role trusts exactly this account, so the runner scale sets must use it.
RUNNER_SERVICE_ACCOUNT = "arc-runner"


@dataclass(frozen=True)
class GpuInstanceFamily:
    """What the platform knows about one NVIDIA instance family."""

    gpu_model: str
    """GPU model label value, e.g. ``a10g``."""
    gpus_by_size: Mapping[str, int]
    """GPUs per instance for each size in the family."""


# NVIDIA GPU families and their per-size GPU counts, from the EC2 accelerated-computing
# instance pages (https://aws.amazon.com/ec2/instance-types/#Accelerated_Computing).
# The cluster-autoscaler needs the count for its scale-from-zero node template, and the
# preflight command checks it against DescribeInstanceTypes.
GPU_FAMILIES: Mapping[str, GpuInstanceFamily] = {
    "g4dn": GpuInstanceFamily("t4", {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1,
                                     "16xlarge": 1, "12xlarge": 4, "metal": 8}),
    "g5": GpuInstanceFamily("a10g", {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1,
                                     "16xlarge": 1, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g6": GpuInstanceFamily("l4", {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1,
                                   "16xlarge": 1, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g6e": GpuInstanceFamily("l40s", {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1,
                                      "16xlarge": 1, "12xlarge": 4, "24xlarge": 4,
                                      "48xlarge": 8}),
    "p4d": GpuInstanceFamily("a100", {"24xlarge": 8}),
    "p4de": GpuInstanceFamily("a100", {"24xlarge": 8}),
    "p5": GpuInstanceFamily("h100", {"48xlarge": 8}),
    "p5e": GpuInstanceFamily("h200", {"48xlarge": 8}),
}  # fmt: skip


def gpu_facts(instance_type: str) -> tuple[str, int] | None:
    """``(gpu_model, gpus)`` for an NVIDIA instance type, or None for a CPU type."""
    family, _, size = instance_type.partition(".")
    fam = GPU_FAMILIES.get(family)
    if fam is None or size not in fam.gpus_by_size:
        return None
    return fam.gpu_model, fam.gpus_by_size[size]


# EKS managed node group AMI types the platform supports (CreateNodegroup `amiType`).
GPU_AMI_TYPES: tuple[str, ...] = ("AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA")
CPU_AMI_TYPES: tuple[str, ...] = ("AL2023_x86_64_STANDARD", "BOTTLEROCKET_x86_64")
AmiType = Literal[
    "AL2023_x86_64_STANDARD", "BOTTLEROCKET_x86_64",
    "AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA",
]  # fmt: skip


# --------------------------------------------------------------------------- Kubernetes quantities
# The quantity grammar of k8s.io/apimachinery/pkg/api/resource (quantity.go): a decimal number with a
# binary (Ki..Ei) or decimal (m, k..E) suffix, or a decimal exponent.
_quantity_suffixes: Mapping[str, Fraction] = {
    "": Fraction(1),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}
_quantity_grammar = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$")


def parse_quantity(value: str | int | float) -> Fraction:
    """A Kubernetes quantity (``500m``, ``16Gi``, ``1e3``, ``8``) as an exact number; ValueError if it is none.

    The one parser of the platform: the config validates with it, components and the preview's analyses
    compute with it."""
    if isinstance(value, int | float):
        return Fraction(value)
    m = _quantity_grammar.match(str(value).strip())
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number = Fraction(m.group(1))
    if m.group(2):
        return number * Fraction(10) ** int(m.group(2))
    return number * _quantity_suffixes[m.group(3) or ""]
