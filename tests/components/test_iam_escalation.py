"""Privilege-escalation analysis of the deploy and preview roles' own policies, per committed stack.

The roles' policies are taken from the plan (inline policies, attachments, the boundary), evaluated with
tests/iam_model.py against every known escalation primitive, and must leave 0 paths; the same model shows
that the deploy role can still manage every role the program creates, so a later `pulumi up` works.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from blueprint.preview.plan import Plan, Resource
from blueprint.upkeep.delivery import stack_config
from infra.config import PROJECT, boundary_policy_name, deploy_role_name, iam_path, preview_role_name
from tests.conftest import ROOT, STACKS, plan_for
from tests.iam_model import (
    MANAGED,
    REFRESH_READS,
    Principal,
    Request,
    Target,
    create_requests,
    escalation_paths,
    iam_arn,
    request,
    statements_of,
)

ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
HOST = "token.actions.githubusercontent.com"
TAG = ("project", PROJECT)
IDENTITY_ROLES = ("deploy_role", "preview_role")


def _role(plan: Plan, physical: str) -> Resource:
    (role,) = [r for r in plan.by_type(ROLE) if r.inputs.get("name") == physical]
    return role


def _identity(plan: Plan, role: Resource, *, managed: bool = True) -> list[dict[str, Any]]:
    """A role's identity statements: inline policies, customer policies of the plan attached to it, and
    (``managed``) the AWS managed policies attached to it."""
    out: list[dict[str, Any]] = []
    for p in plan.by_type(ROLE_POLICY):
        if role.urn in p.property_dependencies.get("role", []):
            out += statements_of(p.inputs["policy"])
    customer = {p.inputs.get("name") or p.name: p for p in plan.by_type(POLICY)}
    for a in plan.by_type(ATTACHMENT):
        if role.urn not in a.property_dependencies.get("role", []):
            continue
        arn = a.inputs["policyArn"]
        if arn.startswith("arn:aws:iam::aws:"):
            if managed:
                assert arn in MANAGED, f"{arn}: add its document to tests/iam_model.MANAGED to analyse it"
                out += MANAGED[arn]
            continue
        name = arn.rsplit("/", 1)[-1]
        (mine,) = [p for n, p in customer.items() if name == n or name.startswith(f"{n}-")]
        out += statements_of(mine.inputs["policy"])
    return out


def _boundary(plan: Plan, role: Resource) -> list[dict[str, Any]] | None:
    arn = role.inputs.get("permissionsBoundary")
    if not arn:
        return None
    (policy,) = [p for p in plan.by_type(POLICY) if arn.endswith(f":policy/{p.inputs.get('name')}")]
    return statements_of(policy.inputs["policy"])


def _principal(plan: Plan, physical: str) -> Principal:
    role = _role(plan, physical)
    return Principal(physical, _identity(plan, role), _boundary(plan, role))


def _targets(stack: str) -> dict[str, Target]:
    cfg = stack_config(stack, ROOT)
    env, acct, region = cfg.stack, cfg.account_id, cfg.region
    iam = f"arn:aws:iam::{acct}"
    boundary = f"{iam}:policy/{boundary_policy_name(env)}"
    tagged = dict([TAG])
    return {
        "foreign_role": Target(f"{iam}:role/OrgAdmin"),
        "unbounded_project_role": Target(f"{iam}:role/legacy", tagged),
        "platform_role": Target(f"{iam}:role{iam_path()}cluster-node-role-1a2b3c", tagged, boundary),
        "new_role": Target(f"{iam}:role/attacker"),
        "deploy_role": Target(f"{iam}:role/{deploy_role_name(env)}", tagged, boundary),
        "preview_role": Target(f"{iam}:role/{preview_role_name(env)}", tagged, boundary),
        "boundary_policy": Target(boundary, tagged),
        "foreign_policy": Target(f"{iam}:policy/TeamAdmin"),
        "platform_policy": Target(f"{iam}:policy{iam_path()}ingress-controller-policy-1a2b3c", tagged),
        "foreign_instance_profile": Target(f"{iam}:instance-profile/bastion"),
        "user": Target(f"{iam}:user/alice"),
        "group": Target(f"{iam}:group/admins"),
        "foreign_function": Target(f"arn:aws:lambda:{region}:{acct}:function:billing"),
        "foreign_instance": Target(f"arn:aws:ec2:{region}:{acct}:instance/i-0123456789abcdef0"),
        "foreign_cluster": Target(f"arn:aws:eks:{region}:{acct}:cluster/data-team"),
        "any": Target(f"arn:aws:service:{region}:{acct}:resource/foreign"),
    }


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("which", ["deploy", "preview"])
def test_no_privilege_escalation_path(stack: str, which: str) -> None:
    plan = plan_for(stack)
    env = stack_config(stack, ROOT).stack
    name = deploy_role_name(env) if which == "deploy" else preview_role_name(env)
    principal = _principal(plan, name)
    assert principal.boundary is not None, f"{name} has no permissions boundary"
    assert escalation_paths(principal, _targets(stack), IDENTITY_ROLES, TAG) == []


def test_the_analysis_finds_the_paths_of_an_unbounded_power_user() -> None:
    """Control: the same primitives against PowerUserAccess plus tag-scoped IAM without the boundary and
    the denies (the design before the boundary) find the known paths, so 0 above means something."""
    stack = STACKS[0]
    plan = plan_for(stack)
    deploy = _principal(plan, deploy_role_name(stack_config(stack, ROOT).stack))
    # ... and IAM on every path (before /<project>/ scoped it).
    unpathed = json.loads(json.dumps(deploy.identity).replace(f"{iam_path()}*", "/*"))
    allows = [s for s in unpathed if s["Effect"] == "Allow"]
    legacy = [
        {
            **s,
            "Action": [*s["Action"], "iam:TagRole"],
            "Condition": {"StringEquals": {"aws:RequestTag/project": PROJECT}},
        }
        if s.get("Sid") == "IamCreateProjectTagged"
        else s
        for s in allows
    ]
    paths = escalation_paths(Principal("legacy", legacy, None), _targets(stack), IDENTITY_ROLES, TAG)
    for expected in (
        "lambda:UpdateFunctionCode",
        "ssm:SendCommand",
        "Tag a foreign role into the project",
        "EKS admin entry on a foreign cluster",
        "iam:UpdateAssumeRolePolicy on the deploy_role",
        "CreatePolicyVersion on the boundary",
    ):
        assert expected in paths


@pytest.mark.parametrize("stack", STACKS)
def test_deploy_role_can_manage_every_role_the_program_creates(stack: str) -> None:
    """A later `pulumi up` by the deploy role must be able to create, change and delete each platform role."""
    plan = plan_for(stack)
    cfg = stack_config(stack, ROOT)
    env = cfg.stack
    deploy = _principal(plan, deploy_role_name(env))
    identity = {deploy_role_name(env), preview_role_name(env)}
    roles = [r for r in plan.by_type(ROLE) if r.inputs.get("name") not in identity]
    # The AWS provider's default tags (infra/__main__.py) are sent with every create, on top of the resource's.
    tags = dict(cfg.stack_tags)
    assert roles
    for role in roles:
        target = Target(
            iam_arn(cfg.account_id, "role", role.inputs.get("path"), f"{role.name}-1a2b3c"),
            {**tags, **dict(role.inputs.get("tags") or {})},
            role.inputs.get("permissionsBoundary"),
        )
        create = create_requests("iam:CreateRole", target, request_tags=target.tags, requested_boundary=target.boundary)
        for req in create:
            assert deploy.allowed(req), f"{role.name}: {req.action} (create with tags) refused"
        for action in (
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:DetachRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:UpdateAssumeRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:PassRole",
            "iam:DeleteRole",
        ):
            assert deploy.allowed(request(action, target)), f"{role.name}: {action} refused"
    for policy in plan.by_type(POLICY):
        target = Target(
            iam_arn(cfg.account_id, "policy", policy.inputs.get("path"), policy.inputs.get("name") or policy.name),
            {**tags, **dict(policy.inputs.get("tags") or {})},
        )
        if policy.inputs.get("name") == boundary_policy_name(env):
            assert not deploy.allowed(request("iam:CreatePolicyVersion", target))
            continue
        assert deploy.allowed(request("iam:CreatePolicyVersion", target)), policy.name
        for req in create_requests("iam:CreatePolicy", target, request_tags=target.tags):
            assert deploy.allowed(req), f"{policy.name}: {req.action} (create with tags) refused"
    issuer = f"arn:aws:iam::{cfg.account_id}:oidc-provider/oidc.eks.{cfg.region}.amazonaws.com/id/ABCDEF"
    for req in create_requests("iam:CreateOpenIDConnectProvider", Target(issuer), request_tags=tags):
        assert deploy.allowed(req), f"cluster OIDC provider: {req.action} refused"
    cluster = f"arn:aws:eks:{cfg.region}:{cfg.account_id}:cluster/{PROJECT}-{stack}"
    assert deploy.allowed(Request("eks:CreateAccessEntry", cluster))


@pytest.mark.parametrize("stack", STACKS)
def test_every_role_carries_the_stacks_boundary(stack: str) -> None:
    plan = plan_for(stack)
    cfg = stack_config(stack, ROOT)
    expected = f"arn:aws:iam::{cfg.account_id}:policy/{boundary_policy_name(cfg.stack)}"
    missing = [r.name for r in plan.by_type(ROLE) if r.inputs.get("permissionsBoundary") != expected]
    assert missing == []


def _github_subjects(role: Resource) -> list[str]:
    out: list[str] = []
    for stmt in statements_of(role.inputs["assumeRolePolicy"]):
        for block in (stmt.get("Condition") or {}).values():
            sub = block.get(f"{HOST}:sub")
            out += [sub] if isinstance(sub, str) else list(sub or [])
    return out


def _pull_request_can_assume(subjects: list[str]) -> bool:
    # A `pull_request` run's token says `repo:O/R:pull_request`; a wildcard subject would admit it too.
    return any(s.endswith(":pull_request") or "*" in s or "?" in s for s in subjects)


@pytest.mark.parametrize("stack", STACKS)
def test_no_role_a_pull_request_can_assume_decrypts_the_stacks_secrets(stack: str) -> None:
    plan = plan_for(stack)
    cfg = stack_config(stack, ROOT)
    key = f"arn:aws:kms:{cfg.region}:{cfg.account_id}:key/0b1c2d3e-aaaa-bbbb-cccc-000000000000"
    aliases = {*cfg.delivery.secrets_kms_aliases, cfg.delivery.state_key_alias}
    checked = 0
    for role in plan.by_type(ROLE):
        subjects = _github_subjects(role)
        if not subjects:
            continue
        checked += 1
        if not _pull_request_can_assume(subjects):
            continue
        principal = Principal(role.name, _identity(plan, role), _boundary(plan, role))
        for alias in aliases:
            decrypt = Request("kms:Decrypt", key, {"kms:ResourceAliases": [alias]})
            assert not principal.allowed(decrypt), f"{role.name} is assumable from a pull_request and decrypts {alias}"
    assert checked >= 2, "the preview and deploy roles (and any other GitHub-trusted role) are checked"


@pytest.mark.parametrize("stack", STACKS)
def test_preview_role_trusts_the_preview_environment_and_the_default_branch_only(stack: str) -> None:
    plan = plan_for(stack)
    cfg = stack_config(stack, ROOT)
    env, repo = cfg.stack, cfg.delivery.github_repository
    role = _role(plan, preview_role_name(env))
    assert sorted(_github_subjects(role)) == sorted(
        [f"repo:{repo}:environment:{env}-preview", f"repo:{repo}:ref:refs/heads/{cfg.delivery.default_branch}"]
    )
    # It does decrypt (a credentialed preview shows secret-dependent diffs), which is why the
    # `<env>-preview` environment, not `pull_request`, is its door.
    principal = _principal(plan, preview_role_name(env))
    key = f"arn:aws:kms:{cfg.region}:{cfg.account_id}:key/k"
    assert principal.allowed(Request("kms:Decrypt", key, {"kms:ResourceAliases": [cfg.delivery.secrets_kms_alias]}))


# ------------------------------------------------------------------------------- the model itself
def test_model_explicit_deny_beats_allow_and_boundary_caps() -> None:
    allow_all = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    deny_iam = [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]
    req = Request("iam:CreateUser", "arn:aws:iam::1:user/x")
    assert Principal("a", allow_all, None).allowed(req)
    assert not Principal("a", [*allow_all, *deny_iam], None).allowed(req)
    assert not Principal("a", allow_all, [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]).allowed(req)
    assert not Principal("a", [], allow_all).allowed(req), "a boundary grants nothing by itself"


def test_model_condition_semantics_for_missing_keys() -> None:
    ne = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"k": "v"}}}
    eq = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"k": "v"}}}
    bare = Request("s3:GetObject", "arn:aws:s3:::b/o")
    assert not Principal("p", [eq], None).allowed(bare), "StringEquals on an absent key does not match"
    assert not Principal("p", [{**eq, "Condition": {}}, ne], None).allowed(bare), (
        "StringNotEquals on an absent key matches"
    )
    assert Principal("p", [eq, ne], None).allowed(Request("s3:GetObject", "arn:aws:s3:::b/o", {"K": "v"}))
    with pytest.raises(ValueError, match="not modelled"):
        Principal("p", [{**eq, "Condition": {"DateLessThan": {"aws:CurrentTime": "x"}}}], None).allowed(bare)


def test_model_reads_policy_documents_from_json() -> None:
    doc = json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}})
    assert statements_of(doc) == [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]


@pytest.mark.parametrize("stack", STACKS)
def test_every_platform_role_keeps_its_permissions_under_the_boundary(stack: str) -> None:
    """The boundary caps, it must not break: each action a platform role is granted inline stays allowed.

    (The AWS managed policies of the workload roles, EKS cluster/node, CNI, EBS CSI, use EC2, ECR, EKS and
    KMS only, which the boundary's services ceiling leaves whole.)"""
    plan = plan_for(stack)
    cfg = stack_config(stack, ROOT)
    env = cfg.stack
    slr = f"arn:aws:iam::{cfg.account_id}:role/aws-service-role/elasticloadbalancing.amazonaws.com/x"
    identity = {deploy_role_name(env), preview_role_name(env)}
    for role in plan.by_type(ROLE):
        if role.inputs.get("name") in identity:
            continue
        boundary = Principal(role.name, [{"Effect": "Allow", "Action": "*", "Resource": "*"}], _boundary(plan, role))
        for stmt in _identity(plan, role, managed=False):
            if stmt["Effect"] != "Allow":
                continue
            for action in stmt.get("Action") if isinstance(stmt.get("Action"), list) else [stmt.get("Action")]:
                for resource in stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]:
                    # Service-linked roles are created under their own path; "*" in the grant means that.
                    target = slr if action == "iam:CreateServiceLinkedRole" and resource == "*" else resource
                    # Passing one of the stack's own roles (Karpenter passes its node role to EC2): the
                    # target carries the stack's tags (the provider's default tags), which the boundary reads.
                    # Karpenter's instance profiles carry its EC2NodeClass tags, the stack's tags
                    # (EC2NodeClass.InstanceProfileTags at v1.13.0; tests/stacks/test_karpenter.py checks them).
                    ctx: dict[str, Any] = {}
                    if action == "iam:PassRole" or ":instance-profile/" in target:
                        ctx = {f"aws:ResourceTag/{k}": v for k, v in cfg.stack_tags.items()}
                    if ":instance-profile/" in target:
                        ctx |= {f"aws:RequestTag/{k}": v for k, v in cfg.stack_tags.items()}
                    assert boundary.allowed(Request(action, target, ctx)), f"{role.name}: {action} on {resource}"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("which", ["deploy", "preview"])
def test_refresh_reads_every_resource_of_the_plan(stack: str, which: str) -> None:
    """`pulumi preview --refresh` (drift) and `pulumi up --refresh` read every resource; an explicit deny in
    the boundary on one read (the stack's own CodeBuild runner was one) fails every CI run of the stack."""
    plan = plan_for(stack)
    cfg = stack_config(stack, ROOT)
    env = cfg.stack  # roles are named after the stack, not its tier (infra/config/names.py)
    principal = _principal(plan, deploy_role_name(env) if which == "deploy" else preview_role_name(env))
    checked = 0
    for resource in plan.resources:
        read = REFRESH_READS.get(resource.type)
        for action, arn in read(resource, cfg.region, cfg.account_id) if read else []:
            checked += 1
            assert principal.allowed(Request(action, arn)), f"{resource.name}: {action} on {arn} refused"
    assert checked
    foreign = f"arn:aws:codebuild:{cfg.region}:{cfg.account_id}:project/someone-elses-build"
    for action in ("codebuild:BatchGetProjects", "codebuild:StartBuild", "codebuild:UpdateProject"):
        assert not principal.allowed(Request(action, foreign)), f"{action} on a foreign project"


@pytest.mark.parametrize("stack", STACKS)
def test_deploy_role_manages_its_own_runner_project_only(stack: str) -> None:
    plan = plan_for(stack)
    cfg = stack_config(stack, ROOT)
    projects = plan.by_type("aws:codebuild/project:Project")
    deploy = _principal(plan, deploy_role_name(cfg.stack))
    own = [f"arn:aws:codebuild:{cfg.region}:{cfg.account_id}:project/{p.inputs['name']}" for p in projects]
    for arn in own:
        for action in ("codebuild:UpdateProject", "codebuild:CreateWebhook", "codebuild:DeleteProject"):
            assert deploy.allowed(Request(action, arn)), f"{action} on {arn}"
    if not own:  # no runner: CodeBuild stays denied on every project
        arn = f"arn:aws:codebuild:{cfg.region}:{cfg.account_id}:project/{PROJECT}-deployer-{stack}"
        assert not deploy.allowed(Request("codebuild:BatchGetProjects", arn))


@pytest.mark.parametrize("stack", STACKS)
def test_preview_reads_the_stacks_rds_managed_secrets_only(stack: str) -> None:
    """components/mlflow.py reads the RDS-managed master secret during every preview (get_secret_version):
    the preview role may read that secret, through Secrets Manager only, and no other secret."""
    plan = plan_for(stack)
    cfg = stack_config(stack, ROOT)
    region, acct = cfg.region, cfg.account_id
    preview = _principal(plan, preview_role_name(cfg.stack))
    secret = f"arn:aws:secretsmanager:{region}:{acct}:secret:rds!db-0b1c2d3e-1111-2222-3333-444455556666-AbCdEf"
    owner = "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"
    key = f"arn:aws:kms:{region}:{acct}:key/0b1c2d3e-aaaa-bbbb-cccc-000000000000"
    via = {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com", "aws:ResourceTag/project": PROJECT}
    managed = [r for r in plan.by_type("aws:rds/instance:Instance") if r.inputs.get("manageMasterUserPassword")]
    for db in managed:
        mine = {owner: f"arn:aws:rds:{region}:{acct}:db:{db.inputs['identifier']}"}
        assert preview.allowed(Request("secretsmanager:GetSecretValue", secret, mine)), db.name
        assert preview.allowed(Request("kms:Decrypt", key, via)), f"{db.name}: decrypt via Secrets Manager"
    other = {owner: f"arn:aws:rds:{region}:{acct}:db:someone-elses-db"}
    assert not preview.allowed(Request("secretsmanager:GetSecretValue", secret, other))
    assert not preview.allowed(
        Request("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{region}:{acct}:secret:app-token-AbCdEf")
    )
    assert not preview.allowed(Request("kms:Decrypt", key, {**via, "kms:ViaService": f"s3.{region}.amazonaws.com"}))
    assert not preview.allowed(Request("kms:Decrypt", key, {"kms:ViaService": via["kms:ViaService"]}))


def test_model_read_only_access_does_not_read_secret_values() -> None:
    read_only = Principal("ro", MANAGED["arn:aws:iam::aws:policy/ReadOnlyAccess"], None)
    secret = "arn:aws:secretsmanager:eu-west-1:1:secret:rds!db-x"
    assert read_only.allowed(Request("secretsmanager:DescribeSecret", secret))
    assert not read_only.allowed(Request("secretsmanager:GetSecretValue", secret))
    assert not read_only.allowed(Request("kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k"))


@pytest.mark.parametrize("stack", STACKS)
def test_every_role_and_policy_lives_under_the_project_path(stack: str) -> None:
    """The deploy role may create (and tag on create) IAM resources only under /<project>/: a role or policy
    elsewhere could not be created by CI. Only the administrator-made deploy identity stays at /."""
    plan = plan_for(stack)
    env = stack_config(stack, ROOT).stack
    identity = {deploy_role_name(env), preview_role_name(env), boundary_policy_name(env)}
    wrong = [
        f"{r.name}: path {r.inputs.get('path') or '/'!r}"
        for r in [*plan.by_type(ROLE), *plan.by_type(POLICY), *plan.by_type("aws:iam/instanceProfile:InstanceProfile")]
        if r.inputs.get("name") not in identity and r.inputs.get("path") != iam_path()
    ]
    assert wrong == []
    assert iam_path() == f"/{PROJECT}/"


@pytest.mark.parametrize("stack", STACKS)
def test_tag_on_create_reaches_nothing_outside_the_project_path(stack: str) -> None:
    """Tag* is allowed on untagged resources (tag on create) only under the project path: not on a role,
    policy or instance profile elsewhere, even when the request carries the project tag."""
    plan = plan_for(stack)
    cfg = stack_config(stack, ROOT)
    deploy = _principal(plan, deploy_role_name(cfg.stack))
    acct = cfg.account_id
    for action, kind in (
        ("iam:TagRole", "role"),
        ("iam:TagPolicy", "policy"),
        ("iam:TagInstanceProfile", "instance-profile"),
    ):
        for path in ("/", "/other-team/", f"/{PROJECT}-lookalike/"):
            foreign = Target(iam_arn(acct, kind, path, "x"))
            assert not deploy.allowed(request(action, foreign, request_tags=dict([TAG]))), f"{action} on {foreign.arn}"
        mine = Target(iam_arn(acct, kind, iam_path(), "x"))
        assert deploy.allowed(request(action, mine, request_tags=dict([TAG])))
        assert not deploy.allowed(request(action, mine, request_tags={"owner": "x"})), (
            "tag on create needs the project tag"
        )
