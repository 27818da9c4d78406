"""The one way the platform installs a Helm chart (internal).

``helm.v3.Release`` is a single custom resource, so the offline preview, the policy pack and
``--render-k8s`` all see its chart, pinned version and values (helm v4 ``Chart`` is a remote
component whose children are invisible under mocks; docs/adr).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# kube-prometheus-stack and other large charts often exceed Helm's 10-minute default
# (spack/spack-infrastructure PR #1191); 15 minutes is the platform's floor.
HELM_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Chart:
    """A pinned chart: where it comes from and which version."""

    chart: str
    """Chart name (or an ``oci://`` reference)."""
    version: str
    """Exact chart version; never a range."""
    repo: str | None = None
    """Helm repository URL (None for OCI charts)."""


def helm_release(
    name: str,
    release_name: str,
    chart: Chart,
    namespace: str,
    values: Mapping[str, Any],
    *,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    create_namespace: bool = False,
    skip_crds: bool = False,
    timeout: int = HELM_TIMEOUT_SECONDS,
) -> k8s.helm.v3.Release:
    """A Helm release with the platform's settings: atomic with cleanup, bounded history, >= 15 min timeout.

    ``name`` is the Pulumi resource name (``f"{component}-<role>"``); ``release_name`` is Helm's.
    """
    return k8s.helm.v3.Release(
        name,
        # A fixed release name keeps in-cluster service names predictable (KEDA and Grafana point at them).
        name=release_name,
        chart=chart.chart,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo) if chart.repo else None,
        namespace=namespace,
        create_namespace=create_namespace,
        values=dict(values),
        atomic=True,
        cleanup_on_fail=True,
        max_history=10,
        skip_crds=skip_crds,
        timeout=max(timeout, HELM_TIMEOUT_SECONDS),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
