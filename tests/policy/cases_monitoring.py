"""Fixture rows of the policies in policy/ai_platform_policies/monitoring.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    GPU_NG,
    NAMESPACE,
    NG,
    RELEASE,
    SERVICE_MONITOR,
    case,
    deep,
    ns,
    release,
    without,
)
from tests.policy.harness import R

RES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
KPS_VALUES = {
    "grafana": {"adminPassword": "s3cr3t-from-config", "resources": RES, "service": {"type": "ClusterIP"}},
    "prometheus": {
        "prometheusSpec": {
            "retention": "15d",
            "retentionSize": "80GB",
            "resources": RES,
            "storageSpec": {
                "volumeClaimTemplate": {
                    "spec": {"storageClassName": "gp3-encrypted", "resources": {"requests": {"storage": "100Gi"}}}
                }
            },
        }
    },
    "alertmanager": {"alertmanagerSpec": {"resources": RES}},
    "prometheusOperator": {"resources": RES},
    "kube-state-metrics": {"resources": RES},
    "prometheus-node-exporter": {"resources": RES},
}
KPS = release("kube-prometheus-stack", KPS_VALUES, name="kps")
case(
    "helm-release-pinned-version",
    KPS,
    release("kube-prometheus-stack", KPS_VALUES, version="^88.0.0"),
    "pin it in the component's Chart(...)",
    release("kube-prometheus-stack", KPS_VALUES, version=""),
    True,
)
case(
    "helm-release-atomic",
    KPS,
    release("kube-prometheus-stack", KPS_VALUES, timeout=300.0),
    "use helm_release()",
    R(RELEASE, without(KPS.props, "atomic", "timeout")),
    True,
)
case(
    "monitoring-grafana-admin-password",
    KPS,
    release("kube-prometheus-stack", deep(KPS_VALUES, "grafana.adminPassword", "prom-operator")),
    "set grafanaAdminPassword as a secret",
    release("kube-prometheus-stack", without(KPS_VALUES, "grafana.adminPassword")),
    True,
)
case(
    "monitoring-services-not-public",
    KPS,
    release("kube-prometheus-stack", deep(KPS_VALUES, "grafana.service.type", "LoadBalancer")),
    "keep grafana.service.type: ClusterIP",
    release("kube-prometheus-stack", without(KPS_VALUES, "grafana.service")),
    False,
)
case(
    "monitoring-prometheus-retention-storage",
    KPS,
    release(
        "kube-prometheus-stack",
        deep(KPS_VALUES, "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName", "gp2"),
    ),
    "use one of ['gp3-encrypted']",
    release("kube-prometheus-stack", without(KPS_VALUES, "prometheus.prometheusSpec.storageSpec")),
    True,
)
case(
    "monitoring-components-resources",
    KPS,
    release("kube-prometheus-stack", without(KPS_VALUES, "grafana.resources")),
    "leaves resources unset for grafana.resources",
    release("kube-prometheus-stack", without(KPS_VALUES, "prometheusOperator")),
    True,
)
case(
    "monitoring-namespace-privileged-only-where-needed",
    [ns("monitoring", {"pod-security.kubernetes.io/enforce": "privileged"}), KPS],
    [ns("serving", {"pod-security.kubernetes.io/enforce": "privileged"}), KPS],
    "label it baseline or restricted",
    [R(NAMESPACE, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}, "ns-x")],
    True,
)
DCGM = release(
    "dcgm-exporter",
    {"serviceMonitor": {"enabled": True}},
    name="dcgm",
    repo="https://nvidia.github.io/dcgm-exporter/helm-charts",
)
case(
    "monitoring-dcgm-service-monitor",
    [R(NG, GPU_NG, "ng"), DCGM],
    [R(NG, GPU_NG, "ng"), release("dcgm-exporter", {"serviceMonitor": {"enabled": False}}, name="dcgm")],
    "install dcgm-exporter with serviceMonitor.enabled",
    [R(NG, GPU_NG, "ng"), release("dcgm-exporter", {}, name="dcgm")],
    False,
)
CRDS = release("prometheus-operator-crds", {}, name="crds")
SM = {"metadata": {"name": "llama", "namespace": "serving"}, "spec": {"endpoints": [{"port": "http"}]}}
case(
    "k8s-custom-resource-depends-on-crds",
    [CRDS, R(SERVICE_MONITOR, SM, "sm", depends_on=["crds"])],
    [CRDS, R(SERVICE_MONITOR, SM, "sm")],
    "add depends_on=[monitoring.crds]",
    [CRDS, R(SERVICE_MONITOR, {}, "sm")],
    True,
)
