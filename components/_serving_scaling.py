"""Autoscaling of the serving component's tracks: KEDA on a Prometheus query, or the CPU HPA (internal).

ScaledObject fields: KEDA 2.20 ``keda.sh/v1alpha1`` (kedacore/keda apis/keda/v1alpha1/scaledobject_types.go);
chart values: kedacore/charts v2.20.2 keda/values.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components import _k8s
from components._helm import helm_release
from components._serving_contracts import (
    KEDA_CHART,
    KEDA_METRICS_APISERVER,
    KEDA_METRICS_APISERVER_PORT,
    KEDA_NAMESPACE,
    KEDA_OPERATOR,
    KEDA_OPERATOR_GRPC_PORT,
    KEDA_WEBHOOK_PORT,
)
from components.cluster_context import ClusterContext


def scaled_object_spec(
    obj: str, bounds: tuple[int, int], server_address: str, query: str, threshold: float
) -> dict[str, Any]:
    """Scale Deployment ``obj`` between ``bounds`` on a Prometheus query."""
    low, high = bounds
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": obj},
        "minReplicaCount": low,
        "maxReplicaCount": high,
        "pollingInterval": 15,
        # Only applies to scaling to zero: keep a warm GPU replica for 10 minutes.
        "cooldownPeriod": 600,
        # If Prometheus is unreachable, hold the minimum serving capacity.
        "fallback": {"failureThreshold": 3, "replicas": max(low, 1)},
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}}},
        "triggers": [
            {
                "type": "prometheus",
                "metadata": {
                    "serverAddress": server_address,
                    "query": query,
                    # KEDA metadata values are strings.
                    "threshold": f"{threshold:g}",
                },
            }
        ],
    }


def hpa_spec(obj: str, bounds: tuple[int, int], target_cpu_percent: int) -> dict[str, Any]:
    """Scale Deployment ``obj`` on CPU utilisation, never below one replica."""
    low, high = bounds
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": obj},
        "minReplicas": max(low, 1),
        "maxReplicas": high,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target_cpu_percent},
                },
            }
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
    }


def keda_values(system_node_selector: Mapping[str, str], monitor: bool) -> dict[str, Any]:
    """KEDA's chart values: two replicas of each part with PDBs, sized, on the system pool; its own
    ServiceMonitors only when the prometheus-operator CRDs exist (``monitor``)."""
    small = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1000Mi"}}
    return {
        "crds": {"install": True},
        "operator": {"replicaCount": 2},
        "metricsServer": {"replicaCount": 2},
        "webhooks": {"enabled": True, "replicaCount": 2},
        "podDisruptionBudget": {
            "operator": {"maxUnavailable": 1},
            "metricServer": {"maxUnavailable": 1},
            "webhooks": {"maxUnavailable": 1},
        },
        "resources": {"operator": small, "metricServer": small, "webhooks": small},
        "nodeSelector": dict(system_node_selector),
        "prometheus": {
            comp: {"enabled": monitor, "serviceMonitor": {"enabled": monitor}} for comp in ("operator", "metricServer")
        },
    }


def keda_release(
    parent: pulumi.Resource,
    name: str,
    context: ClusterContext,
    monitoring_namespace: str,
    monitoring_crds: pulumi.Resource | None,
) -> pulumi.Resource:
    """KEDA in its own namespace (quota, default-deny ingress plus the API server's and Prometheus' calls),
    on the system pool, after ``needs_nodes`` and the monitoring CRDs."""
    ns = _k8s.namespace(f"{name}-keda-namespace", KEDA_NAMESPACE, parent=parent)
    _k8s.quota_and_limits(f"{name}-keda", ns, parent=parent, hard={"pods": "20"})
    _k8s.default_deny(f"{name}-keda-default-deny", ns, parent=parent, egress=False)
    # The API server (control-plane ENIs in the VPC) calls the metrics API (6443) and the
    # admission webhooks (9443); Prometheus scrapes the metrics ports.
    _k8s.network_policy(
        f"{name}-keda-allow-ingress",
        ns,
        "allow-apiserver-and-prometheus",
        parent=parent,
        ingress=[
            _k8s.from_cidr(context.vpc_cidr, KEDA_METRICS_APISERVER_PORT, KEDA_WEBHOOK_PORT),
            _k8s.from_namespace(monitoring_namespace),
        ],
    )
    # The metrics apiserver fetches every external metric from the operator over gRPC (9666);
    # without this the HPAs KEDA creates never get a value and never leave their minimum.
    _k8s.network_policy(
        f"{name}-keda-allow-operator-grpc",
        ns,
        "allow-metrics-apiserver-to-operator",
        parent=parent,
        pod_selector={"matchLabels": dict(KEDA_OPERATOR)},
        ingress=[
            {
                "from": [{"podSelector": {"matchLabels": dict(KEDA_METRICS_APISERVER)}}],
                "ports": [{"protocol": "TCP", "port": KEDA_OPERATOR_GRPC_PORT}],
            }
        ],
    )
    monitor = monitoring_crds is not None
    values = keda_values(context.system_node_selector, monitor)
    deps = [ns, *context.needs_nodes] + ([monitoring_crds] if monitoring_crds is not None else [])
    return helm_release(f"{name}-keda", "keda", KEDA_CHART, "keda", values, parent=parent, depends_on=deps)
