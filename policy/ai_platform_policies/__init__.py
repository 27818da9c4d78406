"""The ai-platform CrossGuard policies, grouped by category.

``ALL_POLICIES`` is what ``policy/__main__.py`` registers; ``blueprint.preview.policy_eval`` evaluates the
same objects offline. Each module registers its policies in ``POLICIES`` (a ``PolicyList``), each
right above its check; ``workloads`` is a package that joins its sub-concerns' lists.
"""

from __future__ import annotations

from pulumi_policy import Policy

from . import (
    ci,
    cluster,
    cost,
    databases,
    governance,
    iam,
    karpenter,
    monitoring,
    network,
    nodes,
    registry,
    secrets,
    storage,
    tagging,
    workloads,
)
from ._util import PlatformStackPolicy, TypedResourcePolicy, config_defaults

PACK_NAME = "ai-platform-guardrails"

CATEGORIES: dict[str, list[Policy]] = {
    "registry": registry.POLICIES,
    "cluster": cluster.POLICIES,
    "nodes": nodes.POLICIES,
    "karpenter": karpenter.POLICIES,
    "network": network.POLICIES,
    "iam": iam.POLICIES,
    "storage": storage.POLICIES,
    "databases": databases.POLICIES,
    "workloads": workloads.POLICIES,
    "monitoring": monitoring.POLICIES,
    "ci": ci.POLICIES,
    "cost": cost.POLICIES,
    "tagging": tagging.POLICIES,
    "secrets": secrets.POLICIES,
    "governance": governance.POLICIES,
}

ALL_POLICIES: list[Policy] = [p for ps in CATEGORIES.values() for p in ps]

__all__ = [
    "ALL_POLICIES",
    "CATEGORIES",
    "PACK_NAME",
    "PlatformStackPolicy",
    "TypedResourcePolicy",
    "config_defaults",
]
