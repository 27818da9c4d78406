"""Namespaces and object placement: no default namespace, NetworkPolicies, Pod Security labels, quotas and
LimitRanges, served API versions (catalogue §3.8, K8S-14, 16, 17, 22, 24).
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from .._util import (
    CLUSTER_SCOPED_KINDS,
    GPU_RESOURCE,
    HELM_RELEASE,
    WORKLOAD_TYPES,
    PolicyList,
    ReportViolation,
    as_list,
    get,
    k8s_api_version,
    k8s_kind,
    namespace_of,
    object_name,
    pod_spec,
    requests_gpu,
)
from ._common import (
    ANY_K8S,
    LIMIT_RANGE,
    NAMESPACE,
    NETPOL,
    QUOTA,
    SYSTEM_NS_SCHEMA,
)

SYSTEM_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"]
# API versions removed from Kubernetes by 1.34 (deprecation guide, kubernetes.io/docs/reference/using-api/deprecation-guide/).
REMOVED_API_VERSIONS = [
    "extensions/v1beta1",
    "apps/v1beta1",
    "apps/v1beta2",
    "policy/v1beta1",
    "batch/v1beta1",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "networking.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "rbac.authorization.k8s.io/v1beta1",
    "storage.k8s.io/v1beta1",
    "admissionregistration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "scheduling.k8s.io/v1beta1",
    "discovery.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "node.k8s.io/v1beta1",
    "certificates.k8s.io/v1beta1",
    "coordination.k8s.io/v1beta1",
    "events.k8s.io/v1beta1",
]

POLICIES = PolicyList()


@POLICIES.resource(
    "k8s-object-not-default-namespace",
    "Nothing is deployed to the default namespace (K8S-14; CKV_K8S_21, CIS 4.5.2).",
    Severity.MEDIUM,
    ANY_K8S,
)
def _not_default_ns(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Namespaced objects and Helm releases do not go to the default namespace."""
    if args.resource_type == HELM_RELEASE:
        ns = str(args.props.get("namespace") or "default")
    else:
        if k8s_kind(args.resource_type) in CLUSTER_SCOPED_KINDS:
            return
        ns = namespace_of(args.props)
    if ns == "default":
        report(
            f"{k8s_kind(args.resource_type)} '{object_name(args.props, args.name)}' goes to the default namespace: "
            "set metadata.namespace (or the release's namespace) to the component's own namespace"
        )


def _app_namespaces(args: StackValidationArgs) -> list[PolicyResource]:
    listed = as_list(args.get_config().get("systemNamespaces"))
    skip = {str(e.get("namespace")) for e in listed if isinstance(e, Mapping) and e.get("reason")} | set(
        SYSTEM_NAMESPACES
    )
    return [r for r in args.resources if r.resource_type == NAMESPACE and object_name(r.props, r.name) not in skip]


def _ns_objects(args: StackValidationArgs, type_: str) -> set[str]:
    return {namespace_of(r.props) for r in args.resources if r.resource_type == type_}


@POLICIES.stack(
    "k8s-namespace-network-policy",
    "Every app namespace has a NetworkPolicy (K8S-16; CKV2_K8S_6, CIS 4.3.2).",
    Severity.MEDIUM,
    config={"systemNamespaces": SYSTEM_NS_SCHEMA},
)
def _network_policy(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each app namespace has at least one NetworkPolicy."""
    covered = _ns_objects(args, NETPOL)
    for ns in _app_namespaces(args):
        name = object_name(ns.props, ns.name)
        if name not in covered:
            report(
                f"namespace '{name}' has no NetworkPolicy, so every pod in the cluster can reach it: add a default-deny "
                "NetworkPolicy plus the allows it needs (DNS, ingress from the ALB/monitoring)",
                ns.urn,
            )


@POLICIES.resource(
    "k8s-namespace-pod-security-labels",
    "Namespaces enforce a Pod Security level, warn/audit restricted (K8S-17; CIS 4.2).",
    Severity.HIGH,
    [NAMESPACE],
    config={
        "privilegedNamespaces": {
            "type": "array",
            "default": [],
            "items": {
                "type": "object",
                "required": ["namespace", "reason"],
                "properties": {"namespace": {"type": "string"}, "reason": {"type": "string", "minLength": 10}},
            },
        }
    },
)
def _psa(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Namespaces enforce a Pod Security level (privileged only with a reason) and warn/audit restricted."""
    name = object_name(args.props, args.name)
    labels = get(args.props, "metadata.labels") or {}
    cfg = args.get_config()
    privileged = {str(e.get("namespace")): str(e.get("reason") or "") for e in as_list(cfg.get("privilegedNamespaces"))}
    if name in SYSTEM_NAMESPACES:
        return
    enforce = labels.get("pod-security.kubernetes.io/enforce")
    allowed = ["restricted", "baseline"] + (["privileged"] if privileged.get(name) else [])
    if enforce not in allowed:
        report(
            f"namespace '{name}' enforces {enforce or 'no'} Pod Security level: label it "
            "pod-security.kubernetes.io/enforce: restricted (baseline or, for host-access daemons with a reason in "
            "privilegedNamespaces in policy/config/tiers/<tier>.json, privileged)"
        )
    for mode in ("warn", "audit"):
        if labels.get(f"pod-security.kubernetes.io/{mode}") != "restricted":
            report(
                f"namespace '{name}' has no pod-security.kubernetes.io/{mode}: restricted label: add it so violations stay visible"
            )


@POLICIES.stack(
    "k8s-namespace-quota-and-limits",
    "Every app namespace has a ResourceQuota (with GPUs where used) and a LimitRange (K8S-22).",
    Severity.MEDIUM,
    config={"systemNamespaces": SYSTEM_NS_SCHEMA},
)
def _quota(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each app namespace has a ResourceQuota (with requests.nvidia.com/gpu where GPU pods run) and a LimitRange."""
    quotas = {namespace_of(r.props): r for r in args.resources if r.resource_type == QUOTA}
    limits = _ns_objects(args, LIMIT_RANGE)
    gpu_ns = {
        namespace_of(r.props)
        for r in args.resources
        if r.resource_type in WORKLOAD_TYPES and requests_gpu(pod_spec(r.resource_type, r.props))
    }
    for ns in _app_namespaces(args):
        name = object_name(ns.props, ns.name)
        if name not in quotas:
            report(
                f"namespace '{name}' has no ResourceQuota: add one (with requests.nvidia.com/gpu where GPUs run)",
                ns.urn,
            )
        elif name in gpu_ns and f"requests.{GPU_RESOURCE}" not in (get(quotas[name].props, "spec.hard") or {}):
            report(f"namespace '{name}' runs GPU pods but its ResourceQuota has no requests.{GPU_RESOURCE}", ns.urn)
        if name not in limits:
            report(
                f"namespace '{name}' has no LimitRange: add one so containers without resources get defaults", ns.urn
            )


@POLICIES.resource(
    "k8s-api-version-supported",
    "Objects use API versions the target Kubernetes still serves (K8S-24).",
    Severity.HIGH,
    ANY_K8S,
    config={"removedApiVersions": {"type": "array", "items": {"type": "string"}, "default": REMOVED_API_VERSIONS}},
)
def _api_version(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Kubernetes objects use no API version the cluster's Kubernetes has removed."""
    if args.resource_type == HELM_RELEASE or args.resource_type.startswith("kubernetes:helm.sh/"):
        return
    gv = k8s_api_version(args.resource_type)
    removed = [str(v) for v in as_list(args.get_config().get("removedApiVersions"))]
    if gv in removed:
        report(
            f"{k8s_kind(args.resource_type)} '{args.name}' uses {gv}, which the cluster's Kubernetes no longer serves: move to the GA API"
        )
