"""Shared by the Kubernetes workload policies: type tokens, config schemas, pod and container readers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .._util import (
    EXEMPTIONS_SCHEMA,
    WORKLOAD_TYPES,
    pod_spec,
)

WORKLOADS = sorted(WORKLOAD_TYPES)
ANY_K8S = ["kubernetes:*"]
"""Every Kubernetes type token (a prefix pattern, see TypedResourcePolicy.applies_to)."""
NAMESPACE = "kubernetes:core/v1:Namespace"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
ROLE_TYPES = ["kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"]
BINDING_TYPES = [
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
]
EXEMPT_CONFIG = {"exemptions": EXEMPTIONS_SCHEMA}
SYSTEM_NS_SCHEMA = {
    "type": "array",
    "default": [],
    "description": "Platform namespaces (node daemons) this namespace rule does not apply to, each with a reason.",
    "items": {
        "type": "object",
        "required": ["namespace", "reason"],
        "properties": {"namespace": {"type": "string"}, "reason": {"type": "string", "minLength": 10}},
    },
}
WHERE = "(the component that builds the object, components/*.py)"


def pod_of(args: ResourceValidationArgs) -> Mapping[str, Any]:
    """The PodSpec of the workload under check ({} when it has none)."""
    return pod_spec(args.resource_type, args.props) or {}


def container_name(c: Mapping[str, Any]) -> str:
    """A container's name for messages."""
    return str(c.get("name") or "?")
