"""The ``registry`` section's cross-field rules."""

from __future__ import annotations

import re

from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p
from infra.config.registry import PULL_THROUGH_UPSTREAMS


def registry_problems(cfg: PlatformConfig) -> list[Problem]:
    """Pull-through credentials and cache fillers. (Immutable tags per tier: the policy
    ecr-repository-immutable-tags.)"""
    out: list[Problem] = _filler_problems(cfg)
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


def _filler_problems(cfg: PlatformConfig) -> list[Problem]:
    """``pullThroughPrincipalArns`` name node roles of this account (a registry is one account's and region's),
    and only the owner of the registry settings writes the registry policy that lists them."""
    reg, out = cfg.registry, []
    if reg.pull_through_principal_arns and not reg.create_registry_settings:
        out.append(
            _p(
                "registry.pullThroughPrincipalArns",
                "only the stack that creates the registry settings (registry.createRegistrySettings) writes the "
                f"registry policy: list these in {reg.registry_settings_owned_by or 'the owner'}'s stack file",
                reg.pull_through_principal_arns,
            )
        )
    foreign = [a for a in reg.pull_through_principal_arns if a.split(":")[4] != cfg.account_id]
    if foreign:
        out.append(
            _p(
                "registry.pullThroughPrincipalArns",
                f"roles of account {cfg.account_id} only (the registry of this account and region)",
                foreign,
            )
        )
    return out
