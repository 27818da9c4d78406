"""Kubernetes helpers shared by the in-cluster components (internal)."""

from __future__ import annotations

from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

PodSecurityLevel = Literal["privileged", "baseline", "restricted"]


def namespace(
    name: str, namespace_name: str, *, parent: pulumi.Resource, pod_security: PodSecurityLevel = "restricted"
) -> k8s.core.v1.Namespace:
    """A namespace that enforces a Pod Security Admission level and always audits and warns at ``restricted``.

    Node agents (device plugin, DCGM exporter, node-exporter) mount host paths, so their namespaces
    need ``privileged`` enforcement; everything else should stay ``restricted``
    (https://kubernetes.io/docs/concepts/security/pod-security-admission/). Auditing and warning at
    ``restricted`` even there keeps every deviation visible (EKS Best Practices "use multiple PSA
    modes"; policy k8s-namespace-pod-security-labels).
    """
    labels = {
        "pod-security.kubernetes.io/enforce": pod_security,
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    return k8s.core.v1.Namespace(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace_name, labels=labels),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def resources(cpu: str, memory: str, memory_limit: str | None = None, cpu_limit: str | None = None) -> dict[str, Any]:
    """A container ``resources`` block: requests always, a memory limit always (OOM before the node does).

    No CPU limit unless asked: CFS throttling hurts latency-sensitive agents more than it protects
    neighbours, and the CPU request already guarantees their share.
    """
    limits: dict[str, str] = {"memory": memory_limit or memory}
    if cpu_limit:
        limits["cpu"] = cpu_limit
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": limits}


def with_provider(opts: pulumi.ResourceOptions | None, provider: k8s.Provider) -> pulumi.ResourceOptions:
    """Component options that hand the cluster's explicit provider down to every child."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider]))
