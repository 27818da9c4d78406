"""The Registry component under mocks, with a node role and an IRSA provider as the cluster will give it."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from blueprint.preview.engine import run_program
from blueprint.preview.plan import Plan, Resource
from components._common import Irsa
from components.registry import (
    PUSH_ACTIONS,
    CiPushIdentity,
    PullThroughUpstream,
    Registry,
    RegistryArgs,
    RepositorySpec,
    lifecycle_policy,
)

ACCOUNT = "123456789012"
REGION = "us-west-2"
REPO = "aws:ecr/repository:Repository"
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE"


def _registry_plan(**overrides: Any) -> Plan:
    def program() -> None:
        node_role = aws.iam.Role("node-role", assume_role_policy="{}")
        irsa = Irsa(
            provider_arn=pulumi.Output.from_input(f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"),
            issuer=pulumi.Output.from_input(ISSUER),
        )
        args: dict[str, Any] = {
            "name_prefix": "ai-platform-unit",
            "region": REGION,
            "account_id": ACCOUNT,
            "repositories": {
                "vllm": RepositorySpec("IMMUTABLE", 7, 30),
                "team/ci-runner": RepositorySpec("MUTABLE", 3, 10),
            },
            "pull_through_cache": {
                "k8s": PullThroughUpstream("registry.k8s.io"),
                "docker-hub": PullThroughUpstream(
                    "registry-1.docker.io",
                    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/docker-hub-AbCdEf",
                ),
            },
            "pull_principal_arns": [node_role.arn],
            "ci_push_identity": CiPushIdentity(irsa, "arc-runners", "arc-runner"),
            "protect": True,
        }
        args.update(overrides)
        Registry("registry", RegistryArgs(**args))

    return run_program(program, region=REGION, account=ACCOUNT)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return _registry_plan()


def _doc(r: Resource, key: str = "policy") -> dict[str, Any]:
    return json.loads(r.inputs[key])


def test_repositories_are_named_by_key_kms_encrypted_and_never_force_deleted(plan: Plan) -> None:
    repos = {r.inputs["name"]: r for r in plan.by_type(REPO)}
    assert set(repos) == {"vllm", "team/ci-runner"}
    (key,) = plan.by_type("aws:kms/key:Key")
    key_arn = key.outputs["arn"]
    for r in repos.values():
        assert r.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key_arn}]
        assert r.inputs.get("forceDelete") is not True
        assert r.protect
        assert r.retain_on_delete
    assert repos["vllm"].inputs["imageTagMutability"] == "IMMUTABLE"
    assert repos["team/ci-runner"].inputs["imageTagMutability"] == "MUTABLE"


def test_key_rotates_has_alias_and_is_protected(plan: Plan) -> None:
    (key,) = plan.by_type("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert key.protect
    assert key.retain_on_delete
    principals = [s["Principal"] for s in _doc(key)["Statement"]]
    assert principals == [{"AWS": f"arn:aws:iam::{ACCOUNT}:root"}]
    (alias,) = plan.by_type("aws:kms/alias:Alias")
    assert alias.inputs["name"] == "alias/ai-platform-unit-ecr"
    assert alias.inputs["targetKeyId"] == key.outputs["keyId"]


def test_lifecycle_expires_untagged_and_keeps_last_tagged(plan: Plan) -> None:
    by_repo = {r.inputs["repository"]: _doc(r) for r in plan.by_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")}
    assert set(by_repo) == {"vllm", "team/ci-runner"}
    untagged, tagged = by_repo["vllm"]["rules"]
    assert untagged["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 7,
    }
    assert tagged["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": 30,
    }
    assert [r["rulePriority"] for r in (untagged, tagged)] == [1, 2]
    assert all(r["action"] == {"type": "expire"} for r in (untagged, tagged))
    assert by_repo["team/ci-runner"]["rules"][1]["selection"]["countNumber"] == 10


def test_lifecycle_policy_text_is_stable() -> None:
    assert lifecycle_policy(7, 30) == lifecycle_policy(7, 30)
    assert list(json.loads(lifecycle_policy(7, 30))["rules"][0]) == sorted(
        json.loads(lifecycle_policy(7, 30))["rules"][0]
    )


def test_repository_policy_pulls_for_nodes_and_pushes_only_for_ci(plan: Plan) -> None:
    node_arn = plan.get("aws:iam/role:Role", "node-role").outputs["arn"]
    ci_arn = plan.get("aws:iam/role:Role", "registry-ci-push").outputs["arn"]
    policies = plan.by_type("aws:ecr/repositoryPolicy:RepositoryPolicy")
    assert len(policies) == 2
    for p in policies:
        stmts = {s["Sid"]: s for s in _doc(p)["Statement"]}
        assert stmts["NodePull"]["Principal"] == {"AWS": [node_arn]}
        assert not any(a in stmts["NodePull"]["Action"] for a in ("ecr:PutImage", "ecr:InitiateLayerUpload"))
        assert stmts["CiPush"]["Principal"] == {"AWS": [ci_arn]}
        assert "ecr:PutImage" in stmts["CiPush"]["Action"]
        assert all(s["Effect"] == "Allow" and s["Principal"] != "*" for s in stmts.values())


def test_ci_push_role_trusts_one_service_account_and_pushes_only_to_platform_repos(plan: Plan) -> None:
    role = plan.get("aws:iam/role:Role", "registry-ci-push")
    cond = _doc(role, "assumeRolePolicy")["Statement"][0]["Condition"]["StringEquals"]
    assert cond[f"{ISSUER}:sub"] == "system:serviceaccount:arc-runners:arc-runner"
    assert cond[f"{ISSUER}:aud"] == "sts.amazonaws.com"

    repo_arns = sorted(r.outputs["arn"] for r in plan.by_type(REPO))
    stmts = _doc(plan.get("aws:iam/rolePolicy:RolePolicy", "registry-ci-push-policy"))["Statement"]
    push = [s for s in stmts if "ecr:PutImage" in s["Action"]]
    assert len(push) == 1
    assert push[0]["Resource"] == repo_arns
    assert sorted(push[0]["Action"]) == sorted(PUSH_ACTIONS)
    star = [s for s in stmts if s["Resource"] == "*"]
    assert [s["Action"] for s in star] == ["ecr:GetAuthorizationToken"]


def test_basic_scanning_scans_on_push_everywhere(plan: Plan) -> None:
    (scan,) = plan.by_type("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration")
    assert scan.inputs["scanType"] == "BASIC"
    (rule,) = scan.inputs["rules"]
    assert rule["scanFrequency"] == "SCAN_ON_PUSH"
    assert rule["repositoryFilters"] == [{"filter": "*", "filterType": "WILDCARD"}]
    assert all(r.inputs["imageScanningConfiguration"]["scanOnPush"] is True for r in plan.by_type(REPO))


def test_enhanced_scanning_scans_continuously() -> None:
    plan = _registry_plan(scanning="enhanced")
    (scan,) = plan.by_type("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration")
    assert scan.inputs["scanType"] == "ENHANCED"
    assert scan.inputs["rules"][0]["scanFrequency"] == "CONTINUOUS_SCAN"
    assert scan.inputs["rules"][0]["repositoryFilters"] == [{"filter": "*", "filterType": "WILDCARD"}]


def test_pull_through_rules_and_templates_encrypt_cached_repositories(plan: Plan) -> None:
    rules = {
        r.inputs["ecrRepositoryPrefix"]: r for r in plan.by_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    }
    assert set(rules) == {"k8s", "docker-hub"}
    assert rules["k8s"].inputs["upstreamRegistryUrl"] == "registry.k8s.io"
    assert "credentialArn" not in rules["k8s"].inputs
    assert rules["docker-hub"].inputs["credentialArn"].startswith("arn:aws:secretsmanager:")

    key_arn = plan.by_type("aws:kms/key:Key")[0].outputs["arn"]
    role = plan.get("aws:iam/role:Role", "registry-cache-template-role")
    templates = {
        t.inputs["prefix"]: t for t in plan.by_type("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    }
    assert set(templates) == set(rules)
    for t in templates.values():
        assert t.inputs["appliedFors"] == ["PULL_THROUGH_CACHE"]
        assert t.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key_arn}]
        assert t.inputs["customRoleArn"] == role.outputs["arn"]
        assert json.loads(t.inputs["lifecyclePolicy"])["rules"]
        assert _doc(t, "repositoryPolicy")["Statement"][0]["Sid"] == "NodePull"

    trust = _doc(role, "assumeRolePolicy")["Statement"][0]
    assert trust["Principal"] == {"Service": "ecr.amazonaws.com"}
    perms = _doc(plan.get("aws:iam/rolePolicy:RolePolicy", "registry-cache-template-policy"))["Statement"]
    assert {s["Sid"]: s["Resource"] for s in perms}["EncryptWithRegistryKey"] == key_arn


def test_registry_policy_lets_nodes_fill_the_caches_only(plan: Plan) -> None:
    (reg,) = plan.by_type("aws:ecr/registryPolicy:RegistryPolicy")
    (stmt,) = _doc(reg)["Statement"]
    assert sorted(stmt["Action"]) == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    assert stmt["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/*",
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/k8s/*",
    ]


def test_without_cluster_inputs_there_is_no_policy_and_no_ci_role() -> None:
    plan = _registry_plan(pull_principal_arns=[], ci_push_identity=None, protect=False)
    assert not plan.by_type("aws:ecr/repositoryPolicy:RepositoryPolicy")
    assert not plan.by_type("aws:ecr/registryPolicy:RegistryPolicy")
    assert [r.name for r in plan.by_type("aws:iam/role:Role")] == ["node-role", "registry-cache-template-role"]
    assert all(
        "repositoryPolicy" not in t.inputs
        for t in plan.by_type("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    )
    assert not any(r.protect or r.retain_on_delete for r in plan.resources)
    assert len(plan.by_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")) == 2


REGISTRY_LEVEL = (
    "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration",
    "aws:ecr/registryPolicy:RegistryPolicy",
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule",
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate",
)


@pytest.mark.parametrize("scanning", ["basic", "enhanced"])
def test_without_the_registry_settings_nothing_registry_level_is_created_and_repositories_scan_on_push(
    scanning: str,
) -> None:
    """Another stack of the account and region owns them (ECR holds one of each per registry)."""
    plan = _registry_plan(manage_registry_settings=False, scanning=scanning)
    for t in REGISTRY_LEVEL:
        assert plan.by_type(t) == [], t
    assert not [r for r in plan.by_type("aws:iam/role:Role") if r.name.endswith("cache-template-role")]
    for repo in plan.by_type(REPO):
        assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    # Nothing on the node role (the pack allows it ECR read-only): the owner's registry policy lists it.
    assert not [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if "node-role" in str(r.inputs.get("role"))]


def test_the_owner_lets_the_other_stacks_nodes_fill_the_caches() -> None:
    sibling = f"arn:aws:iam::{ACCOUNT}:role/ai-platform/cluster-node-role-0a1b2c3"
    plan = _registry_plan(cache_filler_arns=[sibling])
    (reg,) = plan.by_type("aws:ecr/registryPolicy:RegistryPolicy")
    (stmt,) = _doc(reg)["Statement"]
    (node_role,) = [r for r in plan.by_type("aws:iam/role:Role") if r.name == "node-role"]
    assert stmt["Principal"] == {"AWS": sorted([node_role.outputs["arn"], sibling])}


def test_the_owner_creates_every_registry_level_resource(plan: Plan) -> None:
    for t in REGISTRY_LEVEL:
        assert plan.by_type(t), t
