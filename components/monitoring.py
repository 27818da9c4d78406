"""Monitoring: Prometheus, Alertmanager and Grafana (kube-prometheus-stack) with the platform's dashboards and rules.

Provisions (on the cluster's explicit Kubernetes provider):
- the ``monitoring`` namespace (Pod Security ``privileged``: node-exporter reads host paths);
- the prometheus-operator CRDs as their own release (``prometheus-operator-crds``), installed
  before anything that creates a ServiceMonitor or PrometheusRule, so the first ``pulumi up`` does
  not fail on missing kinds (pulumi/pulumi-kubernetes#1712). Unlike the CRDs in kps' ``crds/``
  directory, templated CRDs are upgraded by ``helm upgrade`` (helm-charts#3658);
- kube-prometheus-stack with ``crds.enabled: false``:
  - Prometheus on an encrypted gp3 PVC with time *and* size retention, the size below the volume
    so the WAL and compaction head-room cannot fill it (helm-charts#4869, prometheus#8005);
  - selectors that pick up every ServiceMonitor/PodMonitor/rule in the cluster, not only this release's;
  - Alertmanager with receivers from config; its configuration is a Secret this component creates;
  - Grafana with the admin password from a Secret (never the chart default), ClusterIP only, no
    ingress (reach it with ``kubectl port-forward``), dashboards loaded by its sidecar;
  - requests and a memory limit on every container;
- the dashboards in ``components/dashboards/*.json`` as ConfigMaps for the Grafana sidecar;
- the alert rules in ``components/rules/*.yaml`` (Prometheus rule-file format, unit-tested with
  ``promtool test rules``) as PrometheusRule objects.

Alertmanager's configuration holds the Slack webhook and the PagerDuty routing key, so it lives in
a Secret referenced by ``alertmanager.alertmanagerSpec.configSecret`` (with ``useExistingSecret``)
rather than in ``alertmanager.config``: Helm values are stored in the release and in the stack
state, and one secret value in them would turn the whole values map into a secret nobody can
review in a preview diff.

Outputs: ``crds`` (the CRD release; CR creators ``depends_on`` it), ``release`` (kube-prometheus-stack),
``prometheus_url`` (in-cluster URL, e.g. for KEDA), ``namespace``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import _contracts
from components._helm import Chart, helm_release
from components._k8s import (
    agent_resources,
    default_deny,
    dns_egress,
    from_cidr,
    from_namespace,
    namespace,
    network_policy,
    tcp_egress,
    with_provider,
)
from components.vocabulary import LABEL_ACCELERATOR, LABEL_AMI_FAMILY, LABEL_GPU_MODEL, LABEL_POOL

# prometheus-community/helm-charts at tag kube-prometheus-stack-88.5.3: kps 88.5.3 and
# prometheus-operator-crds 31.0.1 both carry appVersion v0.93.1, so CRDs and operator match.
KPS_CHART = Chart("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts")
CRDS_CHART = Chart("prometheus-operator-crds", "31.0.1", "https://prometheus-community.github.io/helm-charts")

# A fixed fullname keeps service names stable: <fullname>-prometheus, <fullname>-alertmanager, ...
KPS_FULLNAME = "kube-prometheus-stack"

# Names of the Secrets this component creates and kps references.
GRAFANA_ADMIN_SECRET = "grafana-admin"  # noqa: S105 - a Secret's name, not a secret
ALERTMANAGER_CONFIG_SECRET = "alertmanager-platform"  # noqa: S105

DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_LABEL_VALUE = "1"

_HERE = Path(__file__).resolve().parent
DASHBOARDS_DIR = _HERE / "dashboards"
RULES_DIR = _HERE / "rules"

# Node labels kube-state-metrics exports as kube_node_labels{label_platform_ai_...}: the GPU rules
# join DCGM and scheduling metrics on them.
_NODE_LABELS = (LABEL_POOL, LABEL_ACCELERATOR, LABEL_GPU_MODEL, LABEL_AMI_FAMILY)
# The served model a pod, Deployment or HPA belongs to (the serving metric contract).
LABEL_MODEL = "platform.ai/model"


# Pods of the stack (kps 88.5.3): the operator sets `app.kubernetes.io/name: prometheus` on Prometheus
# pods (container port "http-web", values.yaml `prometheus.prometheusSpec.portName`); the operator
# Deployment's pods carry `app: kube-prometheus-stack-operator` and serve the admission webhook on
# 10250 (values.yaml `prometheusOperator.tls.internalPort`); kube-state-metrics (subchart 8.4.0) on 8080.
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
OPERATOR_POD_LABELS = {"app": f"{KPS_FULLNAME}-operator"}
KSM_POD_LABELS = {"app.kubernetes.io/name": "kube-state-metrics"}
OPERATOR_WEBHOOK_PORT = 10250

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


def monitoring_contracts(args: MonitoringArgs) -> dict[str, Any]:
    """Flows the stack needs, the metric contracts of kube-state-metrics, the kubelet and the drift evaluator."""
    ns = args.namespace
    prom = _contracts.pods(ns, PROMETHEUS_POD_LABELS)
    any_pod = _contracts.pods(ns, {})
    vpc, web = _contracts.cidr(args.cluster_cidr), _contracts.cidr(_contracts.INTERNET)
    src = "prometheus-community/helm-charts kube-prometheus-stack-88.5.3"
    flow = _contracts.Flow
    flows = [
        *_contracts.dns(ns, what="monitoring"),
        flow(
            "API server -> prometheus-operator admission webhook",
            vpc,
            _contracts.pods(ns, OPERATOR_POD_LABELS),
            OPERATOR_WEBHOOK_PORT,
            port_name="https",
            source=src,
        ),
        flow(
            "Prometheus -> kube-state-metrics",
            prom,
            _contracts.pods(ns, KSM_POD_LABELS),
            8080,
            port_name="http",
            source=src,
        ),
        flow("Prometheus -> kubelets and node-exporter (node IPs)", prom, vpc, 10250),
        # kps `coreDns` ServiceMonitor: EKS's CoreDNS pods (k8s-app: kube-dns) serve metrics on 9153.
        flow("Prometheus -> CoreDNS metrics", prom, _contracts.pods("kube-system", {"k8s-app": "kube-dns"}), 9153),
        flow("Prometheus -> API server", prom, vpc, 443),
        flow("Grafana -> Prometheus", any_pod, prom, 9090, port_name="http-web", source=src),
        flow("Alertmanager -> Slack/PagerDuty", any_pod, web, 443),
    ]
    ksm, node_labels = (
        "kube-state-metrics (kube-prometheus-stack 88.5.3, subchart 8.4.0)",
        ["label_" + lbl.replace(".", "_").replace("/", "_").replace("-", "_") for lbl in _NODE_LABELS],
    )
    model_label = "label_" + LABEL_MODEL.replace(".", "_").replace("/", "_")
    metrics = [
        # kube-state-metrics docs/metrics (node, daemonset, horizontalpodautoscaler, pod, deployment);
        # label_* only for the labels metricLabelsAllowlist (kps_values) lets through.
        _contracts.Series(
            ksm,
            {
                "kube_node_status_condition": ("node", "condition", "status"),
                "kube_node_status_allocatable": ("node", "resource", "unit"),
                "kube_node_labels": ("node", *node_labels),
                "kube_daemonset_status_number_unavailable": ("namespace", "daemonset"),
                "kube_horizontalpodautoscaler_status_current_replicas": ("namespace", "horizontalpodautoscaler"),
                "kube_horizontalpodautoscaler_spec_max_replicas": ("namespace", "horizontalpodautoscaler"),
                "kube_horizontalpodautoscaler_labels": ("namespace", "horizontalpodautoscaler", model_label),
                "kube_deployment_labels": ("namespace", "deployment", model_label),
                "kube_pod_labels": ("namespace", "pod", "uid", model_label),
            },
        ),
        # The kubelet's volume stats (kubelet job, /metrics).
        _contracts.Series(
            "kubelet",
            {
                f"kubelet_volume_stats_{m}_bytes": ("namespace", "persistentvolumeclaim", "node")
                for m in ("available", "capacity", "used")
            },
        ),
    ]
    return _contracts.declare(flows=flows, metrics=metrics, peers={"prometheus": prom})


def dashboards() -> dict[str, str]:
    """The dashboards shipped as code: file stem -> JSON text (validated as JSON)."""
    out = {}
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        text = path.read_text()
        json.loads(text)
        out[path.stem] = text
    return out


def rule_groups() -> dict[str, list[dict[str, Any]]]:
    """The alert rules: file stem -> Prometheus rule groups."""
    # libyaml's parser when PyYAML has it (the same documents, a third of the time of the pure-Python one).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return {p.stem: yaml.load(p.read_text(), Loader=loader)["groups"] for p in sorted(RULES_DIR.glob("*.yaml"))}  # noqa: S506 - a safe loader


def alertmanager_config(
    *, cluster: str, slack_channel: str | None, slack_webhook_url: str | None, pagerduty_routing_key: str | None
) -> dict[str, Any]:
    """Alertmanager's configuration: critical alerts page (PagerDuty), everything goes to Slack.

    Without any receiver configured alerts are still evaluated and visible in Alertmanager's UI.
    """
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [
        # Watchdog always fires (a dead man's switch for an external monitor); InfoInhibitor only inhibits.
        {"receiver": "null", "matchers": ['alertname = "Watchdog"']},
        {"receiver": "null", "matchers": ['alertname = "InfoInhibitor"']},
    ]
    default = "null"
    if pagerduty_routing_key:
        receivers.append(
            {
                "name": "pagerduty",
                "pagerduty_configs": [
                    {
                        "routing_key": pagerduty_routing_key,
                        "send_resolved": True,
                        "description": '{{ .CommonAnnotations.summary }}{{ if eq .CommonAnnotations.summary "" }}{{ .GroupLabels.alertname }}{{ end }}',
                    }
                ],
            }
        )
        # `continue` so critical alerts also reach the Slack channel.
        routes.append({"receiver": "pagerduty", "matchers": ['severity = "critical"'], "continue": True})
    if slack_channel and slack_webhook_url:
        receivers.append(
            {
                "name": "slack",
                "slack_configs": [
                    {
                        "api_url": slack_webhook_url,
                        "channel": slack_channel,
                        "send_resolved": True,
                        "title": "[{{ .Status | toUpper }}] {{ .GroupLabels.alertname }} ({{ .CommonLabels.cluster }})",
                        "text": "{{ range .Alerts }}*{{ .Labels.severity }}* {{ .Annotations.summary }}\n{{ .Annotations.description }}\n{{ if .Annotations.runbook_url }}Runbook: {{ .Annotations.runbook_url }}\n{{ end }}{{ end }}",
                    }
                ],
            }
        )
        # A matched child route (even with `continue`) stops the fall-back to the root receiver, so
        # Slack needs its own catch-all route after the PagerDuty one.
        routes.append({"receiver": "slack"})
        default = "slack"
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": default,
            "group_by": ["alertname", "cluster", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            # A critical alert silences the warning of the same name on the same object.
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity =~ "warning|info"'],
                "equal": ["cluster", "namespace", "alertname"],
            },
            {
                "source_matchers": ['alertname = "InfoInhibitor"'],
                "target_matchers": ['severity = "info"'],
                "equal": ["namespace"],
            },
        ],
        "receivers": receivers,
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


@dataclass(frozen=True)
class MonitoringArgs:
    """Inputs of :class:`Monitoring`."""

    provider: k8s.Provider
    """The cluster's explicit Kubernetes provider (never the ambient kubeconfig)."""
    grafana_admin_password: pulumi.Input[str]
    """Grafana admin password (a secret); required, so the chart never generates or defaults one."""
    cluster_name: str
    """The ``cluster`` external label on every series and alert."""
    storage_class_name: str = "gp3-encrypted"
    """StorageClass of the Prometheus, Alertmanager and Grafana volumes (the cluster's encrypted gp3)."""
    prometheus_storage_gib: int = 100
    """Size of each Prometheus replica's volume."""
    retention: str = "15d"
    """Time retention (Prometheus duration)."""
    retention_size_gib: int = 80
    """Size retention; must stay below ``prometheus_storage_gib`` (the WAL is not counted by older Prometheus)."""
    prometheus_replicas: int = 1
    """Prometheus replicas (each scrapes everything; 2 for HA)."""
    grafana_storage_gib: int = 10
    """Size of Grafana's volume (its SQLite database: users, annotations)."""
    slack_channel: str | None = None
    """Slack channel for all alerts; None (default) sends none to Slack."""
    slack_webhook_url: pulumi.Input[str] | None = None
    """Slack incoming-webhook URL (a secret); needed with ``slack_channel``."""
    pagerduty_routing_key: pulumi.Input[str] | None = None
    """PagerDuty Events v2 routing key (a secret); None (default) pages nobody."""
    namespace: str = "monitoring"
    """Namespace of the stack."""
    cluster_cidr: str = "10.0.0.0/8"
    """CIDR holding the nodes, pods and the EKS control-plane ENIs (the VPC CIDR): Prometheus scrapes it and
    the API server calls the operator's admission webhook from it."""
    prometheus_client_namespaces: Sequence[str] = ("keda",)
    """Namespaces allowed to query Prometheus (KEDA's scalers); everything else is denied."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the charts need first: the EBS CSI driver (volumes) and nodes to run on."""


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack on its own CRD release, with dashboards and rules as code."""

    crds: k8s.helm.v3.Release
    release: k8s.helm.v3.Release
    prometheus_url: str
    namespace: str

    def _network_policies(self, name: str, ns: k8s.core.v1.Namespace, args: MonitoringArgs) -> None:
        """Default deny, then what the stack needs. Kubelet probes from a pod's own node are always allowed
        (https://kubernetes.io/docs/concepts/services-networking/network-policies/#what-you-can-t-do-with-network-policies-at-least-not-yet);
        node-exporter runs in the host network, which NetworkPolicies do not cover."""
        default_deny(f"{name}-default-deny", ns, parent=self)
        network_policy(
            f"{name}-allow-stack",
            ns,
            "allow-stack",
            parent=self,
            # Grafana -> Prometheus/Alertmanager, Prometheus -> Alertmanager and its own exporters.
            ingress=[
                {"from": [{"podSelector": {}}]},
                # The API server calls the operator's admission webhook (container port 10250).
                from_cidr(args.cluster_cidr, 10250),
                *[from_namespace(n, 9090) for n in args.prometheus_client_namespaces],
            ],
            # Scraping reaches pods and nodes anywhere in the cluster CIDR; HTTPS reaches the API
            # server (service discovery, Grafana's sidecar) and Slack/PagerDuty (Alertmanager).
            egress=[
                {"to": [{"podSelector": {}}]},
                dns_egress(),
                {"to": [{"ipBlock": {"cidr": args.cluster_cidr}}]},
                tcp_egress(443),
            ],
        )

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        if not 0 < args.retention_size_gib < args.prometheus_storage_gib:
            raise ValueError(
                f"retention_size_gib ({args.retention_size_gib}) must be below prometheus_storage_gib "
                f"({args.prometheus_storage_gib}), or the WAL can fill the volume"
            )
        super().__init__(
            "platform:index:Monitoring", name, monitoring_contracts(args), with_provider(opts, args.provider)
        )
        ns = namespace(f"{name}-namespace", args.namespace, parent=self, enforce="privileged")
        self.namespace = args.namespace
        self._network_policies(name, ns, args)

        self.crds = helm_release(
            f"{name}-crds",
            "prometheus-operator-crds",
            CRDS_CHART,
            args.namespace,
            {},
            parent=self,
            depends_on=[ns, *args.depends_on],
        )

        grafana_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_ADMIN_SECRET, namespace=args.namespace),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(args.grafana_admin_password)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )

        am_yaml: pulumi.Output[str] = pulumi.Output.all(args.slack_webhook_url, args.pagerduty_routing_key).apply(
            lambda s: yaml.safe_dump(
                alertmanager_config(
                    cluster=args.cluster_name,
                    slack_channel=args.slack_channel,
                    slack_webhook_url=s[0],
                    pagerduty_routing_key=s[1],
                ),
                sort_keys=False,
            )
        )
        am_secret = k8s.core.v1.Secret(
            f"{name}-alertmanager-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ALERTMANAGER_CONFIG_SECRET, namespace=args.namespace),
            type="Opaque",
            # The operator reads the key alertmanager.yaml (prometheus-operator Alertmanager spec.configSecret).
            string_data={"alertmanager.yaml": pulumi.Output.secret(am_yaml)},  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )

        self.release = helm_release(
            f"{name}-kube-prometheus-stack",
            "kube-prometheus-stack",
            KPS_CHART,
            args.namespace,
            kps_values(args),
            parent=self,
            depends_on=[self.crds, grafana_secret, am_secret],
        )

        for stem, text in dashboards().items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"dashboard-{stem}",
                    namespace=args.namespace,
                    labels={DASHBOARD_LABEL: DASHBOARD_LABEL_VALUE},
                ),
                data={f"{stem}.json": text},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
            )

        for stem, groups in rule_groups().items():
            k8s.apiextensions.CustomResource(
                f"{name}-rules-{stem}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"platform-{stem}", namespace=args.namespace),
                spec={"groups": groups},
                # The CRD must exist, and kps' admission webhook (which validates rules) must be up.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.crds, self.release]),
            )

        self.prometheus_url = f"http://{KPS_FULLNAME}-prometheus.{args.namespace}.svc:9090"
        self.register_outputs(
            {
                "crds": self.crds,
                "release": self.release,
                "prometheus_url": self.prometheus_url,
                "namespace": self.namespace,
            }
        )


def kps_values(args: MonitoringArgs) -> dict[str, Any]:
    """Values of kube-prometheus-stack (keys checked against its 88.5.3 values.yaml)."""

    def pvc(size_gib: int) -> dict[str, Any]:
        return {
            "volumeClaimTemplate": {
                "spec": {
                    "storageClassName": args.storage_class_name,
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": f"{size_gib}Gi"}},
                }
            }
        }

    selectors_everywhere: Mapping[str, bool] = {
        # false = select every object in every namespace, not only those labelled release=<this release>,
        # so the DCGM exporter's, KEDA's and the models' ServiceMonitors are scraped.
        f"{kind}SelectorNilUsesHelmValues": False
        for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig")
    }
    return {
        "fullnameOverride": KPS_FULLNAME,
        # The CRDs come from the prometheus-operator-crds release (installed first, upgraded by helm).
        "crds": {"enabled": False},
        "defaultRules": {"create": True, "rules": default_rules()},
        # EKS runs the control plane and the kube-proxy add-on out of reach (see HIDDEN_ON_EKS).
        **{component: {"enabled": False} for component in HIDDEN_ON_EKS},
        "prometheusOperator": {
            "resources": agent_resources("100m", "128Mi", "512Mi"),
            "prometheusConfigReloader": {"resources": agent_resources("10m", "32Mi", "64Mi")},
            "admissionWebhooks": {"patch": {"resources": agent_resources("10m", "32Mi", "128Mi")}},
        },
        "prometheus": {
            "prometheusSpec": {
                "replicas": args.prometheus_replicas,
                "retention": args.retention,
                # Prometheus size units are base 2 (GB = GiB).
                "retentionSize": f"{args.retention_size_gib}GB",
                "walCompression": True,
                "storageSpec": pvc(args.prometheus_storage_gib),
                "externalLabels": {"cluster": args.cluster_name},
                "resources": agent_resources("500m", "2Gi", "8Gi"),
                "podAntiAffinity": "soft",
                **selectors_everywhere,
            }
        },
        "alertmanager": {
            "enabled": True,
            "alertmanagerSpec": {
                "replicas": 2 if args.prometheus_replicas > 1 else 1,
                "useExistingSecret": True,
                "configSecret": ALERTMANAGER_CONFIG_SECRET,
                "storage": pvc(2),
                "resources": agent_resources("50m", "128Mi", "256Mi"),
            },
        },
        "grafana": {
            "enabled": True,
            # The chart would otherwise generate a password into its own Secret (or use a value in
            # values); the admin password comes from secret config through our Secret.
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "service": {"type": "ClusterIP"},
            "ingress": {"enabled": False},
            "persistence": {
                "enabled": True,
                "type": "pvc",
                "storageClassName": args.storage_class_name,
                "accessModes": ["ReadWriteOnce"],
                "size": f"{args.grafana_storage_gib}Gi",
            },
            # An RWO volume cannot attach to the new pod while the old one holds it.
            "deploymentStrategy": {"type": "Recreate"},
            # fsGroup (472) already makes the volume writable; no root chown init container.
            "initChownData": {"enabled": False},
            "resources": agent_resources("100m", "256Mi", "1Gi"),
            "sidecar": {
                "resources": agent_resources("50m", "96Mi", "256Mi"),
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": DASHBOARD_LABEL_VALUE,
                    "searchNamespace": "ALL",
                },
            },
        },
        "kube-state-metrics": {
            "resources": agent_resources("50m", "128Mi", "512Mi"),
            # kube_node_labels{label_platform_ai_accelerator=...}: the GPU rules and cost dashboard join on
            # node labels; the serving dashboard and ModelReplicasAtMax on the model label
            # (docs/metrics-contract.md).
            "metricLabelsAllowlist": [
                f"nodes=[{','.join(_NODE_LABELS)}]",
                *(f"{kind}=[{LABEL_MODEL}]" for kind in ("pods", "deployments", "horizontalpodautoscalers")),
            ],
        },
        "prometheus-node-exporter": {
            "resources": agent_resources("20m", "64Mi", "128Mi"),
            # Every node, GPU pools (tainted nvidia.com/gpu) included.
            "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
        },
    }
