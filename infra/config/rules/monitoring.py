"""The ``gpu`` and ``monitoring`` sections' cross-field rules."""

from __future__ import annotations

from components.monitoring import retention_problems
from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p, component_problems


def gpu_problems(cfg: PlatformConfig) -> list[Problem]:
    """GPU sharing and the MIG manager."""
    out: list[Problem] = []
    g = cfg.gpu
    if g.mig_manager and g.stack != "gpu-operator":
        out.append(_p("gpu.migManager", "the MIG manager needs gpu.stack: gpu-operator", True))
    if g.time_slicing_replicas and g.mig_strategy != "none":
        out.append(
            _p(
                "gpu.timeSlicingReplicas",
                "time-slicing and MIG cannot be combined; set gpu.migStrategy: none",
                g.time_slicing_replicas,
            )
        )
    return out


def monitoring_problems(cfg: PlatformConfig) -> list[Problem]:
    """Prometheus retention and the receivers' secrets."""
    out: list[Problem] = []
    m = cfg.monitoring
    found = retention_problems(m.retention_size_gib, m.prometheus_storage_gib)
    out += component_problems("monitoring", found, {"retention_size_gib": "prometheusRetentionSizeGib"})
    if cfg.grafana_admin_password is None:
        out.append(
            _p("grafanaAdminPassword", "required: set it with `pulumi config set --secret grafanaAdminPassword ...`")
        )
    if m.alerting.slack_channel and cfg.alertmanager_slack_webhook_url is None:
        out.append(_p("alertmanagerSlackWebhookUrl", "monitoring.alerting.slackChannel needs this secret"))
    if m.alerting.pagerduty and cfg.alertmanager_pagerduty_routing_key is None:
        out.append(_p("alertmanagerPagerdutyRoutingKey", "monitoring.alerting.pagerduty needs this secret"))
    return out
