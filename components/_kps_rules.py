"""Which of kube-prometheus-stack's default rule groups can work on EKS (internal to monitoring).

The table is read from the chart's values.yaml and rule templates at kube-prometheus-stack 88.5.3
(prometheus-community/helm-charts); tests/components/test_monitoring.py fails on a chart bump that adds a key.
"""

from __future__ import annotations

from collections.abc import Mapping

# kube-prometheus-stack 88.5.3 values.yaml `defaultRules.rules`: every key, with the scrape jobs its
# rules read (templates/prometheus/rules-1.14/*.yaml, `job=` selectors). A group stays enabled only if
# every job it needs exists on EKS (EKS_SCRAPE_JOBS); a chart bump that adds a key fails
# tests/components/test_monitoring.py until the key is classified here.
DEFAULT_RULE_GROUPS: Mapping[str, tuple[str, ...]] = {
    "alertmanager": ("alertmanager",),
    "etcd": ("kube-etcd",),
    "configReloaders": ("prometheus",),
    "general": (),
    "k8sContainerCpuUsageSecondsTotal": ("kubelet",),
    "k8sContainerMemoryCache": ("kubelet",),
    "k8sContainerMemoryRss": ("kubelet",),
    "k8sContainerMemorySwap": ("kubelet",),
    "k8sContainerResource": ("kube-state-metrics",),
    "k8sContainerMemoryWorkingSetBytes": ("kubelet",),
    "k8sPodOwner": ("kube-state-metrics",),
    "kubeApiserverAvailability": ("apiserver",),
    "kubeApiserverBurnrate": ("apiserver",),
    "kubeApiserverHistogram": ("apiserver",),
    "kubeApiserverSlos": ("apiserver",),
    "kubeControllerManager": ("kube-controller-manager",),
    "kubelet": ("kubelet",),
    "kubeProxy": ("kube-proxy",),
    "kubePrometheusGeneral": (),
    "kubePrometheusNodeRecording": ("node-exporter",),
    "kubernetesApps": ("kube-state-metrics",),
    "kubernetesResources": ("kube-state-metrics", "kubelet"),
    "kubernetesStorage": ("kube-state-metrics", "kubelet"),
    "kubernetesSystem": ("apiserver", "kubelet", "kube-state-metrics"),
    "kubeSchedulerAlerting": ("kube-scheduler",),
    "kubeSchedulerRecording": ("kube-scheduler",),
    "kubeStateMetrics": ("kube-state-metrics",),
    "network": ("node-exporter",),
    "node": ("node-exporter", "kube-state-metrics"),
    "nodeExporterAlerting": ("node-exporter",),
    "nodeExporterRecording": ("node-exporter",),
    "prometheus": ("prometheus",),
    "prometheusOperator": ("prometheus-operator",),
    "windows": ("windows-exporter",),
}

# Scrape jobs that exist on EKS with the values below. Not among them: the controller manager,
# scheduler and etcd (EKS runs the control plane and does not expose their metrics endpoints), kube-proxy
# (the EKS add-on binds metrics to 127.0.0.1:10249 and reconciles the ConfigMap back,
# aws/containers-roadmap#657) and windows-exporter (no Windows nodes).
EKS_SCRAPE_JOBS = frozenset(
    {"alertmanager", "apiserver", "coredns", "kubelet", "kube-state-metrics", "node-exporter", "prometheus"}
    | {"prometheus-operator"}
)

# kps exporters EKS hides: their ServiceMonitors would scrape nothing and their rules alert forever
# (KubeControllerManagerDown/KubeSchedulerDown are critical).
HIDDEN_ON_EKS = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")


def default_rules() -> dict[str, bool]:
    """``defaultRules.rules``: a group is on only if every scrape job it reads exists on EKS."""
    return {key: all(j in EKS_SCRAPE_JOBS for j in jobs) for key, jobs in DEFAULT_RULE_GROUPS.items()}
