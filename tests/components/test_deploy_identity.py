"""DeployIdentity: GitHub OIDC trust is exact, each environment's deploy role trusts only that environment."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from blueprint.preview.plan import Plan, Resource
from components.deploy_identity import TrustPolicyError, environment_subject, github_trust_policy
from infra.config import SECRET_KEYS, ConfigError, admitted_role_arns, deploy_role_arn, parse_config
from tests import fixtures as fx

ROLE = "aws:iam/role:Role"
HOST = "token.actions.githubusercontent.com"
REPO = fx.REPOSITORY
SECRETS = list(SECRET_KEYS)  # every secret key Pulumi.yaml declares (infra/config.py)


def _role(plan: Plan, physical: str) -> Resource:
    (role,) = [r for r in plan.by_type(ROLE) if r.inputs.get("name") == physical]
    return role


def _statement(role: Resource) -> dict[str, Any]:
    (stmt,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    return stmt


def _subjects(role: Resource) -> list[str]:
    sub = _statement(role)["Condition"]["StringEquals"][f"{HOST}:sub"]
    return [sub] if isinstance(sub, str) else sub


@pytest.mark.parametrize("stack", fx.STACKS)
def test_deploy_role_trusts_only_its_own_environment(stack: str) -> None:
    from tests.conftest import plan_for

    plan = plan_for(stack)
    role = _role(plan, f"{fx.PROJECT}-deploy-{stack}")
    stmt = _statement(role)
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Principal"]["Federated"].endswith(f":oidc-provider/{HOST}")
    assert set(stmt["Condition"]) == {"StringEquals"}, "exact matching only, never StringLike"
    assert stmt["Condition"]["StringEquals"][f"{HOST}:aud"] == "sts.amazonaws.com"
    assert _subjects(role) == [f"repo:{REPO}:environment:{stack}"]
    # No other environment's deploy role exists in this stack.
    others = [r.inputs["name"] for r in plan.by_type(ROLE) if "-deploy-" in str(r.inputs.get("name"))]
    assert others == [f"{fx.PROJECT}-deploy-{stack}"]


def test_preview_role_is_read_only_and_trusted_for_preview_environment_and_main(stack_plan: Plan) -> None:
    role = _role(stack_plan, f"{fx.PROJECT}-preview-{stack_plan.stack}")
    assert sorted(_subjects(role)) == [
        f"repo:{REPO}:environment:{stack_plan.stack}-preview",
        f"repo:{REPO}:ref:refs/heads/main",
    ]
    attached = [
        a.inputs["policyArn"]
        for a in stack_plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith("delivery-preview")
    ]
    assert attached == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    (inline,) = [p for p in stack_plan.by_type("aws:iam/rolePolicy:RolePolicy") if p.name == "delivery-preview-state"]
    actions = {a for s in json.loads(inline.inputs["policy"])["Statement"] for a in s["Action"]}
    assert not {a for a in actions if a.startswith(("s3:Put", "s3:Delete", "kms:Encrypt", "kms:GenerateDataKey"))}


def test_deploy_role_manages_iam_only_on_project_tagged_resources(dev_plan: Plan) -> None:
    (inline,) = [p for p in dev_plan.by_type("aws:iam/rolePolicy:RolePolicy") if p.name == "delivery-deploy-iam"]
    stmts = {s["Sid"]: s for s in json.loads(inline.inputs["policy"])["Statement"]}
    boundary = f"arn:aws:iam::{fx.account(fx.DEV)}:policy/{fx.PROJECT}-boundary-{fx.DEV}"
    assert stmts["IamCreateProjectTagged"]["Condition"] == {"StringEquals": {"aws:RequestTag/project": fx.PROJECT}}
    assert stmts["IamManageProjectTagged"]["Condition"] == {"StringEquals": {"aws:ResourceTag/project": fx.PROJECT}}
    assert stmts["IamCreateRoleWithBoundary"]["Condition"] == {
        "StringEquals": {"aws:RequestTag/project": fx.PROJECT, "iam:PermissionsBoundary": boundary}
    }
    assert stmts["IamRolePermissionsWithBoundary"]["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == boundary
    assert "iam:PassRole" in stmts["IamManageProjectTagged"]["Action"]
    # Tagging where the project tag already is, or with it in the request (tag on create) but only under the
    # project's IAM path: a request tag alone anywhere would adopt foreign roles.
    tagging = [s for s in stmts.values() if s["Effect"] == "Allow" and "iam:TagRole" in s["Action"]]
    assert [s["Sid"] for s in tagging] == ["IamTagOnCreateUnderProjectPath", "IamManageProjectTagged"]
    assert stmts["IamTagOnCreateUnderProjectPath"]["Resource"] == [
        f"arn:aws:iam::{fx.account(fx.DEV)}:role/{fx.PROJECT}/*",
        f"arn:aws:iam::{fx.account(fx.DEV)}:policy/{fx.PROJECT}/*",
        f"arn:aws:iam::{fx.account(fx.DEV)}:instance-profile/{fx.PROJECT}/*",
        f"arn:aws:iam::{fx.account(fx.DEV)}:oidc-provider/oidc.eks.{fx.region(fx.DEV)}.amazonaws.com/id/*",
    ]
    for s in stmts.values():
        if s["Effect"] == "Allow":
            assert s["Resource"] != "*"
            assert "iam:*" not in s["Action"]
    attached = [
        a.inputs["policyArn"]
        for a in dev_plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith("delivery-deploy")
    ]
    assert attached == ["arn:aws:iam::aws:policy/PowerUserAccess"]


def test_oidc_provider_has_the_sts_audience(dev_plan: Plan) -> None:
    (provider,) = [
        o for o in dev_plan.by_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") if HOST in o.inputs["url"]
    ]
    assert provider.inputs["url"] == f"https://{HOST}"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize(
    "subject",
    [
        "repo:example-org/*",
        "repo:example-org/*:*",
        "repo:example-org/ai-platform:*",
        "repo:example-org/ai-platform:environment:*",
        "repo:example-org/ai-platform:ref:refs/heads/*",
        "repo:example-org/ai-platform:environment:pro?",
        "*",
        "example-org/ai-platform",
    ],
)
def test_trust_policy_rejects_wildcard_and_malformed_subjects(subject: str) -> None:
    with pytest.raises(TrustPolicyError):
        github_trust_policy(f"arn:aws:iam::{fx.FOREIGN_ACCOUNT}:oidc-provider/" + HOST, [subject])


def test_trust_policy_needs_a_subject() -> None:
    with pytest.raises(TrustPolicyError):
        github_trust_policy(f"arn:aws:iam::{fx.FOREIGN_ACCOUNT}:oidc-provider/" + HOST, [])


@pytest.mark.parametrize("repository", ["example-org/*", "*/ai-platform", "example-org", "example-org/ai platform"])
def test_subject_helpers_reject_wildcard_repositories(repository: str) -> None:
    with pytest.raises(TrustPolicyError):
        environment_subject(repository, "prod")


def _parse(raw: dict[str, Any], stack: str | None = None) -> Any:
    plain = {k: ("x" if isinstance(v, dict) and set(v) == {"secure"} else v) for k, v in raw.items()}
    return parse_config(plain, secret_keys=SECRETS, source="stacks/Pulumi.test.yaml", stack=stack)


def _problems(raw: dict[str, Any], stack: str | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        _parse(raw, stack)
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize("repository", ["example-org/*", "*", "example-org/ai-*"])
def test_wildcard_repository_is_a_config_error(raw_config: Callable[[str], dict[str, Any]], repository: str) -> None:
    raw = raw_config(fx.PROD)
    raw["delivery"]["githubRepository"] = repository
    assert "wildcards" in _problems(raw)["delivery.githubRepository"]


def test_cluster_admits_no_other_environments_deploy_role(raw_config: Callable[[str], dict[str, Any]]) -> None:
    raw = raw_config(fx.PROD)
    raw["cluster"]["adminRoleArns"].append(deploy_role_arn(fx.account(fx.PROD), fx.DEV))
    msg = _problems(raw, fx.PROD)[f"cluster.adminRoleArns[{len(raw['cluster']['adminRoleArns']) - 1}]"]
    assert "another environment's deploy role" in msg
    assert f"{fx.PROJECT}-deploy-{fx.PROD}" in msg


def test_the_cluster_admits_its_own_deploy_role_derived_from_account_and_stack(
    raw_config: Callable[[str], dict[str, Any]],
) -> None:
    # cluster.adminRoleArns lists extra principals only: the stack's own deploy role follows accountId.
    raw = raw_config(fx.STAGING)
    raw["accountId"] = fx.FOREIGN_ACCOUNT
    raw["cluster"]["adminRoleArns"] = [f"arn:aws:iam::{fx.FOREIGN_ACCOUNT}:role/ml-platform-admins"]
    cfg = _parse(raw, fx.STAGING)
    assert admitted_role_arns(cfg) == [
        f"arn:aws:iam::{fx.FOREIGN_ACCOUNT}:role/ml-platform-admins",
        deploy_role_arn(fx.FOREIGN_ACCOUNT, fx.STAGING),
    ]


def test_admin_policies_are_refused_for_the_deploy_role(raw_config: Callable[[str], dict[str, Any]]) -> None:
    raw = raw_config(fx.DEV)
    raw["delivery"]["deployPolicyArns"] = ["arn:aws:iam::aws:policy/AdministratorAccess"]
    assert "unrestricted IAM" in _problems(raw)["delivery.deployPolicyArns"]


def test_existing_oidc_provider_is_read_not_created() -> None:
    import dataclasses

    from blueprint.preview.engine import run_stack
    from blueprint.stackfiles import load_stack
    from tests.conftest import ROOT

    settings = load_stack(fx.STAGING, ROOT)
    delivery = json.loads(settings.config[f"{fx.PROJECT}:delivery"])
    delivery["createOidcProvider"] = False
    config = {**settings.config, f"{fx.PROJECT}:delivery": json.dumps(delivery)}
    plan = run_stack(fx.STAGING, dataclasses.replace(settings, config=config))
    assert [
        o for o in plan.by_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") if HOST in o.inputs["url"]
    ] == []
    principal = _statement(_role(plan, f"{fx.PROJECT}-deploy-{fx.STAGING}"))["Principal"]["Federated"]
    assert principal == f"arn:aws:iam::{fx.account(fx.STAGING)}:oidc-provider/{HOST}"


def test_preview_role_reads_the_cluster_and_only_the_deploy_role_administers_it(stack_plan: Plan) -> None:
    env = stack_plan.stack
    assoc = {
        a.inputs["principalArn"]: a.inputs["policyArn"]
        for a in stack_plan.by_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    }
    account = _role(stack_plan, f"{fx.PROJECT}-deploy-{env}").outputs["arn"].split(":")[4]
    preview = f"arn:aws:iam::{account}:role/{fx.PROJECT}-preview-{env}"
    deploy = f"arn:aws:iam::{account}:role/{fx.PROJECT}-deploy-{env}"
    assert assoc[preview].endswith("/AmazonEKSAdminViewPolicy")
    assert assoc[deploy].endswith("/AmazonEKSClusterAdminPolicy")
    deploy_roles = [arn for arn in assoc if f":role/{fx.PROJECT}-deploy-" in arn]
    assert deploy_roles == [deploy], "a cluster admits only its own environment's deploy role"


def test_roles_may_use_the_secrets_key_and_the_state_key_bootstrap_creates(dev_plan: Plan) -> None:
    (inline,) = [p for p in dev_plan.by_type("aws:iam/rolePolicy:RolePolicy") if p.name == "delivery-preview-state"]
    (kms,) = [s for s in json.loads(inline.inputs["policy"])["Statement"] if s["Sid"] == "PlatformKeys"]
    aliases = kms["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"]
    assert aliases == ["alias/pulumi-secrets", "alias/pulumi-secrets-state"]
    assert "kms:Encrypt" not in kms["Action"]
