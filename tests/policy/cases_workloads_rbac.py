"""Fixture rows of the policies in policy/ai_platform_policies/workloads/rbac.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    CLUSTER_ROLE,
    CRB,
    case,
    deep,
    merged,
    without,
)
from tests.policy.harness import R

ROLE_OK = {
    "metadata": {"name": "reader"},
    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
}
case(
    "k8s-rbac-least-privilege",
    R(CLUSTER_ROLE, ROLE_OK),
    R(CLUSTER_ROLE, merged(ROLE_OK, rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])),
    "list verbs and resources",
    R(CLUSTER_ROLE, without(ROLE_OK, "rules")),
    False,
)
CRB_OK = {
    "metadata": {"name": "reader"},
    "roleRef": {"kind": "ClusterRole", "name": "reader"},
    "subjects": [{"kind": "Group", "name": "devs"}],
}
case(
    "k8s-rbac-no-cluster-admin-binding",
    R(CRB, CRB_OK),
    R(CRB, deep(CRB_OK, "roleRef.name", "cluster-admin")),
    "grant admins through EKS access entries",
    R(CRB, without(CRB_OK, "roleRef")),
    False,
)
