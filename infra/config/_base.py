"""Shared pieces of the config schema: the base model, the tier, constants and value checks."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import (
    BaseModel,
    ConfigDict,
)
from pydantic.alias_generators import to_camel

from infra.eks_versions import supported_versions

PROJECT = "ai-platform"

# EKS Kubernetes versions in standard (and extended) support: the dated, sourced table in
# infra/eks_versions.py; update it there.
EKS_STANDARD_SUPPORT_VERSIONS: tuple[str, ...] = supported_versions("STANDARD")
EKS_EXTENDED_SUPPORT_VERSIONS: tuple[str, ...] = supported_versions("EXTENDED")

# CloudWatch Logs accepts only these retention values (PutRetentionPolicy API).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

REQUIRED_TAGS: tuple[str, ...] = ("owner", "cost-center")

# Keys whose values must arrive as `secure:` config. Mirrors `secret: true` in Pulumi.yaml.
SECRET_KEYS: tuple[str, ...] = (
    "grafanaAdminPassword",
    "alertmanagerSlackWebhookUrl",
    "alertmanagerPagerdutyRoutingKey",
    "githubAppPrivateKey",
    "mlflowAdminPassword",
    "gitlabRunnerToken",
    "gitlabGpuRunnerToken",
    "jenkinsAdminPassword",
    "circleciCpuResourceClassToken",
    "circleciGpuResourceClassToken",
)

# Secrets a stack may leave unset: Pulumi.yaml declares them with `default: ""` (the CLI refuses an `up`
# while a declared key without a default has no value; pkg/workspace/config.go, missingConfigurationKeys).
OPTIONAL_SECRET_KEYS: tuple[str, ...] = (
    "alertmanagerPagerdutyRoutingKey",
    # CI backends a stack may leave off (ciRunners.gitlab/jenkins/circleci); required when enabled.
    "gitlabRunnerToken",
    "gitlabGpuRunnerToken",
    "jenkinsAdminPassword",
    "circleciCpuResourceClassToken",
    "circleciGpuResourceClassToken",
)

# Any nested key whose name looks like one of these must not hold a plaintext value.
_SECRETISH = re.compile(r"(password|passwd|secret|token|private[-_]?key|webhook|api[-_]?key)", re.I)


_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ECR_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)?:iam::\d{12}:role/[\w+=,.@/-]+$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$")


def _quantity(v: str | None) -> str | None:
    """The one check behind every config field that holds a Kubernetes quantity (cpu, memory, sizes)."""
    if v is not None and not _QUANTITY.match(v):
        raise ValueError("a Kubernetes quantity such as 4, 500m, 16Gi")
    return v


_DURATION = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")


class Environment(StrEnum):
    """The deployment tier. It is data: components never branch on it."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


def _check_retention(v: int) -> int:
    if v not in LOG_RETENTION_DAYS:
        raise ValueError(f"a CloudWatch retention value: {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return v


def _check_tag(v: str | None) -> str | None:
    if v is not None and (v == "latest" or not _TAG.match(v)):
        raise ValueError("an immutable tag (not 'latest'): letters, digits, _ . -")
    return v


def _check_digest(v: str | None) -> str | None:
    if v is not None and not _DIGEST.match(v):
        raise ValueError("a digest of the form sha256:<64 hex>")
    return v
