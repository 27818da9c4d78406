"""Helpers shared by the components (internal)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


def retained(parent: pulumi.Resource, protect: bool, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options for a stateful child: protected and retained on delete when ``protect`` is set.

    ``protect`` makes `pulumi destroy` refuse; ``retain_on_delete`` keeps the data even if the
    resource is removed from the program after someone unprotects it.
    """
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect, **kwargs)


def policy_json(statements: Sequence[Mapping[str, Any]]) -> str:
    """An IAM policy document with stable key order (so diffs stay quiet)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def assume_role_policy(
    principal: Mapping[str, Any], *, action: str = "sts:AssumeRole", condition: Mapping[str, Any] | None = None
) -> str:
    """A trust policy with one statement."""
    stmt: dict[str, Any] = {"Effect": "Allow", "Principal": dict(principal), "Action": action}
    if condition:
        stmt["Condition"] = dict(condition)
    return policy_json([stmt])


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> str:
    """Trust policy for IAM Roles for Service Accounts: one namespace/service account, audience sts.

    ``oidc_issuer`` is the issuer URL without ``https://``. Pinning both ``sub`` and ``aud``
    follows https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html.
    """
    return assume_role_policy(
        {"Federated": oidc_provider_arn},
        action="sts:AssumeRoleWithWebIdentity",
        condition={
            "StringEquals": {
                f"{oidc_issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{oidc_issuer}:aud": "sts.amazonaws.com",
            }
        },
    )


@dataclass(frozen=True)
class Irsa:
    """What a component needs to create IRSA roles: the cluster's OIDC provider."""

    provider_arn: pulumi.Output[str]
    """ARN of the cluster's IAM OIDC provider."""
    issuer: pulumi.Output[str]
    """Issuer host and path, without ``https://``."""
    permissions_boundary: pulumi.Input[str] | None = None
    """Permissions boundary of every IRSA role (see ``ClusterArgs.permissions_boundary``)."""
    path: str = "/"
    """IAM path of every IRSA role and of the policies made for them (see ``ClusterArgs.iam_path``)."""


def irsa_role(
    name: str,
    irsa: Irsa,
    namespace: str,
    service_account: str,
    *,
    parent: pulumi.Resource,
    policy: pulumi.Input[str] | None = None,
    managed_policy_arns: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
) -> aws.iam.Role:
    """An IAM role only ``namespace/service_account`` can assume, with an inline policy and/or managed ones."""
    role = aws.iam.Role(
        name,
        assume_role_policy=pulumi.Output.all(irsa.provider_arn, irsa.issuer).apply(
            lambda a: irsa_trust_policy(a[0], a[1], namespace, service_account)
        ),
        path=irsa.path,
        permissions_boundary=irsa.permissions_boundary,
        tags=dict(tags or {}),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    if policy is not None:
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy, opts=pulumi.ResourceOptions(parent=parent))
    for i, arn in enumerate(managed_policy_arns):
        aws.iam.RolePolicyAttachment(
            f"{name}-attach-{i}", role=role.name, policy_arn=arn, opts=pulumi.ResourceOptions(parent=parent)
        )
    return role


def customer_managed_key(
    name: str,
    *,
    parent: pulumi.Resource,
    description: str,
    alias: str,
    account_id: str,
    protect: bool,
    deletion_window_days: int = 30,
    tags: Mapping[str, str] | None = None,
) -> aws.kms.Key:
    """A symmetric KMS key that rotates yearly, with an alias; protected and retained when ``protect``.

    The key policy is AWS's default, stated explicitly: the account administers the key and IAM
    policies grant its use, so no principal outside the account and no ``*`` principal appears
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
    """
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=deletion_window_days,
        policy=policy_json(
            [
                {
                    "Sid": "EnableIamPolicies",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ]
        ),
        tags={**(tags or {}), "Name": name},
        opts=retained(parent, protect),
    )
    aws.kms.Alias(f"{name}-alias", name=f"alias/{alias}", target_key_id=key.key_id, opts=retained(parent, protect))
    return key
