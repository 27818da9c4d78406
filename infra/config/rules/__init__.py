"""Cross-field rules, one module per section; :func:`cross_field_problems` runs them all."""

from __future__ import annotations

from infra.config.platform import PlatformConfig
from infra.config.problems import Problem
from infra.config.rules.audit import audit_problems
from infra.config.rules.ci import ci_backend_problems, ci_runner_problems, images_problems
from infra.config.rules.cluster import cluster_problems
from infra.config.rules.delivery import delivery_problems, deploy_path_problems
from infra.config.rules.ml import ml_lifecycle_problems
from infra.config.rules.monitoring import gpu_problems, monitoring_problems
from infra.config.rules.network import network_problems
from infra.config.rules.node_pools import karpenter_problems, node_pool_problems
from infra.config.rules.registry import registry_problems
from infra.config.rules.serving import serving_problems, weights_problems

# In the order the problems are reported.
RULES = (
    network_problems,
    audit_problems,
    karpenter_problems,
    weights_problems,
    registry_problems,
    cluster_problems,
    node_pool_problems,
    gpu_problems,
    monitoring_problems,
    serving_problems,
    ci_runner_problems,
    images_problems,
    ml_lifecycle_problems,
    ci_backend_problems,
    delivery_problems,
    deploy_path_problems,
)


def cross_field_problems(cfg: PlatformConfig) -> list[Problem]:
    """Rules that span several fields or sections. Every rule reports with a precise path."""
    return [problem for rule in RULES for problem in rule(cfg)]
