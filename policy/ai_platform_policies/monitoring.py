"""Helm releases and the monitoring stack (catalogue §3.9, OBS-01…07).

Chart values are read from the ``helm.v3.Release`` ``values`` prop (the rendered pods are not
resources, so these policies check the values that produce them). Value paths follow the chart
versions the platform pins (kube-prometheus-stack 88.x, dcgm-exporter 4.8, gpu-operator v26.7).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    HELM_RELEASE,
    STACK_FILE,
    PolicyList,
    ReportViolation,
    as_list,
    chart_name,
    get,
    helm_values,
    is_gpu_node_group,
    num,
)

KPS = "kube-prometheus-stack"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
CRD_CHARTS = ("prometheus-operator-crds", KPS)
_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
DEFAULT_REPOS = [
    "https://prometheus-community.github.io/helm-charts",
    "https://grafana-community.github.io/helm-charts",
    "https://nvidia.github.io/k8s-device-plugin",
    "https://helm.ngc.nvidia.com/nvidia",
    "https://nvidia.github.io/dcgm-exporter/helm-charts",
    "https://kubernetes.github.io/autoscaler",
    "https://kedacore.github.io/charts",
    "https://aws.github.io/eks-charts",
    "oci://ghcr.io/actions/actions-runner-controller-charts",
    # The official charts of the other CI backends (components/gitlab_runner.py, jenkins.py, circleci_agent.py).
    "https://charts.gitlab.io",
    "https://charts.jenkins.io",
    "https://packagecloud.io/circleci/container-agent/helm",
    # Karpenter's charts are published only to this OCI registry (karpenter.sh getting started).
    "oci://public.ecr.aws/karpenter",
    "https://community-charts.github.io/helm-charts",
]
HOST_DAEMON_CHARTS = ("prometheus-node-exporter", KPS, "dcgm-exporter", "nvidia-device-plugin", "gpu-operator")


POLICIES = PolicyList()


def _release(args: ResourceValidationArgs) -> str:
    return f"helm release '{args.props.get('name') or args.name}' ({chart_name(args.props)})"


@POLICIES.resource(
    "helm-release-pinned-version",
    "Charts are pinned to an exact version from an allowlisted repository (OBS-01).",
    Severity.MEDIUM,
    [HELM_RELEASE],
    config={"allowedRepositories": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_REPOS}},
)
def _pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Helm releases pin an exact chart version from an allowlisted repository."""
    version = str(args.props.get("version") or "")
    if not _EXACT_VERSION.match(version):
        report(
            f"{_release(args)} version '{version or 'unset (latest)'}' is not an exact chart version: pin it in the "
            "component's Chart(...) (components/_helm.py)"
        )
    chart = str(args.props.get("chart") or "")
    repo = str(get(args.props, "repositoryOpts.repo") or "")
    source = chart.rsplit("/", 1)[0] if chart.startswith("oci://") else repo
    allowed = [str(r).rstrip("/") for r in as_list(args.get_config().get("allowedRepositories"))]
    if source.rstrip("/") not in allowed:
        report(
            f"{_release(args)} comes from '{source or '(no repository)'}', not an allowlisted chart repository: use "
            "an upstream repository listed in allowedRepositories in policy/config/tiers/<tier>.json"
        )


@POLICIES.resource(
    "helm-release-atomic",
    "Releases are atomic with a timeout long enough for large charts (platform rule; components/_helm.py).",
    Severity.MEDIUM,
    [HELM_RELEASE],
    config={"minTimeoutSeconds": {"type": "integer", "default": 900}},
)
def _atomic(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Helm releases are atomic, with a timeout of at least the configured minimum."""
    if args.props.get("atomic") is not True:
        report(
            f"{_release(args)} is not atomic, so a failed upgrade stays half-applied: install it with components/_helm.py helm_release()"
        )
    timeout = num(args.props.get("timeout"), 300) or 300
    minimum = num(args.get_config().get("minTimeoutSeconds"), 900) or 900
    if timeout < minimum:
        report(
            f"{_release(args)} times out after {timeout:g}s (< {minimum:g}s): large charts need longer; use helm_release()"
        )


def _kps(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    return helm_values(args.props) if chart_name(args.props) == KPS else None


@POLICIES.resource(
    "monitoring-grafana-admin-password",
    "Grafana's admin password is set from a secret and is not a chart default (OBS-02).",
    Severity.HIGH,
    [HELM_RELEASE],
)
def _grafana_password(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """kube-prometheus-stack sets Grafana's admin password (or an existing Secret), never a well-known one."""
    v = _kps(args)
    if v is None or get(v, "grafana.enabled", True) is False:
        return
    if get(v, "grafana.admin.existingSecret"):
        return
    pw = get(v, "grafana.adminPassword")
    if pw in (None, ""):
        report(
            f"{_release(args)} has no Grafana admin password set (the chart generates one nobody knows): set "
            "`pulumi config set --secret grafanaAdminPassword` (passed as grafana.adminPassword or admin.existingSecret)"
        )
    elif str(pw) in ("prom-operator", "admin", "password"):
        report(
            f"{_release(args)} keeps a well-known Grafana admin password: set grafanaAdminPassword as a secret in {STACK_FILE}"
        )


@POLICIES.resource(
    "monitoring-services-not-public",
    "Grafana, Prometheus and Alertmanager are not exposed as LoadBalancer/NodePort or public Ingress (OBS-03).",
    Severity.MEDIUM,
    [HELM_RELEASE],
)
def _services_private(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Grafana, Prometheus and Alertmanager are neither LoadBalancer/NodePort nor behind an internet-facing Ingress."""
    v = _kps(args)
    if v is None:
        return
    for comp in ("grafana", "prometheus", "alertmanager"):
        t = get(v, f"{comp}.service.type")
        if t in ("LoadBalancer", "NodePort"):
            report(
                f"{_release(args)} exposes {comp} as a {t}: keep {comp}.service.type: ClusterIP and reach it via port-forward or the internal ALB"
            )
        if get(v, f"{comp}.ingress.enabled") is True:
            ann = get(v, f"{comp}.ingress.annotations") or {}
            if ann.get("alb.ingress.kubernetes.io/scheme") == "internet-facing":
                report(f"{_release(args)} publishes {comp} through an internet-facing Ingress: make it internal")


@POLICIES.resource(
    "monitoring-prometheus-retention-storage",
    "Prometheus has time and size retention and an encrypted persistent volume (OBS-04).",
    Severity.LOW,
    [HELM_RELEASE],
    config={"encryptedStorageClasses": {"type": "array", "items": {"type": "string"}, "default": ["gp3-encrypted"]}},
)
def _retention_storage(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Prometheus sets retention and retentionSize and stores on an encrypted persistent volume."""
    v = _kps(args)
    if v is None:
        return
    spec = get(v, "prometheus.prometheusSpec") or {}
    missing = [k for k in ("retention", "retentionSize") if not spec.get(k)]
    if missing:
        report(
            f"{_release(args)} sets no prometheus.prometheusSpec.{'/'.join(missing)}: set monitoring.prometheusRetention (and size) in {STACK_FILE}"
        )
    vct = get(spec, "storageSpec.volumeClaimTemplate.spec") or {}
    if not get(vct, "resources.requests.storage"):
        report(
            f"{_release(args)} keeps Prometheus data on an emptyDir (lost on restart): set monitoring.prometheusStorageGib in {STACK_FILE}"
        )
    allowed = [str(s) for s in as_list(args.get_config().get("encryptedStorageClasses"))]
    sc = vct.get("storageClassName")
    if vct and sc not in allowed:
        report(
            f"{_release(args)} Prometheus volume uses storage class {sc or '(cluster default)'}: use one of {allowed} (encrypted gp3)"
        )


_RESOURCE_PATHS = {
    "prometheus": "prometheus.prometheusSpec.resources",
    "alertmanager": "alertmanager.alertmanagerSpec.resources",
    "prometheus-operator": "prometheusOperator.resources",
    "grafana": "grafana.resources",
    "kube-state-metrics": "kube-state-metrics.resources",
    "node-exporter": "prometheus-node-exporter.resources",
}


@POLICIES.resource(
    "monitoring-components-resources",
    "Prometheus, Alertmanager, the operator, Grafana, kube-state-metrics and node-exporter set resources (OBS-05).",
    Severity.MEDIUM,
    [HELM_RELEASE],
)
def _resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every enabled kube-prometheus-stack workload sets resources in its chart values."""
    v = _kps(args)
    if v is None:
        return
    missing = [path for comp, path in _RESOURCE_PATHS.items() if not get(v, path) and _enabled(v, comp)]
    if missing:
        report(
            f"{_release(args)} leaves resources unset for {', '.join(missing)}: set requests and memory limits (components/monitoring.py)"
        )


def _enabled(v: Mapping[str, Any], comp: str) -> bool:
    toggles = {
        "grafana": "grafana.enabled",
        "alertmanager": "alertmanager.enabled",
        "kube-state-metrics": "kubeStateMetrics.enabled",
        "node-exporter": "nodeExporter.enabled",
    }
    return get(v, toggles[comp], True) is not False if comp in toggles else True


def _release_namespaces(args: StackValidationArgs, charts: tuple[str, ...]) -> set[str]:
    out = set()
    for r in args.resources:
        if r.resource_type == HELM_RELEASE and chart_name(r.props) in charts:
            if chart_name(r.props) == KPS and get(helm_values(r.props), "nodeExporter.enabled", True) is False:
                continue
            out.add(str(r.props.get("namespace") or "default"))
    return out


@POLICIES.stack(
    "monitoring-namespace-privileged-only-where-needed",
    "Only namespaces running host-access daemons (node-exporter, DCGM, device plugin) enforce 'privileged' (OBS-06).",
    Severity.MEDIUM,
)
def _privileged_only_where_needed(args: StackValidationArgs, report: ReportViolation) -> None:
    """Only namespaces running host-access daemons enforce the 'privileged' Pod Security level."""
    needs = _release_namespaces(args, HOST_DAEMON_CHARTS)
    for r in args.resources:
        if r.resource_type != NAMESPACE:
            continue
        name = str(get(r.props, "metadata.name") or r.name)
        labels = get(r.props, "metadata.labels") or {}
        if labels.get("pod-security.kubernetes.io/enforce") == "privileged" and name not in needs:
            report(
                f"namespace '{name}' enforces Pod Security 'privileged' but runs no host-access daemon "
                "(node-exporter, DCGM exporter, device plugin): label it baseline or restricted",
                r.urn,
            )


@POLICIES.stack(
    "monitoring-dcgm-service-monitor",
    "When GPU nodes exist, DCGM exporter metrics are scraped (OBS-07).",
    Severity.LOW,
)
def _dcgm_present(args: StackValidationArgs, report: ReportViolation) -> None:
    """A stack with GPU node groups scrapes the DCGM exporter (ServiceMonitor, chart or GPU operator)."""
    if not any(r.resource_type == NODE_GROUP and is_gpu_node_group(r.props) for r in args.resources):
        return
    for r in args.resources:
        if r.resource_type == SERVICE_MONITOR and "dcgm" in str(get(r.props, "metadata.name") or r.name):
            return
        if r.resource_type != HELM_RELEASE:
            continue
        v, chart = helm_values(r.props), chart_name(r.props)
        if chart == "dcgm-exporter" and get(v, "serviceMonitor.enabled", True) is not False:
            return
        if (
            chart == "gpu-operator"
            and get(v, "dcgmExporter.enabled", True) is not False
            and get(v, "dcgmExporter.serviceMonitor.enabled", True) is not False
        ):
            return
    report(
        "GPU node groups exist but no DCGM exporter ServiceMonitor: GPU utilisation never reaches Prometheus; install "
        "dcgm-exporter with serviceMonitor.enabled (components/gpu_stack.py)"
    )


@POLICIES.stack(
    "k8s-custom-resource-depends-on-crds",
    "ServiceMonitors/PrometheusRules depend on the CRDs release, so a fresh cluster applies cleanly.",
    Severity.MEDIUM,
)
def _depends_on_crds(args: StackValidationArgs, report: ReportViolation) -> None:
    """ServiceMonitors and PrometheusRules depend on the CRDs release."""
    crd_releases = {
        r.urn for r in args.resources if r.resource_type == HELM_RELEASE and chart_name(r.props) in CRD_CHARTS
    }
    if not crd_releases:
        return

    def reaches(r: PolicyResource, seen: set[str]) -> bool:
        for d in r.dependencies:
            if d.urn in crd_releases:
                return True
            if d.urn not in seen:
                seen.add(d.urn)
                if reaches(d, seen):
                    return True
        return r.parent is not None and r.parent.urn not in seen and reaches(r.parent, seen | {r.parent.urn})

    for r in args.resources:
        if r.resource_type.startswith("kubernetes:monitoring.coreos.com/") and not reaches(r, set()):
            report(
                f"{r.resource_type.rsplit(':', 1)[-1]} '{r.name}' does not depend on the prometheus-operator CRDs "
                "release, so the first `pulumi up` can fail with 'no matches for kind': add depends_on=[monitoring.crds]",
                r.urn,
            )
