"""``nodePoolDefaults`` and ``nodePools``: the settings and the resolved pools."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
)

from components.vocabulary import (
    AmiType,
    gpu_facts,
)
from infra import input_rules
from infra.config._base import _Model
from infra.config.network import NetworkConfig


# --------------------------------------------------------------------------- node pools
class KarpenterPoolSpec(_Model):
    """Karpenter settings of one GPU pool. Unset families/sizes/capacity types follow ``instanceTypes``/``capacityType``."""

    instance_families: list[str] | None = Field(default=None, min_length=1, max_length=10)
    """Instance families Karpenter may choose from (``karpenter.k8s.aws/instance-family``), e.g. ``[g5, g6]``."""
    instance_sizes: list[str] | None = Field(default=None, min_length=1, max_length=10)
    """Instance sizes (``karpenter.k8s.aws/instance-size``), e.g. ``[2xlarge, 4xlarge]``; all with the same GPU count."""
    capacity_types: list[Literal["on-demand", "spot", "reserved"]] | None = Field(default=None, min_length=1)
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
    image_pull: Literal["soci", "snapshot", "standard"] | None = None
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
    """A node pool's settings. In ``nodePools`` every unset field falls back to ``nodePoolDefaults``."""

    instance_types: list[str] | None = Field(default=None, min_length=1, max_length=20)
    """EC2 instance types; a GPU pool lists types with the same GPU count."""

    @field_validator("instance_types")
    @classmethod
    def _instance_types(cls, v: list[str] | None) -> list[str] | None:
        bad = [f"{t[:40]!r}: {p}" for t in v or [] if (p := input_rules.instance_type_problem(t))]
        if bad:
            raise ValueError("; ".join(bad[:3]))
        return v

    ami_type: AmiType | None = None
    """EKS AMI type. Unset: AL2023 standard for CPU pools, AL2023 NVIDIA for GPU pools."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] | None = None
    """ON_DEMAND or SPOT."""
    min_size: int | None = Field(default=None, ge=0, le=1000)
    """Minimum nodes; 0 lets the autoscaler scale the pool to zero."""
    desired_size: int | None = Field(default=None, ge=0, le=1000)
    """Nodes at creation; afterwards the cluster-autoscaler owns it."""
    max_size: int | None = Field(default=None, ge=1, le=1000)
    """Maximum nodes."""
    disk_size_gib: int | None = Field(default=None, ge=20, le=16384)
    """Root volume size. GPU pools default to at least 200 GiB for large model images."""
    max_unavailable: int | None = Field(default=None, ge=1, le=100)
    """Nodes replaced at once during an update."""
    labels: dict[str, str] | None = None
    """Extra node labels, merged over the defaults' labels."""
    auto_repair: bool | None = None
    """EKS node auto-repair."""
    availability_zones: list[str] | None = None
    """Restrict the pool to these AZs (a subset of the network's); unset means all."""
    karpenter: KarpenterPoolSpec | None = None
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
class NodePool:
    """A node pool with its defaults applied and its GPU facts derived."""

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


def _resolve_pool(
    name: str, spec: NodePoolSpec, d: NodePoolSpec, net: NetworkConfig, karpenter: bool = False
) -> NodePool:
    def pick(attr: str, fallback: Any) -> Any:
        v = getattr(spec, attr)
        if v is None:
            v = getattr(d, attr)
        return fallback if v is None else v

    types = tuple(pick("instance_types", ["m6i.large"]))
    facts = [gpu_facts(t) for t in types]
    gpu = facts[0] if facts and facts[0] else None
    min_size = pick("min_size", 0 if gpu else 1)
    max_size = pick("max_size", max(min_size, 3))
    default_disk = 200 if gpu else 50
    disk = spec.disk_size_gib or (max(d.disk_size_gib or 0, default_disk) if gpu else d.disk_size_gib or default_disk)
    labels = {**(d.labels or {}), **(spec.labels or {})}
    return NodePool(
        name=name,
        instance_types=types,
        ami_type=pick("ami_type", "AL2023_x86_64_NVIDIA" if gpu else "AL2023_x86_64_STANDARD"),
        capacity_type=pick("capacity_type", "ON_DEMAND"),
        min_size=min_size,
        desired_size=pick("desired_size", min_size),
        max_size=max_size,
        disk_size_gib=disk,
        max_unavailable=pick("max_unavailable", 1),
        labels=labels,
        auto_repair=pick("auto_repair", True),
        availability_zones=tuple(spec.availability_zones or net.availability_zones),
        gpu_model=gpu[0] if gpu else None,
        gpus_per_node=gpu[1] if gpu else 0,
        karpenter=_resolve_karpenter(spec, types, pick("capacity_type", "ON_DEMAND"), pick("ami_type", ""))
        if gpu and karpenter
        else None,
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
