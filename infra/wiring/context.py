"""The :class:`~components.cluster_context.ClusterContext` every in-cluster component receives."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components.cluster import Cluster
from components.cluster_context import ClusterContext
from infra.config import LABEL_POOL
from infra.wiring.stack import Stack


def system_node_selector(stack: Stack) -> dict[str, str]:
    """Nodes of the system pool: controllers, exporters and servers run there, never on GPU nodes."""
    return {LABEL_POOL: stack.cfg.system_pool().name}


def cluster_context(
    stack: Stack, eks: Cluster, addons: pulumi.Resource, pools: Mapping[str, pulumi.Resource]
) -> ClusterContext:
    """The system pool's context: releases wait for CoreDNS and the EBS CSI driver (``addons``) and every
    managed node pool. Add what else they must wait for with :meth:`ClusterContext.after` (Karpenter)."""
    return ClusterContext(
        cluster_name=stack.cluster_name,
        eks_name=eks.name,
        kubernetes_version=stack.cfg.cluster.version,
        k8s_provider=eks.k8s_provider,
        irsa=eks.irsa,
        region=stack.cfg.region,
        account_id=stack.cfg.account_id,
        vpc_cidr=stack.cfg.network.cidr,
        storage_class_name=eks.storage_class_name,
        system_node_selector=system_node_selector(stack),
        tags=stack.tags,
        needs_nodes=[addons, *pools.values()],
    )
