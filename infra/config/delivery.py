"""``delivery``: GitHub OIDC deploy identities and the in-VPC deploy runner."""

from __future__ import annotations

import re

from pydantic import (
    Field,
    field_validator,
)

from infra.config._base import _Model, derived, required_when

# --------------------------------------------------------------------------- delivery
_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
_GIT_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")


_CODECONNECTIONS_ARN = re.compile(
    r"^arn:aws(-[a-z]+)?:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
# Compute types of CodeBuild's container fleet that run the GitHub Actions runner
# (https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-compute-types.html).
CODEBUILD_COMPUTE_TYPES: tuple[str, ...] = (
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
)


class DeployRunnerConfig(_Model):
    """The in-VPC GitHub Actions runner (CodeBuild) that reaches the cluster's private API endpoint (ADR 0008)."""

    enabled: bool = True
    """Create the runner. Without it, only a cluster whose public endpoint admits 0.0.0.0/0 is reachable from CI."""
    connection_arn: str | None = None
    """ARN of an AWS CodeConnections connection to GitHub, created and authorised once in the console (the GitHub
    App handshake cannot be automated). CodeBuild uses it to register the repository webhook and the runner."""
    compute_type: str = "BUILD_GENERAL1_MEDIUM"
    """CodeBuild compute type (MEDIUM: 4 vCPU, 7 GiB; enough for ``pulumi up`` with the policy pack)."""
    image: str = "aws/codebuild/standard:7.0"
    """Managed build image: Ubuntu 22.04 with the AWS CLI v2 (``aws eks get-token``), where actions/setup-python's
    Ubuntu builds work."""
    build_timeout_minutes: int = Field(default=180, ge=30, le=480)
    """CodeBuild's limit for one job; longer than the longest workflow job timeout (deploy: 120 minutes)."""
    workflows: list[str] = Field(default_factory=lambda: ["deploy", "preview", "drift"])
    """Names of the workflows whose queued jobs may start this runner (webhook ``WORKFLOW_NAME`` filter)."""

    @field_validator("connection_arn")
    @classmethod
    def _connection(cls, v: str | None) -> str | None:
        if v is not None and not _CODECONNECTIONS_ARN.match(v):
            raise ValueError(
                "a CodeConnections connection ARN (arn:aws:codeconnections:<region>:<account>:connection/<id>)"
            )
        return v

    @field_validator("compute_type")
    @classmethod
    def _compute(cls, v: str) -> str:
        if v not in CODEBUILD_COMPUTE_TYPES:
            raise ValueError(f"one of {list(CODEBUILD_COMPUTE_TYPES)}")
        return v

    @field_validator("workflows")
    @classmethod
    def _workflows(cls, v: list[str]) -> list[str]:
        if not v or any(not re.fullmatch(r"[A-Za-z0-9 ._-]{1,100}", w) for w in v):
            raise ValueError("one or more workflow names (the `name:` of .github/workflows/*.yml)")
        return v


class DeliveryConfig(_Model):
    """GitHub Actions delivery: the OIDC provider and the roles the workflows assume (no long-lived keys)."""

    enabled: bool = True
    """Create the GitHub OIDC deploy identities (component ``DeployIdentity``)."""
    github_repository: str = required_when("enabled: true")
    """``owner/repo`` whose workflows may assume the roles. Exact: wildcards are refused."""
    create_oidc_provider: bool = True
    """Create the account-wide GitHub OIDC provider. Set false when something else in the account owns it; the
    program then reads the existing ``token.actions.githubusercontent.com`` provider by ARN."""
    default_branch: str = "main"
    """Branch whose runs (drift detection, preflight) may assume the read-only preview role."""
    state_bucket: str = required_when("enabled: true")
    """S3 bucket of the self-managed Pulumi backend (``blueprint bootstrap --bucket``); the roles read it."""
    secrets_kms_alias: str | list[str] = "alias/pulumi-secrets"
    """KMS alias of the ``awskms://`` secrets provider; the roles may use the key behind it. A list while the
    stack moves to another key: grant both, run ``pulumi stack change-secrets-provider``, then drop the old one
    (README, "Move a stack to another secrets key"). The first alias is the one the stack file should name."""
    state_kms_alias: str | None = derived("<first secretsKmsAlias>-state")
    """KMS alias of the state bucket's SSE-KMS key; unset means ``<first secretsKmsAlias>-state``, the key
    ``blueprint bootstrap`` creates next to the secrets key. Set it explicitly before moving the secrets key."""
    kubernetes_layer: bool = True
    """Deploy the in-cluster components (everything through the cluster's Kubernetes provider). false only for
    the administrator's first ``up`` of a stack, which creates the cloud layer (VPC, cluster, node pools, roles,
    the in-VPC deploy runner) from outside the VPC; the Kubernetes layer then deploys from the runner (ADR 0008)."""
    deploy_runner: DeployRunnerConfig = Field(default_factory=lambda: DeployRunnerConfig())
    """The CodeBuild-hosted GitHub Actions runner inside the VPC that deploy, preview and drift jobs run on."""
    deploy_policy_arns: list[str] = Field(default_factory=lambda: ["arn:aws:iam::aws:policy/PowerUserAccess"])
    """Managed policies of the deploy role. IAM itself is granted separately, only on resources tagged with the
    project (``project=ai-platform``), so the role cannot touch IAM outside the platform. AdministratorAccess and
    IAMFullAccess are refused."""
    max_session_seconds: int = Field(default=7200, ge=3600, le=43200)
    """Longest session of the deploy role: a first ``pulumi up`` (EKS, node pools, charts) can take over an hour."""

    @property
    def secrets_kms_aliases(self) -> list[str]:
        """Every secrets-provider alias the roles are granted (one, or two during a key move)."""
        return [self.secrets_kms_alias] if isinstance(self.secrets_kms_alias, str) else list(self.secrets_kms_alias)

    @property
    def state_key_alias(self) -> str:
        """The effective alias of the state bucket's key."""
        return self.state_kms_alias or f"{self.secrets_kms_aliases[0]}-state"

    @field_validator("github_repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if "*" in v or "?" in v:
            raise ValueError("must name one repository exactly (owner/repo); wildcards would let any repository deploy")
        if not _GITHUB_REPOSITORY.match(v):
            raise ValueError("an owner/repo such as example-org/ai-platform")
        return v

    @field_validator("default_branch")
    @classmethod
    def _branch(cls, v: str) -> str:
        if "*" in v or not _GIT_BRANCH.match(v):
            raise ValueError("one branch name, without wildcards")
        return v

    @field_validator("state_bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not _S3_BUCKET.match(v) or ".." in v:
            raise ValueError("an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)")
        return v

    @field_validator("secrets_kms_alias", "state_kms_alias")
    @classmethod
    def _alias(cls, v: str | list[str] | None) -> str | list[str] | None:
        aliases = [] if v is None else [v] if isinstance(v, str) else v
        if (isinstance(v, list) and not 1 <= len(v) <= 2) or len(set(aliases)) != len(aliases):
            raise ValueError("one alias, or two different aliases while moving the stack to another key")
        bad = [a for a in aliases if not _KMS_ALIAS.match(a) or a.startswith("alias/aws/")]
        if bad:
            raise ValueError(f"{bad}: customer-managed KMS aliases such as alias/pulumi-secrets (not alias/aws/...)")
        return v

    @field_validator("deploy_policy_arns")
    @classmethod
    def _policies(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a.endswith((":policy/AdministratorAccess", ":policy/IAMFullAccess"))]
        if bad:
            raise ValueError(f"{bad} grant unrestricted IAM; IAM is granted on project-tagged resources only")
        malformed = [a for a in v if not re.match(r"^arn:aws(-[a-z]+)?:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$", a)]
        if malformed:
            raise ValueError(f"not IAM policy ARNs: {malformed}")
        return v
