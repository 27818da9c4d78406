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
from components._alertmanager import alertmanager_config
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
from components._kps_rules import DEFAULT_RULE_GROUPS as DEFAULT_RULE_GROUPS
from components._kps_rules import EKS_SCRAPE_JOBS as EKS_SCRAPE_JOBS
from components._kps_rules import HIDDEN_ON_EKS, default_rules
from components.cluster_context import ClusterContext
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


def monitoring_contracts(args: MonitoringArgs, context: ClusterContext) -> dict[str, Any]:
    """Flows the stack needs, the metric contracts of kube-state-metrics and the kubelet."""
    prom = _contracts.pods(args.namespace, PROMETHEUS_POD_LABELS)
    flows = monitoring_flows(args.namespace, prom, context.vpc_cidr)
    return _contracts.declare(flows=flows, metrics=monitoring_metrics(), peers={"prometheus": prom})


def monitoring_flows(ns: str, prom: dict[str, Any], vpc_cidr: str) -> list[_contracts.Flow]:
    """The stack's flows: its chart's pods (labels and ports at kps 88.5.3), scrapes, the API server."""
    any_pod = _contracts.pods(ns, {})
    vpc, web = _contracts.cidr(vpc_cidr), _contracts.cidr(_contracts.INTERNET)
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
    return flows


def monitoring_metrics() -> list[_contracts.Series]:
    """The series kube-state-metrics and the kubelet emit that the platform's rules and dashboards read."""
    ksm, node_labels = (
        "kube-state-metrics (kube-prometheus-stack 88.5.3, subchart 8.4.0)",
        ["label_" + lbl.replace(".", "_").replace("/", "_").replace("-", "_") for lbl in _NODE_LABELS],
    )
    model_label = "label_" + LABEL_MODEL.replace(".", "_").replace("/", "_")
    return [
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


# Older Prometheus does not count the WAL in retention.size: keep the size retention this far below the volume.
RETENTION_SHARE_OF_VOLUME = 0.9


def retention_problems(retention_size_gib: int, prometheus_storage_gib: int) -> list[tuple[str, str]]:
    """The size retention must leave room for the WAL on the volume: ``(path, message)`` pairs, the path
    relative to :class:`MonitoringArgs` (the config layer reports them at its own key path)."""
    if 0 < retention_size_gib < prometheus_storage_gib * RETENTION_SHARE_OF_VOLUME:
        return []
    return [
        (
            "retention_size_gib",
            f"must stay below {RETENTION_SHARE_OF_VOLUME:.0%} of the Prometheus volume ({prometheus_storage_gib} GiB) "
            f"to leave room for the WAL (got {retention_size_gib})",
        )
    ]


@dataclass(frozen=True)
class MonitoringArgs:
    """Inputs of :class:`Monitoring`; the cluster comes as its :class:`ClusterContext` (``cluster_name`` is
    the ``cluster`` external label on every series and alert, the volumes use ``storage_class_name``,
    Prometheus scrapes ``vpc_cidr``, the CRD release waits for ``needs_nodes``)."""

    grafana_admin_password: pulumi.Input[str]
    """Grafana admin password (a secret); required, so the chart never generates or defaults one."""
    prometheus_storage_gib: int = 100
    """Size of each Prometheus replica's volume."""
    retention: str = "15d"
    """Time retention (Prometheus duration)."""
    retention_size_gib: int = 80
    """Size retention; must stay below 90% of ``prometheus_storage_gib`` (the WAL is not counted by older
    Prometheus)."""
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
    prometheus_client_namespaces: Sequence[str] = ("keda",)
    """Namespaces allowed to query Prometheus (KEDA's scalers); everything else is denied."""

    def problems(self) -> list[tuple[str, str]]:
        """This component's own invariants, ``(path relative to these Args, message)``."""
        return retention_problems(self.retention_size_gib, self.prometheus_storage_gib)


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack on its own CRD release, with dashboards and rules as code."""

    crds: k8s.helm.v3.Release
    release: k8s.helm.v3.Release
    prometheus_url: str
    namespace: str

    def _network_policies(self, name: str, ns: k8s.core.v1.Namespace, args: MonitoringArgs, vpc_cidr: str) -> None:
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
                from_cidr(vpc_cidr, 10250),
                *[from_namespace(n, 9090) for n in args.prometheus_client_namespaces],
            ],
            # Scraping reaches pods and nodes anywhere in the cluster CIDR; HTTPS reaches the API
            # server (service discovery, Grafana's sidecar) and Slack/PagerDuty (Alertmanager).
            egress=[
                {"to": [{"podSelector": {}}]},
                dns_egress(),
                {"to": [{"ipBlock": {"cidr": vpc_cidr}}]},
                tcp_egress(443),
            ],
        )

    def __init__(
        self,
        name: str,
        args: MonitoringArgs,
        context: ClusterContext,
        opts: pulumi.ResourceOptions | None = None,
    ):
        if problems := args.problems():
            raise ValueError("; ".join(f"{path}: {message}" for path, message in problems))
        super().__init__(
            "platform:index:Monitoring",
            name,
            monitoring_contracts(args, context),
            with_provider(opts, context.k8s_provider),
        )
        ns = namespace(f"{name}-namespace", args.namespace, parent=self, enforce="privileged")
        self.namespace = args.namespace
        self._network_policies(name, ns, args, context.vpc_cidr)
        self.crds = helm_release(
            f"{name}-crds",
            "prometheus-operator-crds",
            CRDS_CHART,
            args.namespace,
            {},
            parent=self,
            depends_on=[ns, *context.needs_nodes],
        )
        secrets = self._secrets(name, ns, args, context.cluster_name)
        self.release = helm_release(
            f"{name}-kube-prometheus-stack",
            "kube-prometheus-stack",
            KPS_CHART,
            args.namespace,
            kps_values(args, context),
            parent=self,
            depends_on=[self.crds, *secrets],
        )
        self._dashboards_and_rules(name, ns, args.namespace)
        self.prometheus_url = f"http://{KPS_FULLNAME}-prometheus.{args.namespace}.svc:9090"
        self.register_outputs(
            {
                "crds": self.crds,
                "release": self.release,
                "prometheus_url": self.prometheus_url,
                "namespace": self.namespace,
            }
        )

    def _secrets(
        self, name: str, ns: k8s.core.v1.Namespace, args: MonitoringArgs, cluster_name: str
    ) -> list[k8s.core.v1.Secret]:
        """Grafana's admin credentials and Alertmanager's configuration, as Secrets the chart references."""
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
                    cluster=cluster_name,
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
        return [grafana_secret, am_secret]

    def _dashboards_and_rules(self, name: str, ns: k8s.core.v1.Namespace, namespace_name: str) -> None:
        """The dashboards as ConfigMaps for Grafana's sidecar and the alert rules as PrometheusRules."""
        for stem, text in dashboards().items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"dashboard-{stem}",
                    namespace=namespace_name,
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
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"platform-{stem}", namespace=namespace_name),
                spec={"groups": groups},
                # The CRD must exist, and kps' admission webhook (which validates rules) must be up.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.crds, self.release]),
            )


def _pvc(size_gib: int, storage_class_name: str) -> dict[str, Any]:
    """An operator ``storageSpec``/``storage``: one encrypted RWO volume per replica."""
    return {
        "volumeClaimTemplate": {
            "spec": {
                "storageClassName": storage_class_name,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": f"{size_gib}Gi"}},
            }
        }
    }


def kps_values(args: MonitoringArgs, context: ClusterContext) -> dict[str, Any]:
    """Values of kube-prometheus-stack (keys checked against its 88.5.3 values.yaml)."""
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
        "prometheus": {"prometheusSpec": _prometheus_spec(args, context)},
        "alertmanager": {
            "enabled": True,
            "alertmanagerSpec": {
                "replicas": 2 if args.prometheus_replicas > 1 else 1,
                "useExistingSecret": True,
                "configSecret": ALERTMANAGER_CONFIG_SECRET,
                "storage": _pvc(2, context.storage_class_name),
                "resources": agent_resources("50m", "128Mi", "256Mi"),
            },
        },
        "grafana": _grafana_values(args, context.storage_class_name),
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


def _prometheus_spec(args: MonitoringArgs, context: ClusterContext) -> dict[str, Any]:
    """``prometheus.prometheusSpec``: retention by time and size, the ``cluster`` label, every selector open."""
    selectors_everywhere: Mapping[str, bool] = {
        # false = select every object in every namespace, not only those labelled release=<this release>,
        # so the DCGM exporter's, KEDA's and the models' ServiceMonitors are scraped.
        f"{kind}SelectorNilUsesHelmValues": False
        for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig")
    }
    return {
        "replicas": args.prometheus_replicas,
        "retention": args.retention,
        # Prometheus size units are base 2 (GB = GiB).
        "retentionSize": f"{args.retention_size_gib}GB",
        "walCompression": True,
        "storageSpec": _pvc(args.prometheus_storage_gib, context.storage_class_name),
        "externalLabels": {"cluster": context.cluster_name},
        "resources": agent_resources("500m", "2Gi", "8Gi"),
        "podAntiAffinity": "soft",
        **selectors_everywhere,
    }


def _grafana_values(args: MonitoringArgs, storage_class_name: str) -> dict[str, Any]:
    """The ``grafana`` subchart: admin from our Secret, ClusterIP only, one RWO volume, dashboards by label."""
    return {
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
            "storageClassName": storage_class_name,
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
    }
