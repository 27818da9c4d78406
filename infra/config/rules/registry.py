"""The ``registry`` section's cross-field rules."""

from __future__ import annotations

import re

from infra.config._base import Environment
from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p
from infra.config.registry import PULL_THROUGH_UPSTREAMS


def registry_problems(cfg: PlatformConfig) -> list[Problem]:
    """Tag mutability per tier; pull-through credentials."""
    out: list[Problem] = []
    env = cfg.environment
    # registry
    if env is not Environment.DEV:
        if cfg.registry.image_tag_mutability != "IMMUTABLE":
            out.append(
                _p(
                    "registry.imageTagMutability",
                    f"{env.value} requires IMMUTABLE tags",
                    cfg.registry.image_tag_mutability,
                )
            )
        for name, repo in cfg.registry.repositories.items():
            if repo.image_tag_mutability == "MUTABLE":
                out.append(
                    _p(
                        f"registry.repositories.{name}.imageTagMutability",
                        f"{env.value} requires IMMUTABLE tags",
                        "MUTABLE",
                    )
                )
    for up, rule in cfg.registry.pull_through_cache.items():
        needs_cred = PULL_THROUGH_UPSTREAMS[up][1]
        if rule.enabled and needs_cred and not rule.credential_arn:
            out.append(
                _p(
                    f"registry.pullThroughCache.{up}.credentialArn",
                    "this upstream needs a Secrets Manager ARN whose name starts with ecr-pullthroughcache/",
                )
            )
        if rule.credential_arn and not re.match(
            r"^arn:aws(-[a-z]+)?:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache/.+", rule.credential_arn
        ):
            out.append(
                _p(
                    f"registry.pullThroughCache.{up}.credentialArn",
                    "a Secrets Manager secret ARN whose name starts with ecr-pullthroughcache/",
                    rule.credential_arn,
                )
            )
    return out
