"""The Monitoring component under mocks: ordering, retention, secrets, exposure, resources."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from blueprint.preview.plan import is_secret
from components.monitoring import (
    DASHBOARDS_DIR,
    DEFAULT_RULE_GROUPS,
    EKS_SCRAPE_JOBS,
    KPS_CHART,
    RULES_DIR,
    Monitoring,
    MonitoringArgs,
    default_rules,
)
from infra.config import GPU_TAINT_KEY
from tests.components.harness import stand_in_context
from tests.conftest import STACKS
from tests.k8s_layer import HELM, fake_provider, k8s_plan, release, run_program, stack_config, walk

SECRET = "kubernetes:core/v1:Secret"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
KPS = "kube-prometheus-stack"
CRDS = "prometheus-operator-crds"


def _gib(quantity: str) -> float:
    m = re.fullmatch(r"(\d+)(Gi|GB)", quantity)
    assert m, quantity
    return float(m.group(1))  # Prometheus' GB is base 2, like Gi


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_crds_release_precedes_everything_that_uses_them(stack: str) -> None:
    plan = k8s_plan(stack)
    crds, kps = release(plan, CRDS), release(plan, KPS)
    assert crds.urn in kps.dependencies
    # kps must not ship its own (never-upgraded) copy of the CRDs.
    assert kps.inputs["values"]["crds"]["enabled"] is False
    rules = plan.by_type(RULE)
    assert rules
    for r in rules:
        assert crds.urn in r.dependencies
        assert kps.urn in r.dependencies


def test_helm_timeouts_are_at_least_15_minutes(stack: str) -> None:
    releases = k8s_plan(stack).by_type(HELM)
    assert {r.inputs["name"] for r in releases} >= {CRDS, KPS}
    for r in releases:
        assert r.inputs["timeout"] >= 900, r.inputs["name"]


def test_prometheus_retention_is_bounded_by_size_below_the_volume(stack: str) -> None:
    spec = release(k8s_plan(stack), KPS).inputs["values"]["prometheus"]["prometheusSpec"]
    m = stack_config(stack).monitoring
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3-encrypted"
    volume = _gib(claim["resources"]["requests"]["storage"])
    assert volume == m.prometheus_storage_gib
    assert spec["retention"] == m.prometheus_retention
    assert 0 < _gib(spec["retentionSize"]) < volume


def test_retention_size_not_below_the_volume_is_refused() -> None:
    def program() -> None:
        Monitoring(
            "monitoring",
            MonitoringArgs(grafana_admin_password="x", prometheus_storage_gib=50, retention_size_gib=50),
            stand_in_context(fake_provider()),
        )

    with pytest.raises(Exception, match="retention_size_gib"):
        run_program(program)


def test_grafana_password_comes_from_a_secret_never_the_chart_default(stack: str) -> None:
    plan = k8s_plan(stack)
    values = release(plan, KPS).inputs["values"]
    grafana = values["grafana"]
    assert "adminPassword" not in grafana
    assert "prom-operator" not in json.dumps(values)
    (secret,) = [s for s in plan.by_type(SECRET) if s.inputs["metadata"]["name"] == grafana["admin"]["existingSecret"]]
    assert secret.inputs["metadata"]["namespace"] == release(plan, KPS).inputs["namespace"]
    # The whole stringData reaches the provider as a secret (never in plaintext state or previews).
    assert is_secret(secret.inputs["stringData"])
    assert secret.inputs["stringData"]["value"][grafana["admin"]["passwordKey"]]
    assert secret.urn in release(plan, KPS).dependencies


def test_grafana_is_not_exposed(stack: str) -> None:
    grafana = release(k8s_plan(stack), KPS).inputs["values"]["grafana"]
    assert grafana["service"]["type"] == "ClusterIP"
    assert grafana["ingress"]["enabled"] is False


def test_alertmanager_config_is_a_secret_with_the_configured_receivers(stack: str) -> None:
    plan = k8s_plan(stack)
    spec = release(plan, KPS).inputs["values"]["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True
    (secret,) = [s for s in plan.by_type(SECRET) if s.inputs["metadata"]["name"] == spec["configSecret"]]
    assert is_secret(secret.inputs["stringData"])
    config = yaml.safe_load(secret.inputs["stringData"]["value"]["alertmanager.yaml"])
    receivers = {r["name"] for r in config["receivers"]}
    alerting = stack_config(stack).monitoring.alerting
    assert ("slack" in receivers) == bool(alerting.slack_channel)
    assert ("pagerduty" in receivers) == alerting.pagerduty
    # No receiver credential leaks into the (reviewable, non-secret) Helm values.
    assert "hooks.slack.com" not in json.dumps(release(plan, KPS).inputs["values"])


def test_selectors_pick_up_other_releases_monitors_and_rules(stack: str) -> None:
    spec = release(k8s_plan(stack), KPS).inputs["values"]["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False


def _resource_blocks(values: dict[str, Any]) -> dict[str, Any]:
    return {
        p: v
        for p, v in walk(values)
        if p.endswith("resources") and isinstance(v, dict) and "storage" not in v.get("requests", {"storage": 0})
    }


def test_every_component_has_requests_and_a_memory_limit(stack: str) -> None:
    values = release(k8s_plan(stack), KPS).inputs["values"]
    blocks = _resource_blocks(values)
    for path in (
        "prometheus.prometheusSpec.resources",
        "alertmanager.alertmanagerSpec.resources",
        "prometheusOperator.resources",
        "prometheusOperator.prometheusConfigReloader.resources",
        "grafana.resources",
        "grafana.sidecar.resources",
        "kube-state-metrics.resources",
        "prometheus-node-exporter.resources",
    ):
        assert path in blocks, path
    for path, block in blocks.items():
        assert block["requests"]["cpu"], path
        assert block["requests"]["memory"], path
        assert block["limits"]["memory"], path


def test_dashboards_and_rules_ship_as_code(stack: str) -> None:
    plan = k8s_plan(stack)
    sidecar = release(plan, KPS).inputs["values"]["grafana"]["sidecar"]["dashboards"]
    maps = [
        c
        for c in plan.by_type(CONFIGMAP)
        if (c.inputs["metadata"].get("labels") or {}).get(sidecar["label"]) == sidecar["labelValue"]
    ]
    assert sorted(k for c in maps for k in c.inputs["data"]) == sorted(p.name for p in DASHBOARDS_DIR.glob("*.json"))
    rules = {r.inputs["metadata"]["name"]: r.inputs["spec"]["groups"] for r in plan.by_type(RULE)}
    for path in RULES_DIR.glob("*.yaml"):
        assert rules[f"platform-{path.stem}"] == yaml.safe_load(path.read_text())["groups"]


def test_prometheus_url_points_at_the_prometheus_service() -> None:
    captured: dict[str, Any] = {}

    def program() -> None:
        m = Monitoring("monitoring", MonitoringArgs(grafana_admin_password="x"), stand_in_context(fake_provider()))
        captured.update(url=m.prometheus_url, crds=m.crds, namespace=m.namespace)

    plan = run_program(program)
    values = release(plan, KPS).inputs["values"]
    # kps truncates its fullname to 26 characters; the URL is only right below that.
    assert len(values["fullnameOverride"]) <= 26
    assert captured["url"] == f"http://{values['fullnameOverride']}-prometheus.monitoring.svc:9090"
    assert captured["namespace"] == "monitoring"
    assert captured["crds"] is not None


def test_node_exporter_runs_on_tainted_gpu_nodes_too(stack: str) -> None:
    tolerations = release(k8s_plan(stack), KPS).inputs["values"]["prometheus-node-exporter"]["tolerations"]
    assert any(
        t.get("operator") == "Exists" and t.get("key") in (None, GPU_TAINT_KEY) and t.get("effect") == "NoSchedule"
        for t in tolerations
    )


# kube-prometheus-stack 88.5.3 values.yaml `defaultRules.rules`: every key the chart has (in its order).
KPS_88_5_3_DEFAULT_RULE_KEYS = [
    "alertmanager",
    "etcd",
    "configReloaders",
    "general",
    "k8sContainerCpuUsageSecondsTotal",
    "k8sContainerMemoryCache",
    "k8sContainerMemoryRss",
    "k8sContainerMemorySwap",
    "k8sContainerResource",
    "k8sContainerMemoryWorkingSetBytes",
    "k8sPodOwner",
    "kubeApiserverAvailability",
    "kubeApiserverBurnrate",
    "kubeApiserverHistogram",
    "kubeApiserverSlos",
    "kubeControllerManager",
    "kubelet",
    "kubeProxy",
    "kubePrometheusGeneral",
    "kubePrometheusNodeRecording",
    "kubernetesApps",
    "kubernetesResources",
    "kubernetesStorage",
    "kubernetesSystem",
    "kubeSchedulerAlerting",
    "kubeSchedulerRecording",
    "kubeStateMetrics",
    "network",
    "node",
    "nodeExporterAlerting",
    "nodeExporterRecording",
    "prometheus",
    "prometheusOperator",
    "windows",
]


def test_exporters_eks_hides_are_off_with_their_rules(stack: str) -> None:
    """Regression (issue 11, defect 4): the chart's defaults scrape the controller manager, scheduler, etcd and
    kube-proxy, which EKS does not expose; KubeControllerManagerDown/KubeSchedulerDown (critical) fired forever."""
    values = release(k8s_plan(stack), KPS).inputs["values"]
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert values[component] == {"enabled": False}, component
    rules = values["defaultRules"]["rules"]
    for key in ("kubeControllerManager", "kubeSchedulerAlerting", "kubeSchedulerRecording", "etcd", "kubeProxy"):
        assert rules[key] is False, key
    # Every rule group left on reads only scrape jobs that exist on EKS.
    for key, on in rules.items():
        if on:
            assert set(DEFAULT_RULE_GROUPS[key]) <= EKS_SCRAPE_JOBS, key
    assert rules["kubeApiserverAvailability"] is True
    assert rules["nodeExporterAlerting"] is True


def test_every_default_rule_group_of_the_pinned_chart_is_classified() -> None:
    assert KPS_CHART.version == "88.5.3", "re-read defaultRules.rules in the new chart's values.yaml"
    assert list(DEFAULT_RULE_GROUPS) == KPS_88_5_3_DEFAULT_RULE_KEYS
    assert set(default_rules()) == set(KPS_88_5_3_DEFAULT_RULE_KEYS)
