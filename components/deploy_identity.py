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

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
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

        if args.create_oidc_provider:
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github-oidc",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_id_lists=[STS_AUDIENCE],
                # No thumbprint: for GitHub, IAM validates the certificate against its own trusted CAs and
                # ignores configured thumbprints (pulumi-aws OpenIdConnectProvider docs, thumbprint_lists).
                tags={**tags, "Name": f"{name}-github-oidc"},
                opts=child,
            )
        else:
            provider = aws.iam.OpenIdConnectProvider.get(f"{name}-github-oidc", arns.github_provider, opts=child)
        self.oidc_provider_arn = provider.arn

        self.preview_role = self._preview_role(name, args, provider, preview_subjects, child)
        self.deploy_role = aws.iam.Role(
            f"{name}-deploy-role",
            name=args.deploy_role_name,
            description=f"pulumi up for the {args.environment} environment from {args.github_repository}",
            assume_role_policy=provider.arn.apply(lambda arn: github_trust_policy(arn, deploy_subjects)),
            max_session_duration=args.max_session_seconds,
            permissions_boundary=self.boundary.arn,
            tags={**tags, "Name": args.deploy_role_name},
            opts=child,
        )
        for i, arn in enumerate(args.deploy_policy_arns):
            aws.iam.RolePolicyAttachment(
                f"{name}-deploy-managed-{i}", role=self.deploy_role.name, policy_arn=arn, opts=child
            )
        aws.iam.RolePolicy(
            f"{name}-deploy-iam",
            role=self.deploy_role.id,
            policy=policy_json(deploy_statements(args, arns)),
            opts=child,
        )

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


def _state_statements(args: DeployIdentityArgs, *, write: bool) -> list[dict[str, object]]:
    """Read (and for deploys write) the state bucket; decrypt (and encrypt) with the platform's keys.

    The keys are matched by alias with ``kms:ResourceAliases`` (works for keys in this account), so the
    policy does not need the key IDs that ``blueprint bootstrap`` created.
    """
    bucket = f"arn:aws:s3:::{args.state_bucket}"
    object_actions = ["s3:GetObject", "s3:GetObjectVersion"]
    kms_actions = ["kms:Decrypt", "kms:DescribeKey"]
    if write:
        object_actions += ["s3:PutObject", "s3:DeleteObject"]
        kms_actions += ["kms:Encrypt", "kms:GenerateDataKey"]
    return [
        {
            "Sid": "StateBucketList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": bucket,
        },
        {"Sid": "StateObjects", "Effect": "Allow", "Action": object_actions, "Resource": f"{bucket}/*"},
        {
            "Sid": "PlatformKeys",
            "Effect": "Allow",
            "Action": kms_actions,
            "Resource": f"arn:aws:kms:{args.region}:{args.account_id}:key/*",
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": sorted(set(args.kms_aliases))}},
        },
    ]


def _managed_secret_statements(args: DeployIdentityArgs) -> list[dict[str, object]]:
    """Read the RDS-managed master secrets of the stack's databases (ReadOnlyAccess has no GetSecretValue).

    RDS names them ``rds!db-<uuid>`` and tags them ``aws:rds:primaryDBInstanceArn`` with the instance's ARN
    (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html), so the grant names
    the instances, not every RDS secret of the account. Decrypt only through Secrets Manager, with keys that
    carry the project tag (the database key of components/mlflow.py encrypts the secret).
    """
    if not args.database_identifiers:
        return []
    key, value = args.project_tag
    instances = [f"arn:aws:rds:{args.region}:{args.account_id}:db:{i}" for i in args.database_identifiers]
    return [
        {
            "Sid": "RdsManagedSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": f"arn:aws:secretsmanager:{args.region}:{args.account_id}:secret:rds!db-*",
            "Condition": {"StringEquals": {"secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": instances}},
        },
        {
            "Sid": "RdsManagedSecretKeys",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": f"arn:aws:kms:{args.region}:{args.account_id}:key/*",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{args.region}.amazonaws.com",
                    f"aws:ResourceTag/{key}": value,
                }
            },
        },
    ]


@dataclass(frozen=True)
class _Arns:
    """The ARNs the boundary and the deploy policy name before the resources exist (they are fixed names)."""

    boundary: str
    deploy_role: str
    preview_role: str
    github_provider: str
    account: str

    @classmethod
    def of(cls, args: DeployIdentityArgs) -> _Arns:
        iam = f"arn:aws:iam::{args.account_id}"
        return cls(
            boundary=f"{iam}:policy/{args.boundary_policy_name}",
            deploy_role=f"{iam}:role/{args.deploy_role_name}",
            preview_role=f"{iam}:role/{args.preview_role_name}",
            github_provider=f"{iam}:oidc-provider/{GITHUB_OIDC_HOST}",
            account=iam,
        )


# IAM actions `pulumi up` needs for the platform's roles, policies, instance profiles and the cluster's
# OIDC provider. Creation requires the project tag in the request; every change requires it on the
# resource (IAM supports aws:RequestTag / aws:ResourceTag on these resource types:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/access_iam-tags.html). Actions that put permissions on a
# role (and CreateRole) additionally require the role to carry the boundary: `iam:PermissionsBoundary` is
# evaluated for exactly these actions (Service Authorization Reference, IAM condition keys).
_IAM_ROLE_PERMISSIONS = (
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
)
_IAM_CREATE = (
    "iam:CreatePolicy",
    "iam:CreateInstanceProfile",
    "iam:CreateOpenIDConnectProvider",
)
# Tags given at creation are authorised by the Create* action AND by the Tag* action of the resource type
# ("Permissions required to tag IAM resources", access_iam-tags.html), and the provider always sends its
# default tags. So Tag* is allowed with the project tag in the request (aws:RequestTag) on the project's IAM
# path only, where nothing but the program's own resources lives; elsewhere tagging needs the project tag to
# be on the resource already (aws:ResourceTag): tagging a foreign role `project=ai-platform` would otherwise
# hand it to the deploy role.
_IAM_TAG_ON_CREATE = (
    "iam:TagRole",
    "iam:TagPolicy",
    "iam:TagInstanceProfile",
    "iam:TagOpenIDConnectProvider",
)
_IAM_MANAGE = (
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicy",
    "iam:TagPolicy",
    "iam:UntagPolicy",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:UntagInstanceProfile",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:UntagOpenIDConnectProvider",
    "iam:PassRole",
)
# Every IAM write but tagging, for the deny on the identity's own resources. Tags there grant nothing (no
# policy here reads aws:PrincipalTag), and denying them would make a change of the stack's `tags` an
# administrator's job.
_IAM_WRITES = (
    *_IAM_ROLE_PERMISSIONS,
    *(a for a in _IAM_MANAGE if not a.startswith(("iam:Tag", "iam:Untag"))),
    "iam:DeleteRolePermissionsBoundary",
)
# Ways to run code as a role without iam:PassRole: change what existing compute executes, or open a shell
# on it (Rhino Security Labs' AWS privilege-escalation methods; the platform uses none of these services).
# PowerUserAccess allows them on any resource, so a foreign function's or instance's role would be reachable.
CODE_EXECUTION_ACTIONS = (
    "lambda:*",
    "glue:*",
    "cloudformation:*",
    "datapipeline:*",
    "codepipeline:*",
    "sagemaker:*",
    "ecs:*",
    "batch:*",
    "ssm:SendCommand",
    "ssm:StartSession",
    "ssm:ResumeSession",
    "ssm:StartAutomationExecution",
    "ssm:CreateAssociation",
    "ec2-instance-connect:*",
    "states:*",
    "apprunner:*",
    "elasticbeanstalk:*",
)
# CodeBuild too, except on the stack's own runner project (DeployIdentityArgs.runner_project_arn), which the
# deploy role creates, refreshes and updates; its builds run as the runner role, under the same boundary.
CODEBUILD_ACTIONS = ("codebuild:*",)


def project_iam_path(args: DeployIdentityArgs) -> str:
    """The IAM path of every role, policy and instance profile the program creates: ``/<project tag value>/``
    (infra.config.iam_path() gives the components the same value)."""
    return f"/{args.project_tag[1]}/"


def _platform_iam_resources(args: DeployIdentityArgs, arns: _Arns) -> list[str]:
    # Roles, policies and instance profiles: only under the project's IAM path, so tagging on create (which
    # IAM authorises with Tag* on a resource that has no tags yet) cannot tag a foreign resource elsewhere into
    # the project. OIDC providers have no path: only EKS cluster issuers of this region (a foreign identity
    # provider could otherwise be added to the account and trusted by a platform role).
    path = project_iam_path(args)
    return [
        f"{arns.account}:role{path}*",
        f"{arns.account}:policy{path}*",
        f"{arns.account}:instance-profile{path}*",
        f"{arns.account}:oidc-provider/oidc.eks.{args.region}.amazonaws.com/id/*",
    ]


def _iam_allow_statements(args: DeployIdentityArgs, arns: _Arns, read: object) -> list[dict[str, object]]:
    """What the deploy role may do in IAM; the boundary repeats it, so no bounded role can do more.

    ``read`` is the Resource of the read statement: the account and AWS managed policies for the deploy
    role; ``*`` in the boundary, because workloads under it call reads that take no ARN
    (``iam:ListServerCertificates`` for the load balancer controller).
    """
    key, value = args.project_tag
    resources = _platform_iam_resources(args, arns)
    roles = f"{arns.account}:role{project_iam_path(args)}*"
    tagged = {f"aws:ResourceTag/{key}": value}
    return [
        {"Sid": "IamRead", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": read},
        {
            # EKS, ELB and Auto Scaling create their service-linked roles on first use; their permissions
            # and trust are defined by AWS, so they are no way up.
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": ["iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole"],
            "Resource": f"{arns.account}:role/aws-service-role/*",
        },
        {
            "Sid": "IamCreateRoleWithBoundary",
            "Effect": "Allow",
            "Action": "iam:CreateRole",
            "Resource": roles,
            "Condition": {"StringEquals": {f"aws:RequestTag/{key}": value, "iam:PermissionsBoundary": arns.boundary}},
        },
        {
            "Sid": "IamRolePermissionsWithBoundary",
            "Effect": "Allow",
            "Action": list(_IAM_ROLE_PERMISSIONS),
            "Resource": roles,
            "Condition": {"StringEquals": {**tagged, "iam:PermissionsBoundary": arns.boundary}},
        },
        {
            "Sid": "IamCreateProjectTagged",
            "Effect": "Allow",
            "Action": list(_IAM_CREATE),
            "Resource": resources,
            "Condition": {"StringEquals": {f"aws:RequestTag/{key}": value}},
        },
        {
            "Sid": "IamTagOnCreateUnderProjectPath",
            "Effect": "Allow",
            "Action": list(_IAM_TAG_ON_CREATE),
            "Resource": resources,
            "Condition": {"StringEquals": {f"aws:RequestTag/{key}": value}},
        },
        {
            "Sid": "IamManageProjectTagged",
            "Effect": "Allow",
            "Action": list(_IAM_MANAGE),
            "Resource": resources,
            "Condition": {"StringEquals": tagged},
        },
    ]


def _deny_statements(args: DeployIdentityArgs, arns: _Arns) -> list[dict[str, object]]:
    """Explicit denies, in the deploy policy and the boundary: no allow anywhere can override them."""
    key, value = args.project_tag
    eks = f"arn:aws:eks:{args.region}:{args.account_id}"
    return [
        {
            "Sid": "DenyIdentityTampering",
            "Effect": "Deny",
            "Action": [*_IAM_WRITES, "iam:CreateRole", "iam:CreateOpenIDConnectProvider"],
            "Resource": [arns.boundary, arns.deploy_role, arns.preview_role, arns.github_provider],
        },
        {
            "Sid": "DenyRemovingBoundaries",
            "Effect": "Deny",
            "Action": ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"],
            "Resource": "*",
        },
        {
            "Sid": "DenyRolesWithoutThisBoundary",
            "Effect": "Deny",
            "Action": ["iam:CreateRole", *_IAM_ROLE_PERMISSIONS],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": arns.boundary}},
        },
        {
            "Sid": "DenyCodeExecutionServices",
            "Effect": "Deny",
            "Action": list(CODE_EXECUTION_ACTIONS),
            "Resource": "*",
        },
        _codebuild_deny(args),
        {
            # New user data on a stopped instance runs as its instance profile's role at the next start.
            "Sid": "DenyUserDataOnForeignInstances",
            "Effect": "Deny",
            "Action": "ec2:ModifyInstanceAttribute",
            "Resource": "*",
            "Condition": {"StringNotEquals": {f"aws:ResourceTag/{key}": value}},
        },
        {
            "Sid": "DenyForeignClusterAccess",
            "Effect": "Deny",
            "Action": [
                "eks:CreateAccessEntry",
                "eks:UpdateAccessEntry",
                "eks:AssociateAccessPolicy",
                "eks:CreatePodIdentityAssociation",
                "eks:UpdatePodIdentityAssociation",
                "eks:UpdateClusterConfig",
            ],
            "NotResource": [
                f"{eks}:cluster/{args.cluster_name}",
                f"{eks}:access-entry/{args.cluster_name}/*",
                f"{eks}:podidentityassociation/{args.cluster_name}/*",
            ],
        },
    ]


def _codebuild_deny(args: DeployIdentityArgs) -> dict[str, object]:
    """CodeBuild is code execution too: denied on every project but the stack's own runner (if any)."""
    stmt: dict[str, object] = {"Sid": "DenyForeignCodeBuild", "Effect": "Deny", "Action": list(CODEBUILD_ACTIONS)}
    if args.runner_project_arn:
        stmt["NotResource"] = [args.runner_project_arn]
    else:
        stmt["Resource"] = "*"
    return stmt


def deploy_statements(args: DeployIdentityArgs, arns: _Arns | None = None) -> list[dict[str, object]]:
    """The deploy role's inline policy: state, IAM on project-tagged resources under the boundary, denies."""
    arns = arns or _Arns.of(args)
    read = [f"{arns.account}:*", "arn:aws:iam::aws:policy/*"]
    return [
        *_state_statements(args, write=True),
        *_iam_allow_statements(args, arns, read),
        *_deny_statements(args, arns),
    ]


def boundary_statements(args: DeployIdentityArgs, arns: _Arns | None = None) -> list[dict[str, object]]:
    """The permissions boundary: the most any platform role may do, whatever its own policies say.

    Every service but IAM, Organizations and Account (as PowerUserAccess), IAM only as the deploy role gets
    it, and the same denies. A boundary grants nothing by itself; it caps the identity policy.
    """
    arns = arns or _Arns.of(args)
    return [
        {
            "Sid": "ServicesCeiling",
            "Effect": "Allow",
            "NotAction": ["iam:*", "organizations:*", "account:*"],
            "Resource": "*",
        },
        *_iam_allow_statements(args, arns, "*"),
        *_node_instance_profiles(args, arns),
        *_deny_statements(args, arns),
    ]


def _node_instance_profiles(args: DeployIdentityArgs, arns: _Arns) -> list[dict[str, object]]:
    """Karpenter's controller creates one instance profile per EC2NodeClass at a path of its own choosing
    (pkg/providers/instanceprofile), tagged with the EC2NodeClass's tags (the stack's, so ``project``). The
    boundary lets a bounded role manage project-tagged instance profiles at any path; what such a profile can
    carry is still limited by ``iam:PassRole``, which stays on the project path. The deploy role's own policy
    is not widened."""
    key, value = args.project_tag
    profiles = f"{arns.account}:instance-profile/*"
    return [
        {
            "Sid": "NodeInstanceProfilesCreate",
            "Effect": "Allow",
            "Action": ["iam:CreateInstanceProfile", "iam:TagInstanceProfile"],
            "Resource": profiles,
            "Condition": {"StringEquals": {f"aws:RequestTag/{key}": value}},
        },
        {
            "Sid": "NodeInstanceProfilesManage",
            "Effect": "Allow",
            "Action": [
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
                "iam:TagInstanceProfile",
            ],
            "Resource": profiles,
            "Condition": {"StringEquals": {f"aws:ResourceTag/{key}": value}},
        },
    ]
