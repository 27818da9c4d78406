"""The ``registry`` section's cross-field rules."""

from __future__ import annotations

import re

from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p
from infra.config.registry import PULL_THROUGH_UPSTREAMS


def registry_problems(cfg: PlatformConfig) -> list[Problem]:
    """Pull-through credentials. (Immutable tags per tier: the policy ecr-repository-immutable-tags.)"""
    out: list[Problem] = []
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
