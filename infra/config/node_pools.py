"""``nodePoolDefaults`` and ``nodePools``: the settings and the resolved pools."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from components.vocabulary import (
    AmiType,
    gpu_facts,
)
from infra import input_rules
from infra.config._base import _Model, derived, layered
from infra.config.network import NetworkConfig

# Built-in defaults that depend on the pool's instance types (NodePoolSpec documents them).
CPU_POOL_AMI = "AL2023_x86_64_STANDARD"
GPU_POOL_AMI = "AL2023_x86_64_NVIDIA"
CPU_POOL_DISK_GIB = 50
GPU_POOL_DISK_GIB = 200


class KarpenterPoolSpec(_Model):
    """Karpenter settings of one GPU pool. Unset families/sizes/capacity types follow ``instanceTypes``/``capacityType``."""

    instance_families: list[str] | None = derived("the families of instanceTypes", min_length=1, max_length=10)
    """Instance families Karpenter may choose from (``karpenter.k8s.aws/instance-family``), e.g. ``[g5, g6]``."""
    instance_sizes: list[str] | None = derived("the sizes of instanceTypes", min_length=1, max_length=10)
    """Instance sizes (``karpenter.k8s.aws/instance-size``), e.g. ``[2xlarge, 4xlarge]``; all with the same GPU count."""
    capacity_types: list[Literal["on-demand", "spot", "reserved"]] | None = derived(
        "[the pool's capacityType]", min_length=1
    )
    """``karpenter.sh/capacity-type`` values; Karpenter prefers reserved, then spot, then on-demand."""
    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = "WhenEmpty"
    """``WhenEmpty`` (default): a GPU node serving traffic is never consolidated away mid-request; only empty
    nodes go (ADR 0012). ``WhenEmptyOrUnderutilized`` also repacks busy nodes (batch pools)."""
    consolidate_after: str = "10m"
    """How long a node stays empty before it is removed (absorbs scale-down/scale-up flapping)."""
    expire_after: str = "720h"
    """Maximum node lifetime (picks up new AMIs); ``Never`` disables expiry."""
    budget_nodes: str = "1"
    """Disruption budget: nodes (or ``N%``) of the pool disrupted at once by consolidation, drift or expiry."""
    image_pull: Literal["soci", "snapshot", "standard"] | None = derived(
        "snapshot with imageCacheSnapshotId, else standard on Bottlerocket, soci on AL2023"
    )
    """Image pull path: ``soci`` (AL2023 SOCI parallel pull; default on AL2023, no build step), ``snapshot``
    (Bottlerocket data volume from a pre-pulled image snapshot, ``imageCacheSnapshotId``), ``standard``."""
    image_cache_snapshot_id: str | None = Field(default=None, pattern=r"^snap-[0-9a-f]{8,17}$")
    """EBS snapshot of a Bottlerocket data volume with the serving images pre-pulled (``imagePull: snapshot``)."""

    @field_validator("consolidate_after", "expire_after")
    @classmethod
    def _duration(cls, v: str) -> str:
        # The CRD's pattern for consolidateAfter/expireAfter: ^(([0-9]+(s|m|h))+|Never)$
        if not re.fullmatch(r"([0-9]+(s|m|h))+|Never", v):
            raise ValueError("a duration such as 10m, 720h or Never")
        return v

    @field_validator("budget_nodes")
    @classmethod
    def _budget(cls, v: str) -> str:
        if not re.fullmatch(r"\d+%?", v):
            raise ValueError("a node count or percentage such as 1 or 10%")
        return v


class NodePoolSpec(_Model):
    """A node pool's settings. In ``nodePools`` every unset field falls back to ``nodePoolDefaults``, then to
    the default below (``availabilityZones`` and ``karpenter`` are each pool's own)."""

    instance_types: list[str] = Field(default_factory=lambda: ["m6i.large"], min_length=1, max_length=20)
    """EC2 instance types; a GPU pool lists types with the same GPU count."""

    @field_validator("instance_types")
    @classmethod
    def _instance_types(cls, v: list[str]) -> list[str]:
        bad = [f"{t[:40]!r}: {p}" for t in v if (p := input_rules.instance_type_problem(t))]
        if bad:
            raise ValueError("; ".join(bad[:3]))
        return v

    ami_type: AmiType | None = derived(f"{GPU_POOL_AMI} for GPU instance types, else {CPU_POOL_AMI}")
    """EKS AMI type."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """ON_DEMAND or SPOT."""
    min_size: int | None = derived("0 for GPU pools, 1 for CPU pools", ge=0, le=1000)
    """Minimum nodes; 0 lets the autoscaler scale the pool to zero."""
    desired_size: int | None = derived("minSize", ge=0, le=1000)
    """Nodes at creation; afterwards the cluster-autoscaler owns it."""
    max_size: int | None = derived("max(minSize, 3)", ge=1, le=1000)
    """Maximum nodes."""
    disk_size_gib: int | None = derived(f"{CPU_POOL_DISK_GIB}; GPU pools at least {GPU_POOL_DISK_GIB}", ge=20, le=16384)
    """Root volume size. GPU pools get at least 200 GiB (large model images) unless the pool itself sets less."""
    max_unavailable: int = Field(default=1, ge=1, le=100)
    """Nodes replaced at once during an update."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra node labels; a pool's labels are merged over ``nodePoolDefaults.labels``."""
    auto_repair: bool = True
    """EKS node auto-repair."""
    availability_zones: list[str] | None = derived("network.availabilityZones")
    """Restrict the pool to these AZs (a subset of the network's)."""
    karpenter: KarpenterPoolSpec | None = derived("the KarpenterPoolSpec defaults (GPU pools under Karpenter)")
    """How Karpenter provisions this GPU pool (``nodeProvisioner: karpenter`` only)."""


@dataclass(frozen=True)
class KarpenterPool:
    """A GPU pool's Karpenter settings with defaults applied (see :class:`KarpenterPoolSpec`)."""

    instance_families: tuple[str, ...]
    instance_sizes: tuple[str, ...]
    capacity_types: tuple[str, ...]
    consolidation_policy: str
    consolidate_after: str
    expire_after: str
    budget_nodes: str
    image_pull: str
    image_cache_snapshot_id: str | None


@dataclass(frozen=True)
class NodePoolSettings:
    """A node pool with its defaults applied and its GPU facts derived (not the ``NodePool`` component: this is
    what the program builds that component, or a Karpenter NodePool, from)."""

    name: str
    instance_types: tuple[str, ...]
    ami_type: str
    capacity_type: str
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int
    max_unavailable: int
    labels: Mapping[str, str]
    auto_repair: bool
    availability_zones: tuple[str, ...]
    gpu_model: str | None
    """GPU model (``a10g``) for GPU pools, None for CPU pools."""
    gpus_per_node: int
    """GPUs per node (0 for CPU pools)."""
    karpenter: KarpenterPool | None = None
    """Karpenter settings of a GPU pool when the stack's ``nodeProvisioner`` is ``karpenter``."""

    @property
    def gpu(self) -> bool:
        """Whether the pool runs NVIDIA GPU instances."""
        return self.gpus_per_node > 0


def _is_gpu_family(instance_type: str) -> bool:
    return instance_type.split(".")[0].rstrip("dn").startswith(("g", "p")) and not instance_type.startswith("g5g")


def resolve_pool(
    name: str, spec: NodePoolSpec, d: NodePoolSpec, net: NetworkConfig, karpenter: bool = False
) -> NodePoolSettings:
    """``nodePools.<name>`` over ``nodePoolDefaults``, with the derived defaults and GPU facts."""
    s = layered(spec, d, own=("availability_zones", "karpenter"))
    types = tuple(s.instance_types)
    gpu = gpu_facts(types[0])
    min_size = s.min_size if s.min_size is not None else (0 if gpu else 1)
    disk = s.disk_size_gib if s.disk_size_gib is not None else CPU_POOL_DISK_GIB
    if gpu and "disk_size_gib" not in spec.model_fields_set:
        disk = max(disk, GPU_POOL_DISK_GIB)
    ami = s.ami_type or (GPU_POOL_AMI if gpu else CPU_POOL_AMI)
    return NodePoolSettings(
        name=name,
        instance_types=types,
        ami_type=ami,
        capacity_type=s.capacity_type,
        min_size=min_size,
        desired_size=s.desired_size if s.desired_size is not None else min_size,
        max_size=s.max_size if s.max_size is not None else max(min_size, 3),
        disk_size_gib=disk,
        max_unavailable=s.max_unavailable,
        labels={**d.labels, **spec.labels},
        auto_repair=s.auto_repair,
        availability_zones=tuple(spec.availability_zones or net.availability_zones),
        gpu_model=gpu[0] if gpu else None,
        gpus_per_node=gpu[1] if gpu else 0,
        karpenter=_resolve_karpenter(spec, types, s.capacity_type, ami) if gpu and karpenter else None,
    )


def _resolve_karpenter(spec: NodePoolSpec, types: tuple[str, ...], capacity: str, ami: str) -> KarpenterPool:
    k = spec.karpenter or KarpenterPoolSpec()
    bottlerocket = ami.startswith("BOTTLEROCKET")
    pull = k.image_pull or ("snapshot" if k.image_cache_snapshot_id else "standard" if bottlerocket else "soci")
    return KarpenterPool(
        instance_families=tuple(k.instance_families or dict.fromkeys(t.split(".")[0] for t in types)),
        instance_sizes=tuple(k.instance_sizes or dict.fromkeys(t.split(".")[1] for t in types)),
        capacity_types=tuple(k.capacity_types or [capacity.lower().replace("_", "-")]),
        consolidation_policy=k.consolidation_policy,
        consolidate_after=k.consolidate_after,
        expire_after=k.expire_after,
        budget_nodes=k.budget_nodes,
        image_pull=pull,
        image_cache_snapshot_id=k.image_cache_snapshot_id,
    )
