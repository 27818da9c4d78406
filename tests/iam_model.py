"""A small model of IAM policy evaluation, and the known privilege-escalation primitives, for analysing the
deploy identity's own policies offline.

Evaluation follows the documented logic for one account
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an explicit
deny in the identity policies or the permissions boundary wins; otherwise the request needs an allow in the
identity policies AND, when the principal has a boundary, an allow in the boundary. Condition operators the
model does not know raise instead of being skipped, so a new operator cannot make a statement look inert.

The primitives are Rhino Security Labs' list of AWS IAM privilege-escalation methods, plus the later
additions of the same kind (running code in existing compute, EKS access entries), each expressed as the
API calls an attacker makes against a target that would take them past their own ceiling.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Statement = Mapping[str, Any]

# AWS managed policies the deploy identity attaches, as AWS publishes them (PowerUserAccess), or as a
# conservative superset (ReadOnlyAccess: every read verb of every service, which the real policy is a
# subset of), so the analysis over-approximates and cannot miss a write it grants. The superset leaves out
# the reads the real ReadOnlyAccess does not grant and the platform depends on being granted explicitly
# (``ExceptAction``, a model-only key: secretsmanager:GetSecretValue/BatchGetSecretValue, which would
# otherwise hide a missing grant); kms:Decrypt is not a read verb here either.
MANAGED: dict[str, list[Statement]] = {
    "arn:aws:iam::aws:policy/PowerUserAccess": [
        {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": [
                "account:GetAccountInformation",
                "account:GetPrimaryEmail",
                "account:ListRegions",
                "iam:CreateServiceLinkedRole",
                "iam:DeleteServiceLinkedRole",
                "iam:ListRoles",
                "organizations:DescribeOrganization",
            ],
            "Resource": "*",
        },
    ],
    "arn:aws:iam::aws:policy/ReadOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [f"*:{verb}*" for verb in ("Get", "List", "Describe", "BatchGet", "Search", "Lookup", "View")],
            "ExceptAction": ["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"],
            "Resource": "*",
        }
    ],
}


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _match(pattern: str, value: str, *, case: bool) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


@dataclass(frozen=True)
class Request:
    """One API call: action, target ARN and the request context (condition keys, case-insensitive)."""

    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)

    def value(self, key: str) -> list[str] | None:
        for k, v in self.context.items():
            if k.lower() == key.lower():
                return [str(x) for x in _as_list(v)]
        return None


_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}
_POSITIVE = {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool"}


def _operator_holds(op: str, key: str, wanted: list[str], req: Request) -> bool:
    present = req.value(key)
    if op == "Null":
        return (present is None) == (wanted[0].lower() == "true")
    qualifier, _, base = op.rpartition(":")
    base = base.removesuffix("IfExists")
    if base not in _NEGATED | _POSITIVE:
        raise ValueError(f"condition operator {op!r} is not modelled")
    if present is None:
        if op.endswith("IfExists") or qualifier == "ForAllValues":
            return True
        return base in _NEGATED
    if base in ("StringEquals", "ArnEquals", "Bool"):
        hits = [p in wanted for p in present]
    elif base == "StringEqualsIgnoreCase":
        hits = [p.lower() in [w.lower() for w in wanted] for p in present]
    elif base in ("StringLike", "ArnLike"):
        hits = [any(_match(w, p, case=True) for w in wanted) for p in present]
    elif base in ("StringNotEquals", "ArnNotEquals"):
        hits = [p not in wanted for p in present]
    else:  # StringNotLike, ArnNotLike
        hits = [not any(_match(w, p, case=True) for w in wanted) for p in present]
    if qualifier == "ForAllValues":
        return all(hits)
    return any(hits) if qualifier == "ForAnyValue" or len(hits) == 1 else all(hits)


def _conditions_hold(stmt: Statement, req: Request) -> bool:
    for op, block in (stmt.get("Condition") or {}).items():
        for key, wanted in block.items():
            if not _operator_holds(op, key, [str(w) for w in _as_list(wanted)], req):
                return False
    return True


def applies(stmt: Statement, req: Request) -> bool:
    """Whether ``stmt`` matches the request's action, resource and conditions."""
    if "NotAction" in stmt:
        if any(_match(a, req.action, case=False) for a in _as_list(stmt["NotAction"])):
            return False
    elif not any(_match(a, req.action, case=False) for a in _as_list(stmt.get("Action"))):
        return False
    if any(_match(a, req.action, case=False) for a in _as_list(stmt.get("ExceptAction"))):
        return False
    if "NotResource" in stmt:
        if any(_match(r, req.resource, case=True) for r in _as_list(stmt["NotResource"])):
            return False
    elif not any(_match(r, req.resource, case=True) for r in _as_list(stmt.get("Resource"))):
        return False
    return _conditions_hold(stmt, req)


@dataclass(frozen=True)
class Principal:
    """An identity's policies: identity statements (inline + managed) and its boundary (None: no boundary)."""

    name: str
    identity: Sequence[Statement]
    boundary: Sequence[Statement] | None

    def allowed(self, req: Request) -> bool:
        everything = [*self.identity, *(self.boundary or [])]
        if any(s.get("Effect") == "Deny" and applies(s, req) for s in everything):
            return False
        if not any(s.get("Effect") == "Allow" and applies(s, req) for s in self.identity):
            return False
        return self.boundary is None or any(s.get("Effect") == "Allow" and applies(s, req) for s in self.boundary)


def statements_of(document: str | Mapping[str, Any]) -> list[Statement]:
    doc = json.loads(document) if isinstance(document, str) else document
    return list(_as_list(doc.get("Statement")))


# ------------------------------------------------------------------------------- targets and primitives
@dataclass(frozen=True)
class Target:
    """A resource an attacker aims at, with what IAM sees of it in a request."""

    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)
    boundary: str | None = None
    """For roles: the boundary attached to them (``iam:PermissionsBoundary`` of role-permission calls)."""


# Calls whose `iam:PermissionsBoundary` is the role's current boundary (or, for CreateRole and
# PutRolePermissionsBoundary, the one in the request).
BOUNDARY_KEYED = {
    "iam:attachrolepolicy",
    "iam:detachrolepolicy",
    "iam:putrolepolicy",
    "iam:deleterolepolicy",
    "iam:putrolepermissionsboundary",
    "iam:deleterolepermissionsboundary",
    "iam:createrole",
}


def request(
    action: str,
    target: Target,
    *,
    request_tags: Mapping[str, str] | None = None,
    requested_boundary: str | None = None,
) -> Request:
    ctx: dict[str, str | Sequence[str]] = {f"aws:ResourceTag/{k}": v for k, v in target.tags.items()}
    tags = dict(request_tags or {})
    ctx.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
    if tags:
        ctx["aws:TagKeys"] = sorted(tags)
    if action.lower() in BOUNDARY_KEYED:
        boundary = (
            requested_boundary
            if action.lower() in ("iam:createrole", "iam:putrolepermissionsboundary")
            else target.boundary
        )
        if boundary:
            ctx["iam:PermissionsBoundary"] = boundary
    return Request(action, target.arn, ctx)


# Tags sent with a Create* call are authorised twice: by the Create* action and by the Tag* action of the
# resource type, on the resource being created (which has no tags yet, so aws:ResourceTag is absent)
# ("Permissions required to tag IAM resources", https://docs.aws.amazon.com/IAM/latest/UserGuide/access_iam-tags.html).
# Pulumi and Terraform always send the provider's default tags, so a create without the Tag* grant fails.
TAG_ON_CREATE = {
    "iam:createrole": "iam:TagRole",
    "iam:createpolicy": "iam:TagPolicy",
    "iam:createinstanceprofile": "iam:TagInstanceProfile",
    "iam:createopenidconnectprovider": "iam:TagOpenIDConnectProvider",
}


def create_requests(
    action: str, target: Target, *, request_tags: Mapping[str, str], requested_boundary: str | None = None
) -> list[Request]:
    """The requests IAM authorises for a create with tags: the Create* call and, with tags, its Tag* call."""
    new = Target(target.arn)  # a resource being created carries no tags yet
    out = [request(action, new, request_tags=request_tags, requested_boundary=requested_boundary)]
    tag_action = TAG_ON_CREATE.get(action.lower())
    if tag_action and request_tags:
        out.append(request(tag_action, new, request_tags=request_tags))
    return out


def iam_arn(account: str, kind: str, path: str | None, name: str) -> str:
    """``arn:aws:iam::<account>:<kind><path><name>``: IAM ARNs of roles, policies and instance profiles
    include the path (``role/ai-platform/x``); policies' ``Resource`` patterns match it like any other part."""
    return f"arn:aws:iam::{account}:{kind}{path or '/'}{name}"


@dataclass(frozen=True)
class Step:
    action: str
    target: str
    """Key into the target table."""
    requested_boundary: str | None = None
    """Key into the target table (a policy) for CreateRole/PutRolePermissionsBoundary; None: none given."""


@dataclass(frozen=True)
class Primitive:
    name: str
    steps: tuple[Step, ...]


def _p(name: str, *steps: tuple[str, str] | tuple[str, str, str]) -> Primitive:
    return Primitive(name, tuple(Step(*s) for s in steps))


def escalation_primitives(identity_roles: Iterable[str]) -> list[Primitive]:
    """Every escalation route to check; ``identity_roles`` are target keys of roles that anchor trust
    (the deploy and preview roles): changing their permissions or trust is itself an escalation."""
    out = [
        # Rhino 1-2: a new default version of a policy that grants more (a foreign one, or the boundary).
        _p("CreatePolicyVersion on a foreign policy", ("iam:CreatePolicyVersion", "foreign_policy")),
        _p("CreatePolicyVersion on the boundary", ("iam:CreatePolicyVersion", "boundary_policy")),
        _p("SetDefaultPolicyVersion on a foreign policy", ("iam:SetDefaultPolicyVersion", "foreign_policy")),
        _p("SetDefaultPolicyVersion on the boundary", ("iam:SetDefaultPolicyVersion", "boundary_policy")),
        _p("DeletePolicy on the boundary", ("iam:DeletePolicy", "boundary_policy")),
        # Rhino 3, 15, 16, 18, 20, 21: pass a privileged role to a service that runs attacker code.
        *[
            _p(f"PassRole + {svc}", ("iam:PassRole", "foreign_role"), (svc, "any"))
            for svc in (
                "ec2:RunInstances",
                "lambda:CreateFunction",
                "glue:CreateDevEndpoint",
                "cloudformation:CreateStack",
                "datapipeline:CreatePipeline",
                "sagemaker:CreateNotebookInstance",
                "codebuild:CreateProject",
                "ecs:RunTask",
                "eks:CreatePodIdentityAssociation",
            )
        ],
        # Rhino 4-8, 10, 11, 13: users and groups.
        _p("CreateAccessKey", ("iam:CreateAccessKey", "user")),
        _p("CreateLoginProfile", ("iam:CreateLoginProfile", "user")),
        _p("UpdateLoginProfile", ("iam:UpdateLoginProfile", "user")),
        _p("AttachUserPolicy", ("iam:AttachUserPolicy", "user")),
        _p("PutUserPolicy", ("iam:PutUserPolicy", "user")),
        _p("AttachGroupPolicy", ("iam:AttachGroupPolicy", "group")),
        _p("PutGroupPolicy", ("iam:PutGroupPolicy", "group")),
        _p("AddUserToGroup", ("iam:AddUserToGroup", "user")),
        _p("CreateUser", ("iam:CreateUser", "user")),
        # Rhino 9, 12, 14: more permissions on, or trust into, a role outside the ceiling.
        _p("AttachRolePolicy on a foreign role", ("iam:AttachRolePolicy", "foreign_role")),
        _p("PutRolePolicy on a foreign role", ("iam:PutRolePolicy", "foreign_role")),
        _p("UpdateAssumeRolePolicy on a foreign role", ("iam:UpdateAssumeRolePolicy", "foreign_role")),
        _p("Tag a foreign role into the project", ("iam:TagRole", "foreign_role")),
        _p("Tag a foreign policy into the project", ("iam:TagPolicy", "foreign_policy")),
        _p("Tag a foreign instance profile into the project", ("iam:TagInstanceProfile", "foreign_instance_profile")),
        _p("Attach a policy to an unbounded project role", ("iam:AttachRolePolicy", "unbounded_project_role")),
        _p("PutRolePolicy on an unbounded project role", ("iam:PutRolePolicy", "unbounded_project_role")),
        # Escaping the boundary itself.
        _p("CreateRole without a boundary", ("iam:CreateRole", "new_role"), ("iam:PutRolePolicy", "new_role")),
        _p("CreateRole with another boundary", ("iam:CreateRole", "new_role", "foreign_policy")),
        _p("Swap a role's boundary", ("iam:PutRolePermissionsBoundary", "platform_role", "foreign_policy")),
        _p("Remove a role's boundary", ("iam:DeleteRolePermissionsBoundary", "platform_role")),
        # Rhino 17, 19 and successors: run code in existing compute that runs as another role.
        _p("lambda:UpdateFunctionCode", ("lambda:UpdateFunctionCode", "foreign_function")),
        _p("lambda:UpdateFunctionConfiguration", ("lambda:UpdateFunctionConfiguration", "foreign_function")),
        _p("glue:UpdateDevEndpoint", ("glue:UpdateDevEndpoint", "any")),
        _p("ssm:SendCommand", ("ssm:SendCommand", "foreign_instance")),
        _p("ssm:StartSession", ("ssm:StartSession", "foreign_instance")),
        _p("ec2-instance-connect:SendSSHPublicKey", ("ec2-instance-connect:SendSSHPublicKey", "foreign_instance")),
        _p("ec2:ModifyInstanceAttribute user data", ("ec2:ModifyInstanceAttribute", "foreign_instance")),
        _p("codebuild:StartBuild", ("codebuild:StartBuild", "any")),
        _p("sagemaker:CreatePresignedNotebookInstanceUrl", ("sagemaker:CreatePresignedNotebookInstanceUrl", "any")),
        _p("ecs:ExecuteCommand", ("ecs:ExecuteCommand", "any")),
        _p("cloudformation:UpdateStack", ("cloudformation:UpdateStack", "any")),
        _p("EKS admin entry on a foreign cluster", ("eks:CreateAccessEntry", "foreign_cluster")),
        _p("EKS admin policy on a foreign cluster", ("eks:AssociateAccessPolicy", "foreign_cluster")),
    ]
    for role in identity_roles:
        for action in (
            "iam:AttachRolePolicy",
            "iam:PutRolePolicy",
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePermissionsBoundary",
            "iam:DeleteRolePermissionsBoundary",
            "iam:DeleteRole",
        ):
            out.append(_p(f"{action} on the {role}", (action, role, "foreign_policy")))
    return out


def step_allowed(principal: Principal, step: Step, targets: Mapping[str, Target], project_tag: tuple[str, str]) -> bool:
    """Whether ``principal`` can make the call, choosing the most helpful request (it adds the project tag)."""
    boundary = targets[step.requested_boundary].arn if step.requested_boundary else None
    req = request(step.action, targets[step.target], request_tags=dict([project_tag]), requested_boundary=boundary)
    return principal.allowed(req)


def escalation_paths(
    principal: Principal, targets: Mapping[str, Target], identity_roles: Iterable[str], project_tag: tuple[str, str]
) -> list[str]:
    """Names of the primitives whose every step ``principal`` is allowed to take."""
    return [
        p.name
        for p in escalation_primitives(identity_roles)
        if all(step_allowed(principal, s, targets, project_tag) for s in p.steps)
    ]


# ------------------------------------------------------------------------------- refresh reads
# What the AWS provider calls to read a resource of each type on `pulumi preview/up --refresh` (the
# terraform-provider-aws resource's Read function), for the types whose service the deploy identity
# otherwise denies or scopes: a refresh that hits an explicit deny fails the whole run.
def _codebuild_project(name: str, region: str, account: str) -> str:
    return f"arn:aws:codebuild:{region}:{account}:project/{name}"


def _iam_arn(kind: str, inputs: Mapping[str, Any], fallback: str, account: str) -> str:
    return iam_arn(account, kind, inputs.get("path"), inputs.get("name") or fallback)


REFRESH_READS: dict[str, Any] = {
    # codebuild/resource_project.go and resource_webhook.go read with BatchGetProjects.
    "aws:codebuild/project:Project": lambda r, region, account: [
        ("codebuild:BatchGetProjects", _codebuild_project(r.inputs.get("name") or r.name, region, account))
    ],
    "aws:codebuild/webhook:Webhook": lambda r, region, account: [
        ("codebuild:BatchGetProjects", _codebuild_project(r.inputs["projectName"], region, account))
    ],
    "aws:iam/role:Role": lambda r, region, account: [
        (a, _iam_arn("role", r.inputs, f"{r.name}-1a2b3c", account))
        for a in ("iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies")
    ],
    "aws:iam/policy:Policy": lambda r, region, account: [
        (a, _iam_arn("policy", r.inputs, f"{r.name}-1a2b3c", account))
        for a in ("iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions")
    ],
}
