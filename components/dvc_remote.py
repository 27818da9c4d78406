"""The artifact bucket's ``dvc/`` prefix as a DVC remote, and the IAM role that may use it.

Provisions one IAM role, trusted by GitHub Actions through the account's GitHub OIDC provider (exact
``repo:OWNER/REPO:…`` subjects, audience ``sts.amazonaws.com``, as the deploy roles) and, optionally,
by named IAM roles (data scientists' SSO roles). It may read, write and delete objects under
``dvc/`` only, list only that prefix, and use the bucket's KMS key only through S3.

Outputs: ``remote_url`` (``s3://<bucket>/dvc``), ``role``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components._common import policy_json
from components.deploy_identity import github_trust_policy

DVC_PREFIX = "dvc/"


@dataclass(frozen=True)
class DvcRemoteArgs:
    """Inputs of :class:`DvcRemote`."""

    artifacts_bucket: aws.s3.Bucket
    """The artifact bucket."""
    artifacts_key: aws.kms.Key
    """The bucket's KMS key."""
    region: str
    """AWS region (the ``kms:ViaService`` condition)."""
    role_name: str
    """Name of the DVC role, e.g. ``ai-platform-dvc-prod``."""
    github_provider_arn: pulumi.Input[str] | None = None
    """ARN of the account's GitHub OIDC provider; None: no GitHub trust."""
    github_subjects: Sequence[str] = ()
    """Exact ``sub`` claims of the workflow runs that may assume the role."""
    principal_arns: Sequence[str] = ()
    """IAM roles that may assume the role (``sts:AssumeRole``)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the role."""
    permissions_boundary: pulumi.Input[str] | None = None
    """Permissions boundary of the role (``DeployIdentity.boundary_arn``): the CI deploy role may manage only roles
    under it (ADR 0007)."""
    iam_path: str = "/"
    """IAM path of the roles and policies created here, ``/<project>/`` from infra.config.iam_path(): the CI deploy
    role may create and tag only IAM resources under it (ADR 0007). Changing it replaces them (paths are
    immutable)."""


def dvc_policy(bucket_arn: str, key_arn: str, region: str) -> str:
    """Read, write and delete under ``dvc/`` only (``dvc push``, ``dvc gc -c``); the key via S3 only."""
    return policy_json(
        [
            {
                "Sid": "DvcObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{bucket_arn}/{DVC_PREFIX}*"],
            },
            {
                "Sid": "ListDvc",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": [DVC_PREFIX, f"{DVC_PREFIX}*"]}},
            },
            {
                "Sid": "BucketKeyViaS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": [key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ]
    )


def dvc_trust_policy(provider_arn: str | None, subjects: Sequence[str], principals: Sequence[str]) -> str:
    """GitHub OIDC (exact subjects) and/or named IAM roles; refuses a trust that admits nobody."""
    statements = json.loads(github_trust_policy(provider_arn, subjects))["Statement"] if provider_arn else []
    if principals:
        statements.append({"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"})
    if not statements:
        raise ValueError("the DVC role needs a GitHub OIDC provider or principal ARNs to trust")
    return policy_json(statements)


class DvcRemote(pulumi.ComponentResource):
    """A DVC remote on the artifact bucket and the role scoped to it."""

    remote_url: pulumi.Output[str]
    role: aws.iam.Role

    def __init__(self, name: str, args: DvcRemoteArgs, opts: pulumi.ResourceOptions | None = None):
        if args.github_provider_arn is not None and not args.github_subjects:
            raise ValueError("GitHub trust needs at least one exact subject")
        super().__init__("platform:index:DvcRemote", name, None, opts)
        trust = pulumi.Output.from_input(args.github_provider_arn).apply(
            lambda arn: dvc_trust_policy(arn, args.github_subjects, args.principal_arns)
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            assume_role_policy=trust,
            max_session_duration=3600,
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=pulumi.Output.all(args.artifacts_bucket.arn, args.artifacts_key.arn).apply(
                lambda a: dvc_policy(a[0], a[1], args.region)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.remote_url = args.artifacts_bucket.bucket.apply(lambda b: f"s3://{b}/{DVC_PREFIX.rstrip('/')}")
        self.register_outputs({"remote_url": self.remote_url, "role": self.role.arn})
