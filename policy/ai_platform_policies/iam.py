"""IAM: policies, IRSA and GitHub OIDC trust, no users or access keys (catalogue §3.6, IAM-01…08)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    PolicyList,
    ReportViolation,
    allows,
    as_list,
    principals,
    statements,
)

POLICY = "aws:iam/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
USER_TYPES = [
    "aws:iam/user:User",
    "aws:iam/accessKey:AccessKey",
    "aws:iam/userLoginProfile:UserLoginProfile",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
]
ADMIN_POLICIES = ("AdministratorAccess", "IAMFullAccess")
ESCALATION_ACTIONS = (
    "iam:passrole",
    "iam:createpolicyversion",
    "iam:setdefaultpolicyversion",
    "iam:attachrolepolicy",
    "iam:attachuserpolicy",
    "iam:putrolepolicy",
    "iam:putuserpolicy",
    "iam:updateassumerolepolicy",
    "iam:createaccesskey",
    "iam:createloginprofile",
    "sts:assumerole",
)
NON_RESTRICTABLE = [
    "ecr:GetAuthorizationToken",
    "sts:GetCallerIdentity",
    "ec2:Describe*",
    "elasticloadbalancing:Describe*",
    "autoscaling:Describe*",
    "eks:DescribeAddonVersions",
    "acm:ListCertificates",
    "acm:DescribeCertificate",
    "wafv2:GetWebACL*",
    "shield:GetSubscriptionState",
    "cognito-idp:DescribeUserPoolClient",
    "iam:ListServerCertificates",
    "iam:GetServerCertificate",
    "waf-regional:GetWebACL*",
    "ec2:GetSecurityGroupsForVpc",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "ec2:GetCoipPoolUsage",
    "kms:ListAliases",
]

POLICY_TYPES = [POLICY, ROLE_POLICY]
_ADVICE = "scope the statement in the component that builds the policy (components/*.py)"


POLICIES = PolicyList()


def _stmts(args: ResourceValidationArgs) -> list[Mapping[str, Any]]:
    return [s for s in statements(args.props.get("policy")) if allows(s)]


def _actions(stmt: Mapping[str, Any]) -> list[str]:
    return [str(a) for a in as_list(stmt.get("Action"))]


def _resources(stmt: Mapping[str, Any]) -> list[str]:
    return [str(r) for r in as_list(stmt.get("Resource"))]


@POLICIES.resource(
    "iam-policy-no-admin",
    "No policy grants Action '*' on Resource '*' (IAM-01; CKV_AWS_1/62/63).",
    Severity.CRITICAL,
    POLICY_TYPES,
)
def _no_admin(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No policy statement allows Action '*' on Resource '*'."""
    for st in _stmts(args):
        if any(a in ("*", "*:*") for a in _actions(st)) and "*" in _resources(st):
            report(f"IAM policy '{args.name}' grants Action '*' on Resource '*' (full admin): {_ADVICE}")


@POLICIES.resource(
    "iam-policy-no-full-iam",
    "No iam:* grants and no AdministratorAccess/IAMFullAccess attachments (IAM-02; CKV2_AWS_40, CKV_AWS_274).",
    Severity.CRITICAL,
    [*POLICY_TYPES, ATTACHMENT, POLICY_ATTACHMENT, ROLE],
)
def _no_iam_wildcard(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No statement allows iam:* (or *), and nothing attaches AdministratorAccess or IAMFullAccess."""
    t, p = args.resource_type, args.props
    if t in POLICY_TYPES:
        for st in _stmts(args):
            bad = [a for a in _actions(st) if a.lower() in ("iam:*", "*")]
            if bad:
                report(f"IAM policy '{args.name}' grants {bad[0]} (full IAM control): {_ADVICE}")
        return
    arns = (
        [str(p.get("policyArn") or "")]
        if t in (ATTACHMENT, POLICY_ATTACHMENT)
        else [str(a) for a in as_list(p.get("managedPolicyArns"))]
    )
    for arn in arns:
        if arn.rsplit("/", 1)[-1] in ADMIN_POLICIES and ":aws:policy/" in arn:
            report(f"'{args.name}' attaches {arn}: grant the specific actions the workload needs instead")


@POLICIES.resource(
    "iam-policy-no-privilege-escalation",
    "No unscoped privilege-escalation actions such as iam:PassRole on '*' (IAM-03; CKV_AWS_110/286).",
    Severity.HIGH,
    POLICY_TYPES,
)
def _no_escalation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Privilege-escalation actions are never allowed on Resource '*' without a Condition."""
    for st in _stmts(args):
        if "*" not in _resources(st) or st.get("Condition"):
            continue
        for a in _actions(st):
            if any(fnmatch.fnmatch(e, a.lower()) for e in ESCALATION_ACTIONS):
                report(
                    f"IAM policy '{args.name}' allows privilege escalation ({a} on Resource '*'): name the exact "
                    f"roles/policies in Resource, or add a condition; {_ADVICE}"
                )
                break


@POLICIES.resource(
    "iam-policy-resource-scoped",
    "Resource '*' only for actions that cannot be scoped (IAM-04; CKV_AWS_355/356).",
    Severity.MEDIUM,
    POLICY_TYPES,
    config={
        "nonRestrictableActions": {
            "type": "array",
            "items": {"type": "string"},
            "default": NON_RESTRICTABLE,
            "description": "Action patterns that AWS does not let you scope to a resource ARN.",
        },
        "exemptPolicies": {
            "type": "array",
            "default": [],
            "description": "Policies (by resource name) taken verbatim from an upstream project, each "
            "`{name, reason}`; they are reviewed upstream and re-synced on upgrade.",
        },
    },
)
def _resource_star(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Resource '*' without a Condition only for the configured non-restrictable actions."""
    cfg = args.get_config()
    if any(e.get("name") == args.name and e.get("reason") for e in as_list(cfg.get("exemptPolicies"))):
        return
    allowed = [str(a).lower() for a in as_list(cfg.get("nonRestrictableActions"))]
    for st in _stmts(args):
        if "*" not in _resources(st) or st.get("Condition"):
            continue
        scoped = [a for a in _actions(st) if not any(fnmatch.fnmatch(a.lower(), pat) for pat in allowed)]
        if scoped:
            shown = ", ".join(scoped[:4]) + (" …" if len(scoped) > 4 else "")
            report(
                f"IAM policy '{args.name}' grants {shown} on Resource '*' without a condition: list the ARNs "
                f"(or add an aws:ResourceTag condition); {_ADVICE}"
            )


def _trust_statements(args: ResourceValidationArgs) -> list[Mapping[str, Any]]:
    return [s for s in statements(args.props.get("assumeRolePolicy")) if allows(s)]


def _conditions(stmt: Mapping[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """``{condition key: (operator, values)}``."""
    out: dict[str, tuple[str, list[str]]] = {}
    cond = stmt.get("Condition") or {}
    for op in cond:
        block = cond[op]
        if isinstance(block, Mapping):
            for k in block:
                out[str(k)] = (str(op), [str(v) for v in as_list(block[k])])
    return out


@POLICIES.resource(
    "iam-role-irsa-trust-scoped",
    "IRSA trust pins one namespace/service account and the sts audience (IAM-05; CKV_AWS_60/61).",
    Severity.HIGH,
    [ROLE],
)
def _irsa_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """IRSA trust policies pin one system:serviceaccount:<ns>:<sa> subject and the sts audience."""
    for st in _trust_statements(args):
        feds = [v for k, v in principals(st) if k == "Federated" and "oidc.eks." in v]
        if not feds:
            continue
        cond = _conditions(st)
        sub = next(((op, v) for k, (op, v) in cond.items() if k.endswith(":sub")), None)
        aud = next(((op, v) for k, (op, v) in cond.items() if k.endswith(":aud")), None)
        if (
            sub is None
            or sub[0] != "StringEquals"
            or not all(s.startswith("system:serviceaccount:") and "*" not in s and s.count(":") == 3 for s in sub[1])
        ):
            report(
                f"IRSA role '{args.name}' can be assumed by service accounts beyond one namespace/name: set "
                "Condition StringEquals '<issuer>:sub': 'system:serviceaccount:<ns>:<sa>' "
                "(components/_common.py irsa_trust_policy)"
            )
        if aud is None or aud[1] != ["sts.amazonaws.com"]:
            report(
                f"IRSA role '{args.name}' does not pin the token audience: set Condition StringEquals "
                "'<issuer>:aud': 'sts.amazonaws.com' (components/_common.py irsa_trust_policy)"
            )


# One repository, and one environment, branch, tag or the pull_request context (fork PRs get no
# OIDC token). No wildcards: `repo:org/*` lets any repository of the org assume the role.
_GH_SUB = re.compile(
    r"^repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+:"
    r"(environment:[A-Za-z0-9_.-]+|ref:refs/(heads|tags)/[A-Za-z0-9_./-]+|pull_request)$"
)


@POLICIES.resource(
    "iam-role-github-oidc-trust-pinned",
    "GitHub OIDC trust pins repository and branch/environment and the audience (IAM-06; CKV_AWS_358/393).",
    Severity.CRITICAL,
    [ROLE],
)
def _github_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """GitHub OIDC trust policies pin one repository's branch, environment or pull_request and the audience."""
    for st in _trust_statements(args):
        feds = [v for k, v in principals(st) if k == "Federated" and "token.actions.githubusercontent.com" in v]
        if not feds:
            continue
        cond = _conditions(st)
        sub = cond.get("token.actions.githubusercontent.com:sub")
        aud = cond.get("token.actions.githubusercontent.com:aud")
        ok_sub = sub is not None and all(_GH_SUB.match(v) for v in sub[1])
        if not ok_sub:
            report(
                f"GitHub OIDC role '{args.name}' trusts {sub[1] if sub else 'any repository'}: pin "
                "token.actions.githubusercontent.com:sub to 'repo:<org>/<repo>:environment:<env>' or "
                "'repo:<org>/<repo>:ref:refs/heads/main' (CKV_AWS_358)"
            )
        if aud is None or aud[1] != ["sts.amazonaws.com"]:
            report(
                f"GitHub OIDC role '{args.name}' does not pin the audience: set "
                "token.actions.githubusercontent.com:aud: sts.amazonaws.com"
            )


@POLICIES.resource(
    "iam-role-trust-no-wildcard-principal",
    "No role can be assumed by Principal '*' (CKV_AWS_60/283).",
    Severity.CRITICAL,
    [ROLE],
)
def _no_wildcard_principal(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No trust policy lets Principal '*' assume a role."""
    for st in _trust_statements(args):
        if any(v == "*" for _, v in principals(st)) and not st.get("Condition"):
            report(f"role '{args.name}' can be assumed by any AWS principal ('*'): name the trusted principal")


@POLICIES.stack(
    "iam-role-no-mixed-policy-management",
    "A role's policies are managed inline or by attachments, never both (IAM-07; AWSGuard).",
    Severity.MEDIUM,
)
def _no_mixed(args: StackValidationArgs, report: ReportViolation) -> None:
    """A role with inline policies has no separate policy attachments."""
    for r in args.resources:
        if r.resource_type not in (ATTACHMENT, ROLE_POLICY):
            continue
        for d in r.property_dependencies.get("role", []):
            if d.resource_type == ROLE and (d.props.get("managedPolicyArns") or d.props.get("inlinePolicies")):
                report(
                    f"role '{d.name}' sets managedPolicyArns/inlinePolicies and also has '{r.name}': Pulumi removes "
                    "one on every update; use attachment resources only",
                    r.urn,
                )


_GITHUB_OIDC = "token.actions.githubusercontent.com"


def _assumable_from_github(role: Any) -> bool:
    return any(
        _GITHUB_OIDC in v
        for st in statements(role.props.get("assumeRolePolicy"))
        if allows(st)
        for k, v in principals(st)
        if k == "Federated"
    )


@POLICIES.stack(
    "iam-role-permissions-boundary",
    "Every IAM role carries the deploy identity's permissions boundary when a CI role manages IAM (IAM-09).",
    Severity.CRITICAL,
)
def _boundary_everywhere(args: StackValidationArgs, report: ReportViolation) -> None:
    """Once a CI identity can manage IAM, every role must sit under one boundary (docs/adr/0007)."""
    roles = [r for r in args.resources if r.resource_type == ROLE]
    ci = [r for r in roles if _assumable_from_github(r)]
    if not ci:
        return
    boundaries = {str(r.props.get("permissionsBoundary")) for r in ci if r.props.get("permissionsBoundary")}
    for r in roles:
        boundary = r.props.get("permissionsBoundary")
        if not boundary:
            report(
                f"IAM role '{r.name}' has no permissions boundary: pass DeployIdentity.boundary_arn as "
                "permissions_boundary in the component that creates it (the CI deploy role may manage only "
                "roles under the boundary, and a role without one is a way past it)",
                r.urn,
            )
        elif len(boundaries) == 1 and str(boundary) not in boundaries:
            report(
                f"IAM role '{r.name}' has permissions boundary {boundary}, not the deploy identity's "
                f"{next(iter(boundaries))}: use DeployIdentity.boundary_arn",
                r.urn,
            )


def _pull_request_subjects(role: Any) -> bool:
    for st in statements(role.props.get("assumeRolePolicy")):
        if not allows(st) or not any(_GITHUB_OIDC in v for k, v in principals(st) if k == "Federated"):
            continue
        sub = _conditions(st).get(f"{_GITHUB_OIDC}:sub")
        if sub is None or any(v.endswith(":pull_request") or "*" in v or "?" in v for v in sub[1]):
            return True
    return False


def _decrypts(policy: Any) -> bool:
    return any(
        fnmatch.fnmatch("kms:decrypt", a.lower()) for st in statements(policy) if allows(st) for a in _actions(st)
    )


@POLICIES.stack(
    "iam-pull-request-role-no-decrypt",
    "No role a pull_request run can assume can decrypt with KMS (IAM-10; the stack's secrets).",
    Severity.CRITICAL,
)
def _pr_roles_no_decrypt(args: StackValidationArgs, report: ReportViolation) -> None:
    """Code from a pull request runs unreviewed: a role it can assume must not decrypt (docs/adr/0007)."""
    pr_roles = {r.urn for r in args.resources if r.resource_type == ROLE and _pull_request_subjects(r)}
    for r in args.resources:
        if r.resource_type != ROLE_POLICY and r.resource_type != ATTACHMENT:
            continue
        roles = [d for d in r.property_dependencies.get("role", []) if d.urn in pr_roles]
        if not roles:
            continue
        policy = r.props.get("policy")
        if r.resource_type == ATTACHMENT:
            arn = str(r.props.get("policyArn") or "")
            attached = [p for d in r.property_dependencies.get("policyArn", []) for p in [d.props.get("policy")]]
            decrypts = any(_decrypts(p) for p in attached) or arn.endswith(
                (":policy/AdministratorAccess", ":policy/PowerUserAccess")
            )
        else:
            decrypts = _decrypts(policy)
        if decrypts:
            report(
                f"role '{roles[0].name}' can be assumed from a pull_request run and '{r.name}' grants kms:Decrypt: "
                "trust a GitHub Environment with required reviewers (repo:<org>/<repo>:environment:<env>-preview) "
                "instead of pull_request, or drop the decrypt grant",
                r.urn,
            )


@POLICIES.resource(
    "iam-no-users-or-access-keys",
    "The platform creates no IAM users, login profiles or access keys (IAM-08).",
    Severity.HIGH,
    USER_TYPES,
)
def _no_users(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The stack creates no IAM users, login profiles or access keys."""
    report(
        f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}': the platform uses roles only (CI assumes a role "
        "through GitHub OIDC, pods through IRSA); remove the IAM user/access key"
    )
