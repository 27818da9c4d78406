"""The fixture table: one row per policy, a compliant setup, a violating one (with the expected message), and
one with the checked property missing (and whether that must be reported).

The rows live in one ``cases_<topic>.py`` module per policy module of the pack (``cases_workloads_pods`` for
``workloads/pods.py``); importing this index imports them all, so ``CASES`` holds every row. Shared builders
(type tokens, pod specs, ``case``) are in ``cases_common``.
"""

from __future__ import annotations

from tests.policy import (  # noqa: F401  (each module registers its rows into CASES on import)
    cases_ci,
    cases_ci_backends,
    cases_cluster,
    cases_cost,
    cases_databases,
    cases_governance,
    cases_iam,
    cases_karpenter,
    cases_monitoring,
    cases_network,
    cases_nodes,
    cases_registry,
    cases_secrets,
    cases_storage,
    cases_tagging,
    cases_workloads_availability,
    cases_workloads_containers,
    cases_workloads_namespaces,
    cases_workloads_pods,
    cases_workloads_rbac,
)
from tests.policy.cases_common import CASES, Case

__all__ = ["CASES", "Case"]
