"""``gpu`` and ``monitoring``: the GPU software stack, Prometheus, Grafana, Alertmanager."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from infra.config._base import _DURATION, _Model, derived


# --------------------------------------------------------------------------- GPU stack + monitoring
class GpuConfig(_Model):
    """The in-cluster GPU software stack."""

    stack: Literal["device-plugin", "gpu-operator"] = "device-plugin"
    """``device-plugin``: NVIDIA k8s-device-plugin (the EKS NVIDIA AMIs ship the driver); ``gpu-operator``: driver and toolkit off."""
    time_slicing_replicas: int | None = Field(default=None, ge=2, le=48)
    """Share each GPU among this many pods (time-slicing); unset disables sharing."""
    mig_strategy: Literal["none", "single", "mixed"] = "none"
    """MIG strategy advertised by the device plugin."""
    mig_manager: bool = False
    """Run the GPU operator's MIG manager (gpu-operator stack only)."""
    dcgm_memory_limit_mib: int = Field(default=1024, ge=512, le=16384)
    """DCGM exporter memory limit; 512Mi OOMs on 8-GPU nodes (pytorch/ci-infra#1011)."""


class AlertingConfig(_Model):
    """Alertmanager receivers. Their credentials are secret config keys."""

    slack_channel: str | None = None
    """Slack channel for alerts; needs the ``alertmanagerSlackWebhookUrl`` secret."""
    pagerduty: bool = False
    """Page critical alerts through PagerDuty; needs the ``alertmanagerPagerdutyRoutingKey`` secret."""


class MonitoringConfig(_Model):
    """kube-prometheus-stack, Grafana dashboards and alert rules."""

    prometheus_storage_gib: int = Field(default=100, ge=10, le=16384)
    """Size of Prometheus' encrypted gp3 volume."""
    prometheus_retention: str = "15d"
    """Time retention (Prometheus duration, e.g. ``15d``)."""
    prometheus_retention_size_gib: int | None = derived("80% of prometheusStorageGib", ge=1)
    """Size retention; defaults to 80% of the volume so the WAL cannot fill it."""
    prometheus_replicas: int = Field(default=1, ge=1, le=3)
    """Prometheus replicas."""
    grafana_storage_gib: int = Field(default=10, ge=1, le=1024)
    """Size of Grafana's volume."""
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    """Alertmanager receivers."""

    @field_validator("prometheus_retention")
    @classmethod
    def _duration(cls, v: str) -> str:
        if not _DURATION.match(v):
            raise ValueError("a Prometheus duration such as 12h, 15d or 2w")
        return v

    @property
    def retention_size_gib(self) -> int:
        """The effective size retention."""
        return self.prometheus_retention_size_gib or max(1, self.prometheus_storage_gib * 8 // 10)
