"""The root model: every section of the stack file."""

from __future__ import annotations

import re
from dataclasses import asdict
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
from infra.config._base import PROJECT, REQUIRED_TAGS, Environment, _Model
from infra.config.audit import AuditConfig
from infra.config.ci import CiRunnersConfig, ImagesConfig, RunnerScaleSetSpec
from infra.config.cluster import ClusterConfig
from infra.config.delivery import DeliveryConfig
from infra.config.ml import DriftConfig, DvcConfig, MlflowConfig
from infra.config.monitoring import GpuConfig, MonitoringConfig
from infra.config.network import NetworkConfig
from infra.config.node_pools import NodePool, NodePoolSpec, _resolve_pool
from infra.config.registry import ArtifactsConfig, RegistryConfig
from infra.config.serving import ServingConfig, _resolve_model


# --------------------------------------------------------------------------- root
class PlatformConfig(_Model):
    """The whole stack configuration."""

    environment: Environment
    """Deployment tier: dev, staging or prod."""
    region: str
    """AWS region."""
    _stack: str | None = PrivateAttr(default=None)

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

    def resolved_node_pools(self) -> dict[str, NodePool]:
        """Node pools with ``nodePoolDefaults`` applied, in config order."""
        return {
            name: _resolve_pool(name, spec, self.node_pool_defaults, self.network, self.node_provisioner == "karpenter")
            for name, spec in self.node_pools.items()
        }

    def system_pool(self) -> NodePool:
        """The first CPU pool that never scales to zero: system add-ons and controllers run there."""
        return next(p for p in self.resolved_node_pools().values() if not p.gpu and p.min_size >= 1)

    def mlflow_client_namespaces(self) -> list[str]:
        """The namespaces admitted to MLflow: ``mlflow.clientNamespaces``, or the CI job namespace where runners run."""
        if self.mlflow.client_namespaces is not None:
            return list(self.mlflow.client_namespaces)
        return [self.ci_runners.job_namespace] if self.ci_runners.enabled else []

    def resolved_models(self) -> dict[str, ModelSettings]:
        """Models with ``serving.modelDefaults`` applied."""
        return {n: _resolve_model(n, m, self.serving.model_defaults) for n, m in self.serving.models.items()}

    def runner_scale_sets(self) -> dict[str, RunnerScaleSet]:
        """The resolved scale sets as :class:`~components.ci_runners.CiRunners` takes them."""
        return {n: RunnerScaleSet(**s.model_dump(exclude_none=True)) for n, s in self.resolved_scale_sets().items()}

    def resolved_scale_sets(self) -> dict[str, RunnerScaleSetSpec]:
        """Runner scale sets with ``ciRunners.scaleSetDefaults`` applied (every field set)."""
        # The platform's defaults live on the component's type (components/ci_runners.py).
        base = RunnerScaleSetSpec(**asdict(RunnerScaleSet()))
        out = {}
        for name, spec in self.ci_runners.scale_sets.items():
            merged = _merge(_merge(base, self.ci_runners.scale_set_defaults), spec)
            out[name] = merged
        return out


def _merge(base: _Model, over: _Model) -> Any:
    values = {k: v for k, v in over if v is not None}
    return base.model_copy(update=values)
