"""Fixture rows of the policies in policy/ai_platform_policies/iam.py, registered into CASES."""

from __future__ import annotations

from typing import Any

from tests.policy.cases_common import (
    ATTACH,
    IAM_POLICY,
    NODE_ROLE,
    ROLE,
    ROLE_POLICY,
    USER,
    case,
    doc,
)
from tests.policy.harness import R


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


SCOPED = doc(allow(["s3:GetObject"], "arn:aws:s3:::bucket/*"), allow("ecr:GetAuthorizationToken"))
case(
    "iam-policy-no-admin",
    R(ROLE_POLICY, {"role": "r", "policy": SCOPED}),
    R(ROLE_POLICY, {"role": "r", "policy": doc(allow("*"))}),
    "grants Action '*' on Resource '*' (full admin)",
    R(ROLE_POLICY, {"role": "r"}),
    False,
)
case(
    "iam-policy-no-full-iam",
    R(IAM_POLICY, {"policy": SCOPED}),
    R(IAM_POLICY, {"policy": doc(allow("iam:*", "arn:aws:iam::1:role/x"))}),
    "(full IAM control)",
    R(IAM_POLICY, {}),
    False,
)
case(
    "iam-policy-no-privilege-escalation",
    R(IAM_POLICY, {"policy": doc(allow("iam:PassRole", "arn:aws:iam::1:role/app"))}),
    R(IAM_POLICY, {"policy": doc(allow("iam:PassRole"))}),
    "name the exact roles/policies in Resource",
    R(IAM_POLICY, {"policy": doc({"Effect": "Allow", "Action": "iam:PassRole"})}),
    False,
)
case(
    "iam-policy-resource-scoped",
    R(IAM_POLICY, {"policy": SCOPED}),
    R(IAM_POLICY, {"policy": doc(allow("s3:GetObject"))}),
    "list the ARNs (or add an aws:ResourceTag condition)",
    R(IAM_POLICY, {}),
    False,
)
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/ABC"


def irsa_trust(sub: str = "system:serviceaccount:serving:llama", op: str = "StringEquals", aud: bool = True) -> str:
    cond = {f"{ISSUER}:sub": sub, **({f"{ISSUER}:aud": "sts.amazonaws.com"} if aud else {})}
    return doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{ISSUER}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {op: cond},
        }
    )


case(
    "iam-role-irsa-trust-scoped",
    R(ROLE, {"assumeRolePolicy": irsa_trust()}),
    R(ROLE, {"assumeRolePolicy": irsa_trust("system:serviceaccount:serving:*", "StringLike")}),
    "'<issuer>:sub': 'system:serviceaccount:<ns>:<sa>'",
    R(
        ROLE,
        {
            "assumeRolePolicy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{ISSUER}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            )
        },
    ),
    True,
)
GH = "token.actions.githubusercontent.com"


def gh_trust(sub: str) -> str:
    return doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{GH}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{GH}:sub": sub, f"{GH}:aud": "sts.amazonaws.com"}},
        }
    )


case(
    "iam-role-github-oidc-trust-pinned",
    R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:environment:prod")}),
    R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/*")}),
    "repo:<org>/<repo>:environment:<env>",
    R(
        ROLE,
        {
            "assumeRolePolicy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{GH}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            )
        },
    ),
    True,
)
case(
    "iam-role-trust-no-wildcard-principal",
    NODE_ROLE,
    R(ROLE, {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})}),
    "name the trusted principal",
    R(ROLE, {}),
    False,
)
case(
    "iam-role-no-mixed-policy-management",
    [
        R(ROLE, {"assumeRolePolicy": "{}"}, "role"),
        R(ATTACH, {"policyArn": "arn:aws:iam::aws:policy/X"}, "att", deps={"role": ["role"]}),
    ],
    [
        R(ROLE, {"assumeRolePolicy": "{}", "managedPolicyArns": ["arn:aws:iam::aws:policy/Y"]}, "role"),
        R(ATTACH, {"policyArn": "arn:aws:iam::aws:policy/X"}, "att", deps={"role": ["role"]}),
    ],
    "use attachment resources only",
    [R(ROLE, {}, "role"), R(ATTACH, {}, "att")],
    False,
)
BOUNDARY = "arn:aws:iam::111111111111:policy/ai-platform-boundary-dev"
CI_ROLE = R(
    ROLE,
    {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:environment:dev"), "permissionsBoundary": BOUNDARY},
    "deploy",
)
NODE_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
case(
    "iam-role-permissions-boundary",
    [CI_ROLE, R(ROLE, {"assumeRolePolicy": NODE_TRUST, "permissionsBoundary": BOUNDARY}, "node")],
    [CI_ROLE, R(ROLE, {"assumeRolePolicy": NODE_TRUST}, "node")],
    "has no permissions boundary: pass DeployIdentity.boundary_arn",
    [CI_ROLE, R(ROLE, {}, "node")],
    True,
)
DECRYPT = doc({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "arn:aws:kms:us-west-2:1:key/*"})
case(
    "iam-pull-request-role-no-decrypt",
    [
        R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:environment:dev-preview")}, "preview"),
        R(ROLE_POLICY, {"policy": DECRYPT}, "state", deps={"role": ["preview"]}),
    ],
    [
        R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:pull_request")}, "preview"),
        R(ROLE_POLICY, {"policy": DECRYPT}, "state", deps={"role": ["preview"]}),
    ],
    "can be assumed from a pull_request run and 'state' grants kms:Decrypt",
    [
        R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:pull_request")}, "preview"),
        R(ROLE_POLICY, {}, "state", deps={"role": ["preview"]}),
    ],
    False,
)
case(
    "iam-no-users-or-access-keys",
    R(ROLE, {}),
    R(USER, {"name": "ci"}),
    "remove the IAM user/access key",
    R(USER, {}),
    True,
)
