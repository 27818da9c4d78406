"""The stack configuration: one typed, frozen, validated model, loaded once per run.

Every key the program reads is declared in ``Pulumi.yaml`` and parsed here into
:class:`PlatformConfig`. Components never read ``pulumi.Config``; ``infra/__main__.py``
hands each one its own section.

Layout: one schema module per section (``network``, ``registry``, ``cluster``, ``node_pools``,
``monitoring``, ``serving``, ``ci``, ``delivery``, ``ml``, ``audit``; pydantic models with their
defaults on the types), ``platform`` (the root model), ``rules/<section>`` (cross-field rules beside
their section), ``names`` (derived role and project names) and ``loader`` (stack file -> model,
the error formatting).

Validation reports every problem at once, each with the stack file, the key path
(``ai-platform:nodePools.gpu-a10g.maxSize``), the bad value and what is allowed, and raises
:class:`ConfigError` (a ``pulumi.RunError``, so the language host prints the message without a
traceback) before any resource is registered.
"""

from __future__ import annotations

from components.vocabulary import (
    CPU_AMI_TYPES,
    GPU_AMI_TYPES,
    GPU_FAMILIES,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LABEL_ACCELERATOR,
    LABEL_AMI_FAMILY,
    LABEL_GPU_MODEL,
    LABEL_POOL,
    RUNNER_SERVICE_ACCOUNT,
    AmiType,
    GpuInstanceFamily,
    gpu_facts,
)
from infra.config._base import (
    EKS_EXTENDED_SUPPORT_VERSIONS,
    EKS_STANDARD_SUPPORT_VERSIONS,
    LOG_RETENTION_DAYS,
    OPTIONAL_SECRET_KEYS,
    PROJECT,
    REQUIRED_TAGS,
    SECRET_KEYS,
    Environment,
)
from infra.config.audit import AuditConfig, ObjectLockConfig
from infra.config.ci import (
    CiJobProfile,
    CircleciConfig,
    CiRunnersConfig,
    GitlabRunnerConfig,
    ImagesConfig,
    JenkinsConfig,
    RunnerScaleSetSpec,
)
from infra.config.cluster import EKS_ADDONS, ClusterConfig
from infra.config.delivery import CODEBUILD_COMPUTE_TYPES, DeliveryConfig, DeployRunnerConfig
from infra.config.loader import SECTIONS, ConfigError, decode_flat, load_config, parse_config, problems_from_validation
from infra.config.ml import DriftConfig, DvcConfig, MlflowConfig
from infra.config.monitoring import AlertingConfig, GpuConfig, MonitoringConfig
from infra.config.names import (
    admitted_role_arns,
    boundary_policy_name,
    deploy_role_arn,
    deploy_role_name,
    iam_path,
    preview_environment_name,
    preview_role_name,
    runner_project_name,
)
from infra.config.network import NetworkConfig
from infra.config.node_pools import KarpenterPool, KarpenterPoolSpec, NodePoolSettings, NodePoolSpec
from infra.config.platform import PlatformConfig
from infra.config.problems import Problem
from infra.config.registry import (
    PULL_THROUGH_UPSTREAMS,
    ArtifactsConfig,
    PullThroughCacheRule,
    RegistryConfig,
    RepositoryConfig,
)
from infra.config.rules import cross_field_problems
from infra.config.serving import (
    Autoscaling,
    CachedImage,
    Canary,
    DriftSpec,
    ImageRef,
    IngressConfig,
    Lineage,
    Model,
    ModelSource,
    ModelSpec,
    ServingConfig,
    WeightsSpec,
)

__all__ = [
    "CODEBUILD_COMPUTE_TYPES",
    "CPU_AMI_TYPES",
    "EKS_ADDONS",
    "EKS_EXTENDED_SUPPORT_VERSIONS",
    "EKS_STANDARD_SUPPORT_VERSIONS",
    "GPU_AMI_TYPES",
    "GPU_FAMILIES",
    "GPU_RESOURCE",
    "GPU_TAINT_KEY",
    "GPU_TAINT_VALUE",
    "LABEL_ACCELERATOR",
    "LABEL_AMI_FAMILY",
    "LABEL_GPU_MODEL",
    "LABEL_POOL",
    "LOG_RETENTION_DAYS",
    "OPTIONAL_SECRET_KEYS",
    "PROJECT",
    "PULL_THROUGH_UPSTREAMS",
    "REQUIRED_TAGS",
    "RUNNER_SERVICE_ACCOUNT",
    "SECRET_KEYS",
    "SECTIONS",
    "AlertingConfig",
    "AmiType",
    "ArtifactsConfig",
    "AuditConfig",
    "Autoscaling",
    "CachedImage",
    "Canary",
    "CiJobProfile",
    "CiRunnersConfig",
    "CircleciConfig",
    "ClusterConfig",
    "ConfigError",
    "DeliveryConfig",
    "DeployRunnerConfig",
    "DriftConfig",
    "DriftSpec",
    "DvcConfig",
    "Environment",
    "GitlabRunnerConfig",
    "GpuConfig",
    "GpuInstanceFamily",
    "ImageRef",
    "ImagesConfig",
    "IngressConfig",
    "JenkinsConfig",
    "KarpenterPool",
    "KarpenterPoolSpec",
    "Lineage",
    "MlflowConfig",
    "Model",
    "ModelSource",
    "ModelSpec",
    "MonitoringConfig",
    "NetworkConfig",
    "NodePoolSettings",
    "NodePoolSpec",
    "ObjectLockConfig",
    "PlatformConfig",
    "Problem",
    "PullThroughCacheRule",
    "RegistryConfig",
    "RepositoryConfig",
    "RunnerScaleSetSpec",
    "ServingConfig",
    "WeightsSpec",
    "admitted_role_arns",
    "boundary_policy_name",
    "cross_field_problems",
    "decode_flat",
    "deploy_role_arn",
    "deploy_role_name",
    "gpu_facts",
    "iam_path",
    "load_config",
    "parse_config",
    "preview_environment_name",
    "preview_role_name",
    "problems_from_validation",
    "runner_project_name",
]
