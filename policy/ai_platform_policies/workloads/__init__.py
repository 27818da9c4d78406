"""Kubernetes workloads, namespaces, PDBs, RBAC and API versions (catalogue §3.8, K8S-01…24), by sub-concern.

- ``pods``: pod security and identity (K8S-01…09, 13, 15);
- ``containers``: resources, probes, images, GPU scheduling (K8S-10…12, 21);
- ``namespaces``: placement, NetworkPolicies, Pod Security labels, quotas, API versions (K8S-14, 16, 17, 22, 24);
- ``availability``: replicas, PDBs, spread, bare Pods, Job clean-up (K8S-18…20);
- ``rbac``: Roles and cluster-admin bindings (K8S-23).
"""

from __future__ import annotations

from pulumi_policy import Policy

from . import availability, containers, namespaces, pods, rbac

POLICIES: list[Policy] = [
    *pods.POLICIES,
    *containers.POLICIES,
    *namespaces.POLICIES,
    *availability.POLICIES,
    *rbac.POLICIES,
]
