"""Fixture rows of the policies in policy/ai_platform_policies/workloads/namespaces.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    GOOD,
    INGRESS,
    LIMITS,
    NETPOL,
    NS_LABELS,
    OLD_INGRESS,
    QUOTA,
    case,
    dep,
    deployment,
    gpu_deployment,
    ns,
    without,
)
from tests.policy.harness import R

case(
    "k8s-object-not-default-namespace",
    GOOD,
    dep(deployment(ns="default")),
    "set metadata.namespace",
    dep(without(deployment(), "metadata.namespace")),
    True,
)
NETPOL_R = R(NETPOL, {"metadata": {"name": "default-deny", "namespace": "serving"}, "spec": {"podSelector": {}}}, "np")
case(
    "k8s-namespace-network-policy",
    [ns(), NETPOL_R],
    [ns()],
    "add a default-deny NetworkPolicy",
    [ns(), R(NETPOL, {"spec": {}}, "np")],
    True,
)
case(
    "k8s-namespace-pod-security-labels",
    ns(),
    ns(labels={**NS_LABELS, "pod-security.kubernetes.io/enforce": "privileged"}),
    "label it pod-security.kubernetes.io/enforce: restricted",
    ns(labels={}),
    True,
)
QUOTA_R = R(
    QUOTA,
    {"metadata": {"name": "q", "namespace": "serving"}, "spec": {"hard": {"requests.nvidia.com/gpu": "4"}}},
    "quota",
)
LIMITS_R = R(LIMITS, {"metadata": {"name": "l", "namespace": "serving"}, "spec": {"limits": []}}, "limits")
case(
    "k8s-namespace-quota-and-limits",
    [ns(), QUOTA_R, LIMITS_R, dep(gpu_deployment())],
    [
        ns(),
        R(QUOTA, {"metadata": {"name": "q", "namespace": "serving"}, "spec": {"hard": {"pods": "10"}}}, "quota"),
        LIMITS_R,
        dep(gpu_deployment()),
    ],
    "its ResourceQuota has no requests.nvidia.com/gpu",
    [ns(), R(QUOTA, {"metadata": {"namespace": "serving"}}, "quota"), LIMITS_R, dep(gpu_deployment())],
    True,
)
case(
    "k8s-api-version-supported",
    R(INGRESS, {"metadata": {"name": "x", "namespace": "serving"}}),
    R(OLD_INGRESS, {"metadata": {"name": "x", "namespace": "serving"}}),
    "move to the GA API",
    R(OLD_INGRESS, {}),
    True,
)
