"""The ``nodePools`` and Karpenter rules."""

from __future__ import annotations

import re

from components.vocabulary import (
    CPU_AMI_TYPES,
    GPU_AMI_TYPES,
    GPU_FAMILIES,
    gpu_facts,
)
from infra.config._base import _K8S_NAME
from infra.config.node_pools import NodePoolSettings, _is_gpu_family
from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p


def _pool_key(cfg: PlatformConfig, pool: str, key: str) -> str:
    """Where a pool's ``key`` (camelCase) is set: the pool, else ``nodePoolDefaults``, else its built-in default."""
    attr = re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
    if attr in cfg.node_pools[pool].model_fields_set:
        return f"nodePools.{pool}.{key}"
    if attr in cfg.node_pool_defaults.model_fields_set:
        return f"nodePoolDefaults.{key}"
    return f"nodePools.{pool}.{key} (default)"


def karpenter_problems(cfg: PlatformConfig) -> list[Problem]:
    """Karpenter pool settings that cannot work: on a CPU pool, without Karpenter, or mixing GPU counts."""
    out: list[Problem] = []
    for name, pool in cfg.resolved_node_pools().items():
        spec, path = cfg.node_pools[name].karpenter, f"nodePools.{name}.karpenter"
        if spec is not None and (cfg.node_provisioner != "karpenter" or not pool.gpu):
            why = "a CPU pool stays a managed node group" if pool.gpu is False else "nodeProvisioner is not karpenter"
            out.append(_p(path, f"Karpenter settings have no effect: {why}"))
            continue
        k = pool.karpenter
        if k is None:
            continue
        if pool.min_size > 0 or pool.desired_size > 0:
            # A NodePool has no minimum: Karpenter launches nodes for pending pods and removes empty ones.
            key = "minSize" if pool.min_size > 0 else "desiredSize"
            out.append(_p(_pool_key(cfg, name, key), "has no effect on a Karpenter pool (NodePools have no minimum): "
                          "keep GPU capacity up with the models' minReplicas or serving.models.<name>.warmSpares",
                          pool.min_size if key == "minSize" else pool.desired_size))  # fmt: skip
        bottlerocket = pool.ami_type.startswith("BOTTLEROCKET")
        if k.image_pull == "soci" and bottlerocket:
            out.append(_p(f"{path}.imagePull", "soci parallel pull is configured through AL2023's nodeadm; "
                          "Bottlerocket pools use snapshot or standard", k.image_pull))  # fmt: skip
        if k.image_pull == "snapshot" and (not bottlerocket or not k.image_cache_snapshot_id):
            out.append(_p(f"{path}.imagePull", "snapshot needs a Bottlerocket amiType and imageCacheSnapshotId"))
        unknown = [f for f in k.instance_families if f not in GPU_FAMILIES]
        if unknown:
            out.append(
                _p(f"{path}.instanceFamilies", f"not an NVIDIA family; allowed: {sorted(GPU_FAMILIES)}", unknown)
            )
            continue
        counts = {GPU_FAMILIES[f].gpus_by_size.get(z) for f in k.instance_families for z in k.instance_sizes} - {None}
        if counts != {pool.gpus_per_node}:
            out.append(_p(f"{path}.instanceSizes", f"every family x size must have {pool.gpus_per_node} GPU(s) "
                          f"like instanceTypes; these give {sorted(c or 0 for c in counts)}", list(k.instance_sizes)))  # fmt: skip
    return out


def node_pool_problems(cfg: PlatformConfig) -> list[Problem]:
    """At least one system pool; per pool: sizes, instance types, AMI, AZs and labels."""
    out: list[Problem] = []
    if not cfg.node_pools:
        out.append(_p("nodePools", "at least one CPU pool for system add-ons is needed"))
    pools = cfg.resolved_node_pools()
    if pools and all(p.gpu for p in pools.values()):
        out.append(_p("nodePools", "at least one CPU pool for system add-ons (coredns, controllers) is needed"))
    elif pools and not any(not p.gpu and p.min_size >= 1 for p in pools.values()):
        # coredns and the EBS CSI controller are created after the pools and time out without a
        # node; the cluster-autoscaler must not run on a pool it can empty.
        out.append(_p("nodePools", "at least one CPU pool needs minSize >= 1 (system add-ons and the autoscaler)"))
    for name, pool in pools.items():
        out.extend(_pool_problems(cfg, name, pool))
    return out


def _pool_type_problems(base: str, pool: NodePoolSettings) -> list[Problem]:
    """Instance types of one kind (known GPU families, one GPU count) and an AMI that matches them."""
    out: list[Problem] = []
    kinds = {gpu_facts(t) for t in pool.instance_types}
    gpu_types = [t for t in pool.instance_types if gpu_facts(t)]
    unknown_gpu = [t for t in pool.instance_types if not gpu_facts(t) and _is_gpu_family(t)]
    if unknown_gpu:
        families = ", ".join(sorted(GPU_FAMILIES))
        out.append(
            _p(
                f"{base}.instanceTypes",
                f"unknown GPU instance type(s) {unknown_gpu}; known families: {families}",
                list(pool.instance_types),
            )
        )
    elif gpu_types and len(gpu_types) != len(pool.instance_types):
        out.append(
            _p(f"{base}.instanceTypes", "a pool cannot mix GPU and CPU instance types", list(pool.instance_types))
        )
    elif gpu_types and len({k[1] for k in kinds if k}) > 1:
        out.append(
            _p(
                f"{base}.instanceTypes",
                "GPU instance types in one pool need the same GPU count (the autoscaler's node template has one)",
                list(pool.instance_types),
            )
        )
    if pool.gpu and pool.ami_type not in GPU_AMI_TYPES:
        out.append(
            _p(
                f"{base}.amiType",
                f"GPU instance types need an accelerated AMI: {', '.join(GPU_AMI_TYPES)}",
                pool.ami_type,
            )
        )
    if not pool.gpu and pool.ami_type in GPU_AMI_TYPES:
        out.append(
            _p(
                f"{base}.amiType",
                f"CPU instance types need a standard AMI: {', '.join(CPU_AMI_TYPES)}",
                pool.ami_type,
            )
        )
    return out


def _pool_problems(cfg: PlatformConfig, name: str, pool: NodePoolSettings) -> list[Problem]:
    """One pool: its name, sizes, instance types, AMI, AZs and labels."""
    out: list[Problem] = []
    net = cfg.network
    base = f"nodePools.{name}"
    # The node group is named "<pool>-" plus a 26-character unique suffix, within EKS's 63.
    if not _K8S_NAME.match(name) or len(name) > 36:
        out.append(_p(base, "pool names are DNS labels of at most 36 characters", name))
    if pool.min_size > pool.max_size:
        # Blame the keys the user set, not desiredSize (it defaults to minSize).
        out.append(
            _p(
                _pool_key(cfg, name, "minSize"),
                f"must be <= maxSize ({pool.max_size}, from {_pool_key(cfg, name, 'maxSize')})",
                pool.min_size,
            )
        )
    elif not pool.min_size <= pool.desired_size <= pool.max_size:
        out.append(
            _p(
                f"{base}.desiredSize",
                f"need minSize ({pool.min_size}) <= desiredSize ({pool.desired_size}) <= maxSize ({pool.max_size})",
                pool.desired_size,
            )
        )
    out.extend(_pool_type_problems(base, pool))
    stray = [z for z in pool.availability_zones if z not in net.availability_zones]
    if stray:
        out.append(
            _p(
                f"{base}.availabilityZones",
                f"must be a subset of network.availabilityZones {net.availability_zones}",
                stray,
            )
        )
    for key in pool.labels:
        if key.startswith(("platform.ai/", "kubernetes.io/", "k8s.io/")) or key.startswith("node-role.kubernetes.io"):
            out.append(_p(f"{base}.labels.{key}", "reserved label prefix (platform.ai/, kubernetes.io/, k8s.io/)", key))
    return out
