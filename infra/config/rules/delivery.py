"""The ``delivery`` section's cross-field rules."""

from __future__ import annotations

from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p, missing_required


def delivery_problems(cfg: PlatformConfig) -> list[Problem]:
    """The repository and state bucket the deploy identities trust and read have no default."""
    return missing_required("delivery", cfg.delivery) if cfg.delivery.enabled else []


def deploy_path_problems(cfg: PlatformConfig) -> list[Problem]:
    """CI must reach the API endpoint: GitHub-hosted runners only reach a public endpoint open to 0.0.0.0/0."""
    if not cfg.delivery.enabled:
        return []
    runner = cfg.delivery.deploy_runner
    open_to_all = cfg.cluster.endpoint_public_access and "0.0.0.0/0" in cfg.cluster.public_access_cidrs
    if not runner.enabled:
        if open_to_all:
            return []
        return [
            _p(
                "delivery.deployRunner.enabled",
                "CI jobs cannot reach this cluster's API endpoint (private, or public only to an allowlist GitHub-hosted "
                "runners are not in); enable the in-VPC deploy runner (ADR 0008)",
                False,
            )
        ]
    if runner.connection_arn is None:
        return [
            _p(
                "delivery.deployRunner.connectionArn",
                "required: the CodeConnections connection to GitHub the in-VPC runner registers through "
                "(create it once in the console, docs/operations.md)",
            )
        ]
    return []
