"""Names derived from the project and the stack: roles, IAM path, the deploy runner."""

from __future__ import annotations

import re

from infra.config._base import PROJECT
from infra.config.platform import PlatformConfig


def runner_project_name(stack: str) -> str:
    """CodeBuild project of a stack's in-VPC runner; jobs select it with ``runs-on: codebuild-<name>-<run id>-<attempt>``."""
    return f"{PROJECT}-deployer-{stack}"


_DEPLOY_ROLE = re.compile(rf"^arn:aws(?:-[a-z]+)?:iam::\d{{12}}:role/{PROJECT}-deploy-([a-z0-9-]+)$")


def deploy_role_name(environment: str) -> str:
    """Name of the role GitHub Actions assumes to deploy ``environment`` (``ai-platform-deploy-prod``)."""
    return f"{PROJECT}-deploy-{environment}"


def preview_role_name(environment: str) -> str:
    """Name of the read-only role PR previews and drift detection assume in ``environment``'s account."""
    return f"{PROJECT}-preview-{environment}"


def preview_environment_name(environment: str) -> str:
    """GitHub Environment a credentialed PR preview of ``environment`` runs in (``prod-preview``); the preview
    role trusts it instead of ``pull_request``, so its required reviewers gate PR code that can decrypt."""
    return f"{environment}-preview"


def iam_path() -> str:
    """IAM path of every role, policy and instance profile the program creates (``/ai-platform/``): the CI deploy
    role may create and tag IAM resources only under it (ADR 0007). The deploy identity itself stays at ``/``."""
    return f"/{PROJECT}/"


def boundary_policy_name(environment: str) -> str:
    """Name of the permissions boundary of ``environment``'s deploy identity and platform roles."""
    return f"{PROJECT}-boundary-{environment}"


def admitted_role_arns(cfg: PlatformConfig) -> list[str]:
    """The cluster's admin principals: ``cluster.adminRoleArns`` (extra principals) plus this stack's own deploy
    role, derived from ``accountId`` and the stack name, so moving a stack to another account moves it too."""
    roles = list(cfg.cluster.admin_role_arns)
    own = deploy_role_arn(cfg.account_id, cfg.stack)
    if cfg.delivery.enabled and own not in roles:
        roles.append(own)
    return roles


def deploy_role_arn(account_id: str, environment: str) -> str:
    """ARN of :func:`deploy_role_name` in ``account_id``."""
    return f"arn:aws:iam::{account_id}:role/{deploy_role_name(environment)}"
