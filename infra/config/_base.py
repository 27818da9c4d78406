"""Shared pieces of the config schema: the base model, the tier, constants and value checks."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from components.vocabulary import parse_quantity
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


def _quantity(v: str | None) -> str | None:
    """The one check behind every config field that holds a Kubernetes quantity (cpu, memory, sizes)."""
    if v is None:
        return v
    try:
        if parse_quantity(v) < 0:
            raise ValueError(v)
    except ValueError:
        raise ValueError("a Kubernetes quantity such as 4, 500m, 16Gi") from None
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


M = TypeVar("M", bound=BaseModel)


def derived(text: str, **constraints: Any) -> Any:
    """A field whose default depends on other settings: ``None`` in the stack file means "derive it", and the
    generated reference (blueprint/upkeep/docs.py) shows ``text`` as its default instead of ``null``."""
    return Field(default=None, json_schema_extra={"derived": text}, **constraints)


def layered(item: M, defaults: M, *, own: tuple[str, ...] = ()) -> M:
    """One keyed collection item over its collection's defaults entry (``nodePoolDefaults``,
    ``serving.modelDefaults``, ``ciRunners.scaleSetDefaults``): a key the stack file sets on the item wins,
    then a key it sets on the defaults entry, then the type's own default. ``own`` keys are the item's alone.

    The one merge path of the config: every default lives on the item type, so this only has to decide
    which of the two entries set a key.
    """
    inherited = defaults.model_fields_set - item.model_fields_set - set(own)
    return item.model_copy(update={k: getattr(defaults, k) for k in inherited})


def required_when(feature: str) -> Any:
    """A field with no safe default (a repository, a bucket, a URL of the team's own): empty until the stack
    file sets it, and a rule reports it as required while ``feature`` is on. Example values live only in
    stacks/*.yaml. The generated reference shows ``required with <feature>``."""
    return Field(default="", json_schema_extra={"derived": f"required with {feature}"})
