"""Kubernetes building blocks shared by the workload components (internal).

Objects are written as camelCase dicts, exactly as the API server (and ``--render-k8s``) sees
them, so what the code says is what a reviewer validates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.vocabulary import GPU_RESOURCE, GPU_TAINT_KEY, LABEL_ACCELERATOR, parse_quantity

MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "ai-platform"}

# The "restricted" Pod Security Standard, container half
# (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted).
RESTRICTED_CONTAINER: Mapping[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def with_provider(opts: pulumi.ResourceOptions | None, provider: pulumi.ProviderResource) -> pulumi.ResourceOptions:
    """Component options whose children (Helm releases included) use the cluster's explicit provider."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider]))


def restricted_pod(uid: int) -> dict[str, Any]:
    """Pod securityContext for the restricted profile, running as ``uid`` (never root)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(cpu: str, memory: str, gpus: int = 0, *, ephemeral_storage: str | None = None) -> dict[str, Any]:
    """Requests equal to limits (Guaranteed QoS: never CPU-throttled below its request, evicted last).

    Extended resources such as ``nvidia.com/gpu`` cannot be overcommitted; Kubernetes requires
    their request to equal the limit, so both are set. ``ephemeral_storage`` covers the pod's
    emptyDirs on the node disk and the container's writable layer.
    """
    amounts: dict[str, Any] = {"cpu": cpu, "memory": memory}
    if gpus:
        amounts[GPU_RESOURCE] = str(gpus)
    if ephemeral_storage:
        amounts["ephemeral-storage"] = ephemeral_storage
    return {"requests": dict(amounts), "limits": dict(amounts)}


def gpu_placement(gpus: int) -> dict[str, Any]:
    """Tolerations and required node affinity that put a GPU pod on the platform's GPU pools only."""
    if not gpus:
        return {}
    return {
        "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": LABEL_ACCELERATOR, "operator": "In", "values": ["nvidia"]}]}
                    ]
                }
            }
        },
    }


def namespace(
    name: str, ns: str, *, parent: pulumi.Resource, enforce: str = "restricted", labels: Mapping[str, str] | None = None
) -> k8s.core.v1.Namespace:
    """A namespace that enforces a Pod Security Admission level and always audits and warns at ``restricted``.

    Node agents (device plugin, DCGM exporter, node-exporter) mount host paths, so their namespaces
    need ``privileged`` enforcement; everything else stays ``restricted``
    (https://kubernetes.io/docs/concepts/security/pod-security-admission/). Auditing and warning at
    ``restricted`` even there keeps every deviation visible (EKS Best Practices "use multiple PSA modes").
    """
    psa = {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    return k8s.core.v1.Namespace(
        name,
        metadata={"name": ns, "labels": {**MANAGED_BY, **psa, **dict(labels or {})}},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def network_policy(
    name: str,
    ns: k8s.core.v1.Namespace,
    policy_name: str,
    *,
    parent: pulumi.Resource,
    pod_selector: Mapping[str, Any] | None = None,
    ingress: Sequence[Mapping[str, Any]] | None = None,
    egress: Sequence[Mapping[str, Any]] | None = None,
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy; a direction given as an empty list denies everything in that direction."""
    types: list[str] = []
    spec: dict[str, Any] = {"podSelector": dict(pod_selector or {})}
    if ingress is not None:
        types.append("Ingress")
        spec["ingress"] = [dict(r) for r in ingress]
    if egress is not None:
        types.append("Egress")
        spec["egress"] = [dict(r) for r in egress]
    spec["policyTypes"] = types
    metadata: Any = {"name": policy_name, "namespace": ns.metadata.name, "labels": dict(MANAGED_BY)}
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=metadata,
        spec=cast(Any, spec),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def default_deny(name: str, ns: k8s.core.v1.Namespace, *, parent: pulumi.Resource, egress: bool = True) -> None:
    """Deny all ingress (and egress, by default) to every pod in ``ns``; allows are added per workload."""
    network_policy(name, ns, "default-deny", parent=parent, ingress=[], egress=[] if egress else None)


def dns_egress() -> dict[str, Any]:
    """Egress to CoreDNS in kube-system on port 53."""
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def tcp_egress(*ports: int, cidr: str = "0.0.0.0/0") -> dict[str, Any]:
    """Egress to ``cidr`` on TCP ``ports``; the instance metadata service stays unreachable (IRSA needs no IMDS)."""
    return {
        "to": [
            {"ipBlock": {"cidr": cidr, "except": ["169.254.169.254/32"]} if cidr == "0.0.0.0/0" else {"cidr": cidr}}
        ],
        "ports": [{"protocol": "TCP", "port": p} for p in ports],
    }


def from_namespace(ns: str, *ports: int | str) -> dict[str, Any]:
    """Ingress from every pod of namespace ``ns`` (on ``ports``, or all)."""
    rule: dict[str, Any] = {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}]}
    if ports:
        rule["ports"] = [{"protocol": "TCP", "port": p} for p in ports]
    return rule


def from_cidr(cidr: str, *ports: int | str) -> dict[str, Any]:
    """Ingress from an IP block (e.g. the VPC CIDR: ALB nodes and the EKS control plane ENIs)."""
    return {"from": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": p} for p in ports]}


def _cpu_millis(quantity: str) -> int:
    return int(parse_quantity(quantity) * 1000)


def agent_resources(
    cpu: str, memory: str, memory_limit: str | None = None, cpu_limit: str | None = None
) -> dict[str, Any]:
    """Requests and limits for a platform agent or controller (Burstable QoS).

    The memory limit defaults to the request (the container OOMs before the node does). The CPU
    limit defaults to four times the request: agents are bursty at start-up (WAL replay, cache
    warm-up), and a limit at the request would throttle them, but every container still has one.
    """
    limit_cpu = cpu_limit or f"{_cpu_millis(cpu) * 4}m"
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": limit_cpu, "memory": memory_limit or memory}}


def quota_and_limits(
    name: str,
    ns: k8s.core.v1.Namespace,
    *,
    parent: pulumi.Resource,
    hard: Mapping[str, str],
    default_cpu: str = "250m",
    default_memory: str = "256Mi",
) -> None:
    """A ResourceQuota capping the namespace, and a LimitRange giving containers without resources defaults.

    The quota turns a runaway controller or scale set into a scheduling error in its own namespace
    instead of a starved cluster; the LimitRange keeps pods without requests admissible under it.
    """
    meta = {"namespace": ns.metadata.name, "labels": dict(MANAGED_BY)}
    k8s.core.v1.ResourceQuota(
        f"{name}-quota",
        metadata={**meta, "name": "quota"},
        spec={"hard": dict(hard)},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    k8s.core.v1.LimitRange(
        f"{name}-limits",
        metadata={**meta, "name": "limits"},
        spec={
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": default_cpu, "memory": default_memory},
                    "defaultRequest": {"cpu": default_cpu, "memory": default_memory},
                }
            ]
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
