"""Registry and artifact-store properties of every committed stack, and the registry config rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from blueprint.preview.plan import Plan, Resource
from infra.config import PULL_THROUGH_UPSTREAMS, SECRET_KEYS, ConfigError, parse_config
from tests import fixtures as fx
from tests.conftest import plan_for, stack_raw
from tests.fixtures import FOREIGN_ACCOUNT, STACKS

REPO = "aws:ecr/repository:Repository"
PUSH = "ecr:PutImage"


def _repos(plan: Plan) -> list[Resource]:
    return [r for r in plan.by_type(REPO) if r.parent.endswith("platform:index:Registry::registry")]


def _doc(r: Resource, key: str = "policy") -> dict[str, Any]:
    return json.loads(r.inputs[key])


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    stmts = doc["Statement"]
    return stmts if isinstance(stmts, list) else [stmts]


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _cluster_wired(plan: Plan) -> bool:
    return bool(plan.by_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider"))


def test_every_repository_has_lifecycle_kms_and_no_force_delete(stack_plan: Plan) -> None:
    repos = _repos(stack_plan)
    assert repos
    (key,) = [k for k in stack_plan.by_type("aws:kms/key:Key") if k.name == "registry-key"]
    lifecycle = {r.inputs["repository"]: _doc(r) for r in stack_plan.by_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")}
    for repo in repos:
        name = repo.inputs["name"]
        assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key.outputs["arn"]}]
        assert repo.inputs.get("forceDelete") is not True, name
        statuses = [rule["selection"]["tagStatus"] for rule in lifecycle[name]["rules"]]
        assert statuses == ["untagged", "tagged"], name
    assert key.inputs["enableKeyRotation"] is True


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_tags_are_immutable(stack: str) -> None:
    repos = _repos(plan_for(stack))
    assert repos
    assert {r.inputs["imageTagMutability"] for r in repos} == {"IMMUTABLE"}


def _stateful(plan: Plan) -> list[Resource]:
    keys = plan.by_type("aws:kms/key:Key")
    buckets = plan.by_type("aws:s3/bucket:Bucket")
    assert len(keys) >= 2
    assert buckets
    return _repos(plan) + keys + buckets


def test_prod_repositories_keys_and_bucket_are_protected_and_retained(prod_plan: Plan) -> None:
    for r in _stateful(prod_plan):
        assert (r.protect, r.retain_on_delete) == (True, True), r.urn


def test_dev_protects_nothing(dev_plan: Plan) -> None:
    for r in _stateful(dev_plan):
        assert (r.protect, r.retain_on_delete) == (False, False), r.urn


def test_artifact_bucket_is_tls_only_private_versioned_and_encrypted(stack_plan: Plan) -> None:
    # The artifact bucket's own configuration (the audit buckets have theirs: tests/stacks/test_governance.py).
    policy = stack_plan.get("aws:s3/bucketPolicy:BucketPolicy", "artifacts-policy")
    deny_http = [
        s
        for s in _statements(_doc(policy))
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert deny_http
    block = stack_plan.get("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "artifacts-public-access")
    assert all(
        block.inputs[f] is True
        for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    versioning = stack_plan.get("aws:s3/bucketVersioning:BucketVersioning", "artifacts-versioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    sse = stack_plan.get(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "artifacts-encryption"
    )
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    lifecycle = stack_plan.get(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "artifacts-lifecycle"
    )
    assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] > 0


def test_push_is_granted_only_on_the_platform_repositories(stack_plan: Plan) -> None:
    repo_arns = sorted(r.outputs["arn"] for r in _repos(stack_plan))
    push_grants = [
        s
        for p in stack_plan.by_type("aws:iam/rolePolicy:RolePolicy") + stack_plan.by_type("aws:iam/policy:Policy")
        for s in _statements(_doc(p))
        if s["Effect"] == "Allow" and PUSH in _as_list(s.get("Action"))
    ]
    for s in push_grants:
        assert sorted(_as_list(s["Resource"])) == repo_arns
    if _cluster_wired(stack_plan):
        # Once the cluster (and its OIDC provider) is composed, the CI runners get their push role,
        # in the stack that builds images only (ciRunners.pushToRegistry).
        ci = stack_raw(stack_plan.stack).get("ciRunners", {})
        pushers = [ci, *(ci.get(b) or {} for b in ("gitlab", "jenkins", "circleci"))]
        expected = sum(1 for c in pushers if c.get("enabled") and c.get("pushToRegistry"))
        if not (stack_raw(stack_plan.stack).get("delivery") or {}).get("kubernetesLayer", True):
            expected = 1 if ci.get("enabled") and ci.get("pushToRegistry") else 0  # the other backends are in-cluster
        assert len(push_grants) == expected


def test_no_registry_policy_allows_any_principal(stack_plan: Plan) -> None:
    policies = stack_plan.by_type("aws:ecr/repositoryPolicy:RepositoryPolicy") + stack_plan.by_type(
        "aws:ecr/registryPolicy:RegistryPolicy"
    )
    for p in policies:
        for s in _statements(_doc(p)):
            principals = s["Principal"]
            assert principals != "*", p.urn
            assert "*" not in _as_list(principals.get("AWS", [])), p.urn
    if _cluster_wired(stack_plan):
        assert len(stack_plan.by_type("aws:ecr/repositoryPolicy:RepositoryPolicy")) == len(_repos(stack_plan))


def test_pull_through_rules_exist_for_the_enabled_upstreams(stack_plan: Plan) -> None:
    configured = stack_raw(stack_plan.stack).get("registry", {}).get("pullThroughCache")
    enabled = (
        {"ecr-public", "k8s", "quay"}
        if configured is None
        else {k for k, v in configured.items() if (v or {}).get("enabled", True)}
    )
    if stack_raw(stack_plan.stack).get("registry", {}).get("createRegistrySettings") is False:
        enabled = set()  # another stack of the account and region creates them (blueprint/singletons.py)
    rules = {
        r.inputs["ecrRepositoryPrefix"]: r
        for r in stack_plan.by_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    }
    assert set(rules) == enabled
    for prefix, rule in rules.items():
        assert rule.inputs["upstreamRegistryUrl"] == PULL_THROUGH_UPSTREAMS[prefix][0]
    templates = {
        t.inputs["prefix"] for t in stack_plan.by_type("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    }
    assert templates == enabled


def _parse(raw: dict[str, Any]) -> None:
    for key in SECRET_KEYS:
        if isinstance(raw.get(key), dict):
            raw[key] = "placeholder"
    parse_config(raw, secret_keys=SECRET_KEYS, source="stacks/Pulumi.test.yaml")


@pytest.mark.parametrize("upstream", [k for k, (_, cred) in PULL_THROUGH_UPSTREAMS.items() if cred])
def test_credentialed_upstream_without_credential_arn_is_a_config_error(
    raw_config: Callable[[str], dict[str, Any]], upstream: str
) -> None:
    raw = raw_config(fx.DEV)
    # ecr-public stays on: the serving model-sync image is pulled through it.
    raw["registry"]["pullThroughCache"] = {"ecr-public": {}, upstream: {}}
    with pytest.raises(ConfigError) as err:
        _parse(raw)
    assert [p.path for p in err.value.problems] == [f"registry.pullThroughCache.{upstream}.credentialArn"]

    raw["registry"]["pullThroughCache"] = {
        "ecr-public": {},
        upstream: {
            "credentialArn": f"arn:aws:secretsmanager:us-west-2:111111111111:secret:ecr-pullthroughcache/{upstream}-Ab12Cd"
        },
    }
    _parse(raw)


def test_mutable_tags_outside_dev_are_left_to_the_pack(raw_config: Callable[[str], dict[str, Any]]) -> None:
    """Immutable tags per tier are the policy ecr-repository-immutable-tags (mandatory in staging and prod,
    tests/stacks/test_tier_guardrails.py): the config passes the repository's own setting through to it."""
    raw = raw_config(fx.PROD)
    raw["registry"]["repositories"]["vllm"] = {"imageTagMutability": "MUTABLE"}
    _parse(raw)
    specs = parse_config(raw, secret_keys=SECRET_KEYS, source="stacks/Pulumi.test.yaml").registry.repository_specs()
    assert specs["vllm"].image_tag_mutability == "MUTABLE"


def test_every_node_role_may_fill_the_pull_through_caches(stack_plan: Plan) -> None:
    """A cache repository is created by the first pull through it (ecr:CreateRepository and
    ecr:BatchImportUpstreamImage, granted by the registry policy): a GPU node's DaemonSets may be the first to
    pull an image, so every node role the stack creates (managed pools' and Karpenter's) is a principal there."""
    policies = stack_plan.by_type("aws:ecr/registryPolicy:RegistryPolicy")
    if not policies or not stack_plan.by_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule"):
        pytest.skip("this stack leaves the registry settings to another stack of its account and region")
    node_roles = [
        r.outputs["arn"]
        for r in stack_plan.by_type("aws:iam/role:Role")
        if r.name in ("cluster-node-role", "karpenter-node-role")
    ]
    assert node_roles
    fillers = {
        arn
        for p in policies
        for s in _statements(_doc(p))
        if "ecr:BatchImportUpstreamImage" in _as_list(s["Action"])
        for arn in _as_list(s["Principal"]["AWS"])
    }
    assert set(node_roles) <= fillers, set(node_roles) - fillers


@pytest.mark.parametrize("stack", STACKS)
def test_cache_fillers_are_roles_of_the_account_listed_by_the_owner(
    raw_config: Callable[[str], dict[str, Any]], stack: str
) -> None:
    """``registry.pullThroughPrincipalArns`` goes into the owner's registry policy: a non-owner listing roles, or
    a role of another account, is refused with the key's path."""
    raw = raw_config(stack)
    mine = f"arn:aws:iam::{raw['accountId']}:role/other-stack-node-role"
    raw["registry"] = {**raw["registry"], "createRegistrySettings": True, "pullThroughPrincipalArns": [mine]}
    _parse(raw)
    for edit, text in (
        ({"pullThroughPrincipalArns": [f"arn:aws:iam::{FOREIGN_ACCOUNT}:role/x"]}, "roles of account"),
        ({"createRegistrySettings": False, "registrySettingsOwnedBy": "owner"}, "only the stack that creates"),
    ):
        raw["registry"] = {**raw["registry"], "pullThroughPrincipalArns": [mine], **edit}
        with pytest.raises(ConfigError) as err:
            _parse(raw)
        assert any(p.path == "registry.pullThroughPrincipalArns" and text in p.message for p in err.value.problems)
