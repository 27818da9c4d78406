"""``registry`` and ``artifacts``: ECR repositories, pull-through caches, the artifact bucket."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from components.registry import RepositorySpec
from infra.config._base import _ECR_NAME, _ROLE_ARN, _Model, derived


# --------------------------------------------------------------------------- registry
class RepositoryConfig(_Model):
    """One ECR repository; unset fields fall back to the registry-level defaults."""

    image_tag_mutability: Literal["IMMUTABLE", "MUTABLE"] | None = derived("registry.imageTagMutability")
    """Overrides ``registry.imageTagMutability``."""
    untagged_expiry_days: int | None = derived("registry.untaggedExpiryDays", ge=1, le=3650)
    """Overrides ``registry.untaggedExpiryDays``."""
    keep_tagged_count: int | None = derived("registry.keepTaggedCount", ge=1, le=10000)
    """Overrides ``registry.keepTaggedCount``."""


class PullThroughCacheRule(_Model):
    """One pull-through cache upstream."""

    enabled: bool = True
    """Create the rule."""
    credential_arn: str | None = None
    """Secrets Manager ARN (name prefix ``ecr-pullthroughcache/``) for upstreams that need credentials."""


PULL_THROUGH_UPSTREAMS: Mapping[str, tuple[str, bool]] = {
    # prefix -> (upstream registry URL, needs credentials). ECR's supported upstreams:
    # https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html
    "ecr-public": ("public.ecr.aws", False),
    "k8s": ("registry.k8s.io", False),
    "quay": ("quay.io", False),
    "docker-hub": ("registry-1.docker.io", True),
    "ghcr": ("ghcr.io", True),
    "nvcr": ("nvcr.io", True),
}


# The registry component's own repository defaults; the registry-level settings take them from there.
_REPOSITORY = RepositorySpec()


class RegistryConfig(_Model):
    """ECR repositories, scanning and pull-through caches."""

    repositories: dict[str, RepositoryConfig] = Field(default_factory=dict)
    """Repositories keyed by name (the ECR repository name)."""
    image_tag_mutability: Literal["IMMUTABLE", "MUTABLE"] = _REPOSITORY.image_tag_mutability
    """Default tag mutability. Staging and prod require IMMUTABLE."""
    scanning: Literal["basic", "enhanced"] = "basic"
    """``basic``: scan on push per repository; ``enhanced``: registry-level Inspector scanning."""
    untagged_expiry_days: int = Field(default=_REPOSITORY.untagged_expiry_days, ge=1, le=3650)
    """Expire untagged images after this many days."""
    keep_tagged_count: int = Field(default=_REPOSITORY.keep_tagged_count, ge=1, le=10000)
    """Keep at most this many tagged images per repository."""
    pull_through_cache: dict[str, PullThroughCacheRule] = Field(
        default_factory=lambda: {k: PullThroughCacheRule() for k in ("ecr-public", "k8s", "quay")}
    )
    """Pull-through cache rules keyed by upstream: ecr-public, k8s, quay, docker-hub, ghcr, nvcr."""
    create_registry_settings: bool = True
    """Create the registry-level ECR settings of this account and region: the registry scanning configuration,
    the registry policy, the pull-through cache rules and their repository creation templates. ECR holds one of
    each per account and region, so one stack there owns them; the others set false (their repositories then scan
    on push, and ``pullThroughCache`` lists the owner's rules they use). The preview refuses two owners."""
    registry_settings_owned_by: str | None = None
    """With ``createRegistrySettings: false``: the stack in the same account and region that creates them."""
    pull_through_principal_arns: list[str] = Field(default_factory=list)
    """On the owner of the registry settings: the node roles of the other stacks of the account and region (their
    ``nodeRoleArn`` output and, where Karpenter runs, ``karpenterNodeRoleArn``; known after their first ``up``) that may fill the pull-through caches. Until a stack is
    listed, its nodes pull only images already in the caches."""

    def repository_specs(self) -> dict[str, RepositorySpec]:
        """Each repository with the registry-level settings applied where it sets none, as
        :class:`~components.registry.Registry` takes them."""
        return {
            name: RepositorySpec(
                image_tag_mutability=repo.image_tag_mutability or self.image_tag_mutability,
                untagged_expiry_days=repo.untagged_expiry_days or self.untagged_expiry_days,
                keep_tagged_count=repo.keep_tagged_count or self.keep_tagged_count,
            )
            for name, repo in self.repositories.items()
        }

    @field_validator("repositories")
    @classmethod
    def _names(cls, v: dict[str, RepositoryConfig]) -> dict[str, RepositoryConfig]:
        bad = [k for k in v if not (2 <= len(k) <= 256 and _ECR_NAME.match(k))]
        if bad:
            raise ValueError(f"invalid ECR repository name(s) {bad}: use lowercase letters, digits, . _ - and /")
        return v

    @field_validator("pull_through_principal_arns")
    @classmethod
    def _filler_arns(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not _ROLE_ARN.match(a)]
        if bad:
            raise ValueError(f"not IAM role ARNs: {bad}")
        return v

    @field_validator("pull_through_cache")
    @classmethod
    def _upstreams(cls, v: dict[str, PullThroughCacheRule]) -> dict[str, PullThroughCacheRule]:
        unknown = sorted(set(v) - set(PULL_THROUGH_UPSTREAMS))
        if unknown:
            raise ValueError(f"unknown upstream(s) {unknown}; allowed: {', '.join(PULL_THROUGH_UPSTREAMS)}")
        return v


class ArtifactsConfig(_Model):
    """The S3 bucket for model weights and dataset versions (also a DVC remote)."""

    noncurrent_version_expiry_days: int = Field(default=90, ge=1, le=3650)
    """Delete noncurrent object versions after this many days."""
    abort_incomplete_upload_days: int = Field(default=7, ge=1, le=365)
    """Abort incomplete multipart uploads after this many days."""
    personal_data_expiry_days: dict[str, int] = Field(default_factory=dict)
    """Retention by data class: key prefix that can hold personal data (e.g. ``drift/current/``, captured
    inference inputs for drift evaluation) -> delete its objects, and their old versions, after this many days."""

    @field_validator("personal_data_expiry_days")
    @classmethod
    def _personal_data(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [p for p in v if not re.fullmatch(r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/", p)]
        if bad:
            raise ValueError(f"key prefixes ending in '/' without a leading '/' (e.g. drift/current/): {bad}")
        out_of_range = [p for p, d in v.items() if not 1 <= d <= 3650]
        if out_of_range:
            raise ValueError(f"expiry days must be 1..3650 for {out_of_range}")
        return v
