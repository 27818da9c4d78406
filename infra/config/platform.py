"""The root model: every section of the stack file."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
)

from components.ci_runners import RunnerScaleSet
from components.model_spec import (
    ModelSettings,
)
from infra import input_rules
from infra.config._base import PROJECT, REQUIRED_TAGS, Environment, _Model, layered
from infra.config.audit import AuditConfig
from infra.config.ci import CiRunnersConfig, ImagesConfig
from infra.config.cluster import ClusterConfig
from infra.config.delivery import DeliveryConfig
from infra.config.ml import DriftConfig, DvcConfig, MlflowConfig
from infra.config.monitoring import GpuConfig, MonitoringConfig
from infra.config.network import NetworkConfig
from infra.config.node_pools import NodePoolSettings, NodePoolSpec, resolve_pool
from infra.config.registry import ArtifactsConfig, RegistryConfig
from infra.config.serving import ServingConfig, resolve_model


# --------------------------------------------------------------------------- root
class PlatformConfig(_Model):
    """The whole stack configuration."""

    environment: Environment
    """Deployment tier: dev, staging or prod."""
    region: str
    """AWS region."""
    _stack: str | None = PrivateAttr(default=None)
    _views: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def stack(self) -> str:
        """The stack's name: the GitHub Environment and the suffix of per-stack role names. The tier only
        when the config was parsed without a stack file (tests' literal configs)."""
        return self._stack or self.environment.value

    account_id: str
    """The AWS account this stack may deploy to (pulumi-aws ``allowedAccountIds``)."""
    tags: dict[str, str]
    """Tags for every taggable resource; must include owner and cost-center."""
    protect_stateful_resources: bool = True
    """Protect registries, keys, buckets and log groups from deletion (``protect`` + ``retainOnDelete``)."""
    network: NetworkConfig
    """VPC settings."""
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    """ECR settings."""
    artifacts: ArtifactsConfig = Field(default_factory=ArtifactsConfig)
    """Artifact bucket settings."""
    cluster: ClusterConfig
    """EKS control plane settings."""
    node_pool_defaults: NodePoolSpec = Field(default_factory=NodePoolSpec)
    """Shared node pool defaults."""
    node_pools: dict[str, NodePoolSpec]
    """Node pools keyed by name; include a CPU ``system`` pool."""
    node_provisioner: Literal["managed-node-groups", "karpenter"] = "managed-node-groups"
    """Who provisions GPU pools: managed node groups scaled by the cluster-autoscaler, or Karpenter
    NodePools (the system pool always stays a managed node group; ADR 0012)."""
    gpu: GpuConfig = Field(default_factory=GpuConfig)
    """GPU software stack."""
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    """Monitoring settings."""
    serving: ServingConfig = Field(default_factory=ServingConfig)
    """Model serving settings."""
    ci_runners: CiRunnersConfig = Field(default_factory=CiRunnersConfig)
    """CI runner settings."""
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    """Image build settings."""
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    """GitHub Actions deploy identities (OIDC provider, preview role, this environment's deploy role)."""
    drift: DriftConfig = Field(default_factory=DriftConfig)
    """Drift evaluation (Pushgateway, CronJobs)."""
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    """MLflow tracking server and model registry."""
    dvc: DvcConfig = Field(default_factory=DvcConfig)
    """DVC remote on the artifact bucket."""
    audit: AuditConfig = Field(default_factory=AuditConfig)
    """Audit trail: log archive, CloudTrail, S3 access logs (docs/governance.md)."""
    grafana_admin_password: SecretStr | None = None
    """Grafana admin password (secret)."""
    alertmanager_slack_webhook_url: SecretStr | None = None
    """Slack incoming-webhook URL for Alertmanager (secret)."""
    alertmanager_pagerduty_routing_key: SecretStr | None = None
    """PagerDuty Events v2 routing key (secret)."""
    github_app_private_key: SecretStr | None = None
    """GitHub App private key (PEM) for ARC (secret)."""
    mlflow_admin_password: SecretStr | None = None
    """Password of MLflow's ``admin`` user (basic-auth app) (secret)."""
    gitlab_runner_token: SecretStr | None = None
    """Authentication token (``glrt-``) of the GitLab CPU runner (secret)."""
    gitlab_gpu_runner_token: SecretStr | None = None
    """Authentication token of the GitLab runner tagged ``gpu`` (secret)."""
    jenkins_admin_password: SecretStr | None = None
    """Password of the Jenkins ``admin`` user (secret)."""
    circleci_cpu_resource_class_token: SecretStr | None = None
    """Token of the CircleCI CPU resource class (secret)."""
    circleci_gpu_resource_class_token: SecretStr | None = None
    """Token of the CircleCI GPU resource class (secret)."""

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        problem = input_rules.region_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("account_id")
    @classmethod
    def _account(cls, v: str) -> str:
        if not re.fullmatch(r"\d{12}", v):
            raise ValueError("a 12-digit AWS account ID, quoted as a string")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        missing = [t for t in REQUIRED_TAGS if not v.get(t)]
        if missing:
            raise ValueError(f"required tag(s) missing: {', '.join(missing)}")
        return v  # length, characters and count: input_rules.aws_tag_findings

    # ------------------------------------------------------------------ resolved views
    @property
    def stack_tags(self) -> dict[str, str]:
        """Tags for every taggable resource: the configured ones plus project and environment."""
        return {**self.tags, "project": PROJECT, "environment": self.environment.value, "managed-by": "pulumi"}

    def resolved_node_pools(self) -> dict[str, NodePoolSettings]:
        """Node pools with ``nodePoolDefaults`` and the derived defaults applied, in config order."""
        if "pools" not in self._views:
            karpenter = self.node_provisioner == "karpenter"
            self._views["pools"] = {
                name: resolve_pool(name, spec, self.node_pool_defaults, self.network, karpenter)
                for name, spec in self.node_pools.items()
            }
        return dict(self._views["pools"])

    def system_pool(self) -> NodePoolSettings:
        """The first CPU pool that never scales to zero: system add-ons and controllers run there."""
        return next(p for p in self.resolved_node_pools().values() if not p.gpu and p.min_size >= 1)

    def mlflow_client_namespaces(self) -> list[str]:
        """The namespaces admitted to MLflow: ``mlflow.clientNamespaces``, or the CI job namespace where runners run."""
        if self.mlflow.client_namespaces is not None:
            return list(self.mlflow.client_namespaces)
        return [self.ci_runners.job_namespace] if self.ci_runners.enabled else []

    def resolved_models(self) -> dict[str, ModelSettings]:
        """Models with ``serving.modelDefaults`` and the derived defaults applied."""
        if "models" not in self._views:
            d = self.serving.model_defaults
            self._views["models"] = {n: resolve_model(n, m, d) for n, m in self.serving.models.items()}
        return dict(self._views["models"])

    def runner_scale_sets(self) -> dict[str, RunnerScaleSet]:
        """Scale sets with ``ciRunners.scaleSetDefaults`` applied, as :class:`~components.ci_runners.CiRunners`
        takes them."""
        d = self.ci_runners.scale_set_defaults
        return {n: RunnerScaleSet(**layered(s, d).model_dump()) for n, s in self.ci_runners.scale_sets.items()}
