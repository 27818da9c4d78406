"""The in-cluster observability and GPU layer, composed from the validated config.

``infra/__main__.py`` calls :func:`observability` with the cluster's provider; the tests call it
under mocks with a provider of their own, so they exercise exactly this wiring.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s
from pydantic import SecretStr

from components.gpu_stack import GpuStack, GpuStackArgs
from components.monitoring import Monitoring, MonitoringArgs
from infra.config import PlatformConfig


def _secret(value: SecretStr | None) -> pulumi.Output[str] | None:
    """A secret config value as a secret Output (None when unset)."""
    return None if value is None else pulumi.Output.secret(value.get_secret_value())


def observability(
    cfg: PlatformConfig,
    provider: k8s.Provider,
    *,
    storage_class_name: str,
    cluster_name: str,
    depends_on: Sequence[pulumi.Resource] = (),
    opts: pulumi.ResourceOptions | None = None,
) -> tuple[Monitoring, GpuStack]:
    """Monitoring first (its CRD release gates every ServiceMonitor), then the GPU stack.

    ``depends_on``: what the charts' pods need first (the EBS CSI driver for the volumes, node pools).
    """
    m, g = cfg.monitoring, cfg.gpu
    password = _secret(cfg.grafana_admin_password)
    if password is None:  # cross_field_problems() already refuses this; keep the type checker honest.
        raise ValueError("grafanaAdminPassword is required")
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            provider=provider,
            grafana_admin_password=password,
            cluster_name=cluster_name,
            cluster_cidr=cfg.network.cidr,
            storage_class_name=storage_class_name,
            prometheus_storage_gib=m.prometheus_storage_gib,
            retention=m.prometheus_retention,
            retention_size_gib=m.retention_size_gib,
            prometheus_replicas=m.prometheus_replicas,
            grafana_storage_gib=m.grafana_storage_gib,
            slack_channel=m.alerting.slack_channel,
            slack_webhook_url=_secret(cfg.alertmanager_slack_webhook_url) if m.alerting.slack_channel else None,
            pagerduty_routing_key=_secret(cfg.alertmanager_pagerduty_routing_key) if m.alerting.pagerduty else None,
            depends_on=depends_on,
        ),
        opts,
    )
    gpu = GpuStack(
        "gpu",
        GpuStackArgs(
            provider=provider,
            stack=g.stack,
            time_slicing_replicas=g.time_slicing_replicas,
            mig_strategy=g.mig_strategy,
            mig_manager=g.mig_manager,
            dcgm_memory_limit_mib=g.dcgm_memory_limit_mib,
            depends_on=[monitoring.crds],
        ),
        opts,
    )
    return monitoring, gpu
