"""The ``cluster`` section's cross-field rules."""

from __future__ import annotations

from components.cluster import endpoint_problems
from infra.config._base import EKS_STANDARD_SUPPORT_VERSIONS
from infra.config.names import _DEPLOY_ROLE, deploy_role_name
from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p, component_problems


def cluster_problems(cfg: PlatformConfig) -> list[Problem]:
    """The public endpoint's allowlist, the support window, the admitted deploy roles. (Which tiers may have a
    public endpoint at all: the policy eks-cluster-public-endpoint-restricted.)"""
    out: list[Problem] = []
    c = cfg.cluster
    out += component_problems("cluster", endpoint_problems(c.endpoint_public_access, c.public_access_cidrs))
    if c.support_type == "STANDARD" and c.version not in EKS_STANDARD_SUPPORT_VERSIONS:
        out.append(
            _p(
                "cluster.version",
                f"out of EKS standard support; allowed: {', '.join(EKS_STANDARD_SUPPORT_VERSIONS)} "
                "(or cluster.supportType: EXTENDED to stay on it at the extended-support price)",
                c.version,
            )
        )
    for i, arn in enumerate(cfg.cluster.admin_role_arns):
        match = _DEPLOY_ROLE.match(arn)
        # Only with the stack's name (the program and the CLIs pass it): the tier is not the role's suffix.
        if match and cfg._stack is not None and match.group(1) != cfg.stack:
            out.append(
                _p(
                    f"cluster.adminRoleArns[{i}]",
                    f"another environment's deploy role; the {cfg.stack} cluster admits only {deploy_role_name(cfg.stack)}",
                    arn,
                )
            )
    return out
