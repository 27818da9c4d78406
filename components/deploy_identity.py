"""DeployIdentity: the IAM identities GitHub Actions assumes through OIDC, so CI holds no AWS keys.

Provisions, in the stack's account:
- the GitHub OIDC provider (``token.actions.githubusercontent.com``, client id ``sts.amazonaws.com``), or,
  because it is account-wide and only one may exist, a read of the existing one by ARN
  (``create_oidc_provider=False``);
- a read-only preview role (``ReadOnlyAccess`` plus decrypt with the secrets-provider key and read of the
  state bucket, and read of the stack's RDS-managed database secrets) for credentialed previews of pull requests and for drift detection / preflight on the
  default branch. It is trusted for ``repo:ORG/REPO:environment:<env>-preview`` (a PR preview job runs in
  that GitHub Environment, which has required reviewers for staging and prod) and
  ``repo:ORG/REPO:ref:refs/heads/<branch>``, never for ``repo:ORG/REPO:pull_request``: unreviewed PR code
  must not decrypt the stack's secrets. It gets a read-only EKS access entry on the stack's cluster;
- the deploy role of THIS stack's environment, ``ai-platform-deploy-<env>``, trusted only for
  ``repo:ORG/REPO:environment:<env>``: only a job that runs in that GitHub Environment (and so passed its
  protection rules, e.g. required reviewers) can assume it. Its managed policies exclude IAM; IAM is granted
  only on resources carrying the project tag (attribute-based access control), and role passing only to them;
- the permissions boundary ``ai-platform-boundary-<env>`` (docs/adr/0007): the ceiling of both roles and of
  every role the program creates. The deploy role may create or change a role only if that role carries this
  boundary, may not remove a boundary, may not touch the boundary policy, the deploy or preview role or the
  GitHub OIDC provider, may create and tag-on-create IAM resources only under the project's IAM path
  (``/<project>/``), may otherwise tag only resources that already carry the project tag, and may not run
  code in compute it did not create (Lambda, Glue, SSM commands, CodeBuild but the stack's own runner, ...). Everything it can reach is therefore under
  the same ceiling: it cannot make itself or anything else account admin.

Every trust policy pins ``aud`` to ``sts.amazonaws.com`` and ``sub`` to exact values with ``StringEquals``
(no ``StringLike``, no wildcard): a ``repo:ORG/*`` subject lets any repository, branch or fork PR of the
organisation assume the role (GitHub docs, "Configuring OpenID Connect in Amazon Web Services";
checkov CKV_AWS_358).

Changing the deploy identity itself (its roles, their policies, the boundary) is an administrator's
``pulumi up``, like the first one: the deploy role is denied exactly those changes.

Outputs: ``oidc_provider_arn``, ``preview_role`` and ``deploy_role`` (resources), ``preview_role_arn``,
``deploy_role_arn``, ``boundary_arn`` (every IAM role of the stack passes it as ``permissions_boundary``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components._common import assume_role_policy, policy_json
from components._deploy_policies import (
    GITHUB_OIDC_HOST,
    _Arns,
    _managed_secret_statements,
    _state_statements,
    boundary_statements,
    deploy_statements,
)

STS_AUDIENCE = "sts.amazonaws.com"
# Read-only on every Kubernetes resource, Secrets included (EKS "Review access policy permissions").
PREVIEW_CLUSTER_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"

_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_WILDCARDS = ("*", "?")


class TrustPolicyError(ValueError):
    """A GitHub OIDC trust policy would admit more than the exact repository and context."""


def _check_repository(repository: str) -> None:
    if any(w in repository for w in _WILDCARDS) or not _REPOSITORY.match(repository):
        raise TrustPolicyError(f"GitHub repository must be exactly owner/repo, without wildcards (got {repository!r})")


def environment_subject(repository: str, environment: str) -> str:
    """The ``sub`` claim of a job that runs in a GitHub Environment."""
    _check_repository(repository)
    return f"repo:{repository}:environment:{environment}"


def branch_subject(repository: str, branch: str) -> str:
    """The ``sub`` claim of a push or schedule run on ``branch`` (no environment)."""
    _check_repository(repository)
    return f"repo:{repository}:ref:refs/heads/{branch}"


def github_trust_policy(provider_arn: str, subjects: Sequence[str]) -> str:
    """A trust policy for GitHub's OIDC provider admitting exactly ``subjects`` with audience sts.

    Raises :class:`TrustPolicyError` for an empty subject list or a subject with a wildcard, so a
    mistake fails the preview instead of opening the role.
    """
    if not subjects:
        raise TrustPolicyError("a GitHub OIDC role needs at least one exact subject")
    for sub in subjects:
        if any(w in sub for w in _WILDCARDS) or not sub.startswith("repo:") or sub.count(":") < 2:
            raise TrustPolicyError(f"subject must be an exact repo:OWNER/REPO:<context> claim (got {sub!r})")
    return assume_role_policy(
        {"Federated": provider_arn},
        action="sts:AssumeRoleWithWebIdentity",
        condition={
            "StringEquals": {
                f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                f"{GITHUB_OIDC_HOST}:sub": list(subjects) if len(subjects) > 1 else subjects[0],
            }
        },
    )


@dataclass(frozen=True)
class DeployIdentityArgs:
    """Inputs of :class:`DeployIdentity`."""

    github_repository: str
    """``owner/repo`` whose workflows may assume the roles; wildcards are refused."""
    environment: str
    """The GitHub Environment (and stack environment) the deploy role serves, e.g. ``prod``."""
    account_id: str
    """The stack's AWS account (ARNs of the OIDC provider, keys and IAM resources)."""
    region: str
    """Region of the state bucket's and secrets provider's KMS keys."""
    deploy_role_name: str
    """Physical name of the deploy role, ``ai-platform-deploy-<env>``; ``cluster.adminRoleArns`` lists it."""
    preview_role_name: str
    """Physical name of the read-only preview role."""
    preview_environment: str
    """GitHub Environment a credentialed PR preview runs in, e.g. ``prod-preview``; the preview role trusts it
    instead of ``pull_request``, so its protection rules (required reviewers) gate every PR run that can
    decrypt this stack's secrets."""
    boundary_policy_name: str
    """Physical name of the permissions boundary policy, ``ai-platform-boundary-<env>``."""
    cluster_name: str
    """Name of the stack's EKS cluster: the only cluster whose access entries and pod identity associations
    the deploy role may change (an admin entry on another team's cluster reaches that cluster's roles)."""
    state_bucket: str
    """S3 bucket of the Pulumi state backend."""
    kms_aliases: Sequence[str]
    """Aliases of the keys the roles may decrypt with: the secrets provider's and the state bucket's."""
    project_tag: tuple[str, str]
    """Tag ``(key, value)`` every platform IAM resource carries (provider default tags); the deploy role may
    manage IAM only on resources with it."""
    create_oidc_provider: bool = True
    """Create the account-wide OIDC provider; False reads the existing one by ARN."""
    default_branch: str = "main"
    """Branch whose runs (drift detection, preflight) may assume the preview role."""
    deploy_policy_arns: Sequence[str] = ("arn:aws:iam::aws:policy/PowerUserAccess",)
    """Managed policies of the deploy role (PowerUserAccess: everything but IAM and Organizations)."""
    max_session_seconds: int = 7200
    """Longest session of the deploy role."""
    runner_project_arn: str | None = None
    """ARN of the stack's own CodeBuild runner project (``arn:aws:codebuild:<region>:<account>:project/<name>``,
    components/deploy_runner.py). CodeBuild is denied on every other project (a foreign project runs as its
    own role); on this one the roles may read it (``pulumi preview/up --refresh``) and the deploy role may
    manage it. None (no runner): CodeBuild is denied everywhere."""
    database_identifiers: Sequence[str] = ()
    """RDS instances of the stack whose RDS-managed master secret a preview reads (MLflow's database:
    components/mlflow.py syncs it into a Kubernetes Secret with ``get_secret_version`` at every preview). The
    preview role may read exactly those secrets and decrypt them through Secrets Manager; empty: none."""
    cluster: aws.eks.Cluster | None = None
    """The stack's EKS cluster. The preview role gets a read-only access entry on it
    (``AmazonEKSAdminViewPolicy``): a preview or refresh of Helm releases reads their state Secrets,
    which the plain view policy cannot. Unset: no cluster access."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every resource."""


class DeployIdentity(pulumi.ComponentResource):
    """GitHub OIDC provider, a read-only preview role and this environment's deploy role."""

    oidc_provider_arn: pulumi.Output[str]
    preview_role: aws.iam.Role
    deploy_role: aws.iam.Role
    preview_role_arn: pulumi.Output[str]
    deploy_role_arn: pulumi.Output[str]
    boundary: aws.iam.Policy
    boundary_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeployIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:DeployIdentity", name, None, opts)
        # Validate before registering anything: a bad repository must fail the preview, not open a role.
        deploy_subjects = [environment_subject(args.github_repository, args.environment)]
        preview_subjects = [
            environment_subject(args.github_repository, args.preview_environment),
            branch_subject(args.github_repository, args.default_branch),
        ]
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        arns = _Arns.of(args)

        self.boundary = aws.iam.Policy(
            f"{name}-boundary",
            name=args.boundary_policy_name,
            description="Permissions boundary of the platform's deploy identity and every role it manages (ADR 0007)",
            policy=policy_json(boundary_statements(args, arns)),
            tags={**tags, "Name": args.boundary_policy_name},
            opts=child,
        )
        self.boundary_arn = self.boundary.arn

        provider = self._github_provider(name, args, arns, child)
        self.oidc_provider_arn = provider.arn

        self.preview_role = self._preview_role(name, args, provider, preview_subjects, child)
        self.deploy_role = self._deploy_role(name, args, arns, provider, deploy_subjects, child)

        self.preview_role_arn = self.preview_role.arn
        self.deploy_role_arn = self.deploy_role.arn
        self.register_outputs(
            {
                "oidc_provider_arn": self.oidc_provider_arn,
                "preview_role_arn": self.preview_role_arn,
                "deploy_role_arn": self.deploy_role_arn,
                "boundary_arn": self.boundary_arn,
            }
        )

    def _github_provider(
        self, name: str, args: DeployIdentityArgs, arns: _Arns, child: pulumi.ResourceOptions
    ) -> aws.iam.OpenIdConnectProvider:
        """The account's GitHub OIDC provider: created here when this stack owns it, read by ARN otherwise."""
        if args.create_oidc_provider:
            return aws.iam.OpenIdConnectProvider(
                f"{name}-github-oidc",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_id_lists=[STS_AUDIENCE],
                # No thumbprint: for GitHub, IAM validates the certificate against its own trusted CAs and
                # ignores configured thumbprints (pulumi-aws OpenIdConnectProvider docs, thumbprint_lists).
                tags={**dict(args.tags), "Name": f"{name}-github-oidc"},
                opts=child,
            )
        return aws.iam.OpenIdConnectProvider.get(f"{name}-github-oidc", arns.github_provider, opts=child)

    def _deploy_role(
        self,
        name: str,
        args: DeployIdentityArgs,
        arns: _Arns,
        provider: aws.iam.OpenIdConnectProvider,
        subjects: list[str],
        child: pulumi.ResourceOptions,
    ) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{name}-deploy-role",
            name=args.deploy_role_name,
            description=f"pulumi up for the {args.environment} environment from {args.github_repository}",
            assume_role_policy=provider.arn.apply(lambda arn: github_trust_policy(arn, subjects)),
            max_session_duration=args.max_session_seconds,
            permissions_boundary=self.boundary.arn,
            tags={**dict(args.tags), "Name": args.deploy_role_name},
            opts=child,
        )
        for i, arn in enumerate(args.deploy_policy_arns):
            aws.iam.RolePolicyAttachment(f"{name}-deploy-managed-{i}", role=role.name, policy_arn=arn, opts=child)
        aws.iam.RolePolicy(
            f"{name}-deploy-iam",
            role=role.id,
            policy=policy_json(deploy_statements(args, arns)),
            opts=child,
        )
        return role

    def _preview_role(
        self,
        name: str,
        args: DeployIdentityArgs,
        provider: aws.iam.OpenIdConnectProvider,
        subjects: list[str],
        child: pulumi.ResourceOptions,
    ) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{name}-preview-role",
            name=args.preview_role_name,
            description=f"Read-only: pulumi preview and drift detection from {args.github_repository}",
            assume_role_policy=provider.arn.apply(lambda arn: github_trust_policy(arn, subjects)),
            max_session_duration=3600,
            permissions_boundary=self.boundary.arn,
            tags={**dict(args.tags), "Name": args.preview_role_name},
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-preview-readonly",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/ReadOnlyAccess",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-preview-state",
            role=role.id,
            policy=policy_json([*_state_statements(args, write=False), *_managed_secret_statements(args)]),
            opts=child,
        )
        if args.cluster is not None:
            entry = aws.eks.AccessEntry(
                f"{name}-preview-access",
                cluster_name=args.cluster.name,
                principal_arn=role.arn,
                type="STANDARD",
                tags=dict(args.tags),
                opts=child,
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-preview-view",
                cluster_name=args.cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=PREVIEW_CLUSTER_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child,
            )
        return role


__all__ = ["GITHUB_OIDC_HOST", "boundary_statements", "deploy_statements"]
