"""The deploy identity's IAM documents: the permissions boundary and the deploy role's IAM policy.

Split from :mod:`components.deploy_identity` (the component) so each module stays readable; the
statements depend only on :class:`~components.deploy_identity.DeployIdentityArgs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from components.deploy_identity import DeployIdentityArgs

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


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
