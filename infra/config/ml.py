"""``drift``, ``mlflow`` and ``dvc``: the ML lifecycle services."""

from __future__ import annotations

import re

from pydantic import (
    Field,
    field_validator,
)

from infra.config._base import _ROLE_ARN, _Model, _quantity, derived
from infra.config.serving import ImageRef


# --------------------------------------------------------------------------- ML lifecycle: drift, MLflow, DVC
class DriftConfig(_Model):
    """Drift evaluation: a Prometheus Pushgateway and a CronJob per model that has a ``drift`` section."""

    namespace: str = "model-drift"
    """Namespace of the Pushgateway and the drift CronJobs."""
    image: ImageRef | None = None
    """The ``images/drift-job`` image in the platform's registry; required when a model has ``drift``."""
    cpu: str = "1"
    """CPU of a drift job (requests equal limits)."""
    memory: str = "2Gi"
    """Memory of a drift job: both samples are loaded whole, so size it to the prefixes."""
    deadline_seconds: int = Field(default=3600, ge=60, le=86400)
    """A run still going after this long is killed (``activeDeadlineSeconds``)."""
    pushgateway_storage_gib: int = Field(default=2, ge=1, le=100)
    """The Pushgateway's encrypted volume: pushed scores survive its restarts (``--persistence.file``)."""

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, v: str | None) -> str | None:
        return _quantity(v)


class MlflowConfig(_Model):
    """The MLflow tracking server and model registry: RDS PostgreSQL backend, artifacts under ``s3://<artifacts>/mlflow/``."""

    enabled: bool = True
    """Deploy MLflow (needs the ``mlflowAdminPassword`` secret)."""
    namespace: str = "mlflow"
    """Namespace of the tracking server."""
    replicas: int = Field(default=1, ge=1, le=10)
    """Server replicas; 2 or more get a PodDisruptionBudget."""
    client_namespaces: list[str] | None = derived("[ciRunners.jobNamespace] with ciRunners.enabled, else []")
    """Namespaces whose pods may call the server (port 5000); everything else is denied. Unset: the CI
    runners' job namespace (``ciRunners.jobNamespace``) where runners are enabled, else none."""
    db_instance_class: str = "db.t4g.medium"
    """RDS instance class of the backend store."""
    db_engine_version: str = "17"
    """PostgreSQL major version; RDS applies minor versions (``autoMinorVersionUpgrade``)."""
    db_storage_gib: int = Field(default=20, ge=20, le=65536)
    """Allocated gp3 storage."""
    db_max_storage_gib: int = Field(default=100, ge=20, le=65536)
    """Storage autoscaling ceiling."""
    db_multi_az: bool = False
    """A standby in a second AZ. Required in prod."""
    db_backup_retention_days: int = Field(default=7, ge=1, le=35)
    """Automated backup retention; prod needs at least 7 days."""
    db_deletion_protection: bool = True
    """RDS deletion protection. Required in prod."""

    @field_validator("db_instance_class")
    @classmethod
    def _class(cls, v: str) -> str:
        if not re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", v):
            raise ValueError("an RDS instance class such as db.t4g.medium")
        return v

    @field_validator("db_engine_version")
    @classmethod
    def _engine(cls, v: str) -> str:
        if not re.fullmatch(r"1[4-9](\.\d+)?", v):
            raise ValueError("a supported PostgreSQL version: 14 to 19, optionally with a minor (17.6)")
        return v


class DvcConfig(_Model):
    """The artifact bucket's ``dvc/`` prefix as a DVC remote, and the role that may use it."""

    enabled: bool = True
    """Export ``dvcRemote`` and create the DVC role."""
    principal_arns: list[str] = Field(default_factory=list)
    """IAM roles (data scientists' SSO roles) that may assume the DVC role, besides GitHub Actions."""

    @field_validator("principal_arns")
    @classmethod
    def _arns(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not _ROLE_ARN.match(a)]
        if bad:
            raise ValueError(f"not IAM role ARNs: {bad}")
        return v
