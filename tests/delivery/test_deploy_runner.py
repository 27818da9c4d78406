"""The in-VPC deploy runner, the cloud-layer-only first `up`, and the secrets-key move (config and plan)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
import yaml

from blueprint.preview.analyses.deploy_path import analyse
from blueprint.preview.engine import run_stack
from blueprint.preview.plan import Plan, Resource
from blueprint.stackfiles import load_stack
from infra.config import SECRET_KEYS, ConfigError, parse_config, runner_project_name
from tests import fixtures as fx
from tests.conftest import ROOT, STACKS, plan_for
from tests.fixtures import PROJECT


def one(plan: Plan, type_: str, name: str) -> Resource:
    return plan.get(type_, name)


def variant(stack: str, **delivery: Any) -> Plan:
    """The plan of a committed stack with some `delivery` keys overridden (as `pulumi config set --path` would)."""
    return _variant(stack, json.dumps(delivery, sort_keys=True))


@cache
def _variant(stack: str, delivery_json: str) -> Plan:
    settings = load_stack(stack, ROOT)
    current = json.loads(settings.config[f"{PROJECT}:delivery"])
    config = {**settings.config, f"{PROJECT}:delivery": json.dumps({**current, **json.loads(delivery_json)})}
    return run_stack(stack, dataclasses.replace(settings, config=config))


def problems(raw: dict[str, Any]) -> dict[str, str]:
    plain = {k: ("x" if isinstance(v, dict) and set(v) == {"secure"} else v) for k, v in raw.items()}
    with pytest.raises(ConfigError) as info:
        parse_config(plain, secret_keys=SECRET_KEYS, source="stacks/Pulumi.test.yaml")
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize("stack", STACKS)
def test_runner_builds_run_in_the_clusters_private_subnets_admitted_on_443(stack: str) -> None:
    plan = plan_for(stack)
    project = one(plan, "aws:codebuild/project:Project", "deploy-runner-project")
    cluster = one(plan, "aws:eks/cluster:Cluster", "cluster-eks")
    sg = one(plan, "aws:ec2/securityGroup:SecurityGroup", "deploy-runner-sg")
    rule = one(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "deploy-runner-cluster-api")
    assert project.inputs["name"] == runner_project_name(stack)
    vpc = project.inputs["vpcConfig"]
    assert sorted(vpc["subnets"]) == sorted(cluster.inputs["vpcConfig"]["subnetIds"])  # private subnets only
    assert vpc["securityGroupIds"] == [sg.outputs["id"]]
    assert vpc["vpcId"] == sg.inputs["vpcId"]
    assert [(e["protocol"], e["fromPort"], e["toPort"]) for e in sg.inputs["egress"]] == [("tcp", 443.0, 443.0)]
    assert "ingress" not in sg.inputs or not sg.inputs["ingress"]
    assert rule.inputs["securityGroupId"] == cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]
    assert rule.inputs["referencedSecurityGroupId"] == sg.outputs["id"]
    assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (443.0, 443.0, "tcp")


@pytest.mark.parametrize("stack", STACKS)
def test_runner_project_is_a_github_actions_runner_through_codeconnections(stack: str) -> None:
    plan = plan_for(stack)
    project = one(plan, "aws:codebuild/project:Project", "deploy-runner-project")
    raw = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"][f"{PROJECT}:delivery"]
    source = project.inputs["source"]
    assert source["type"] == "GITHUB"
    assert source["location"] == f"https://github.com/{raw['githubRepository']}"
    assert source["auth"] == {"type": "CODECONNECTIONS", "resource": raw["deployRunner"]["connectionArn"]}
    env = project.inputs["environment"]
    assert env["type"] == "LINUX_CONTAINER"
    assert env["privilegedMode"] is False
    assert env["image"].startswith("aws/codebuild/standard:")  # Ubuntu: actions/setup-python's builds run there
    assert project.inputs["buildTimeout"] >= 120 + 10  # longer than the deploy job's timeout-minutes
    log = one(plan, "aws:cloudwatch/logGroup:LogGroup", "deploy-runner-logs")
    assert project.inputs["logsConfig"]["cloudwatchLogs"]["groupName"] == log.inputs["name"]


def _workflow_names_on_codebuild() -> set[str]:
    names = set()
    for path in (ROOT / ".github" / "workflows").glob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        if any(str(job.get("runs-on", "")).startswith("codebuild-") for job in doc["jobs"].values()):
            names.add(doc["name"])
    return names


def test_the_webhook_starts_builds_only_for_queued_jobs_of_the_workflows_that_use_it() -> None:
    # https://docs.aws.amazon.com/codebuild/latest/userguide/action-runner.html: filter group EVENT =
    # WORKFLOW_JOB_QUEUED; WORKFLOW_NAME narrows it (github-webhook-events-cfn.html).
    webhook = one(plan_for(fx.PROD), "aws:codebuild/webhook:Webhook", "deploy-runner-webhook")
    (group,) = webhook.inputs["filterGroups"]
    filters = {f["type"]: f["pattern"] for f in group["filters"]}
    assert filters["EVENT"] == "WORKFLOW_JOB_QUEUED"
    pattern = re.compile(filters["WORKFLOW_NAME"])
    users = _workflow_names_on_codebuild()
    assert users == {"deploy", "drift", "preview"}
    assert all(pattern.fullmatch(name) for name in users)
    assert not pattern.fullmatch("ci")
    assert not pattern.fullmatch("deploy-something-else")
    assert webhook.inputs["buildType"] == "BUILD"


def test_the_codebuild_role_can_do_nothing_in_the_platform() -> None:
    # Jobs get AWS credentials through OIDC (test_workflows: configure-aws-credentials prefers it); the
    # service role is what a job could reach without them, so it gets logs, ENIs and the connection only.
    policy = json.loads(
        one(plan_for(fx.PROD), "aws:iam/rolePolicy:RolePolicy", "deploy-runner-role-policy").inputs["policy"]
    )
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {a.split(":")[0] for a in actions} == {"logs", "ec2", "codeconnections", "codestar-connections"}
    assert not [
        a
        for a in actions
        if a.startswith("ec2:") and not re.match(r"ec2:(Describe|CreateNetworkInterface|DeleteNetworkInterface)", a)
    ]
    trust = json.loads(one(plan_for(fx.PROD), "aws:iam/role:Role", "deploy-runner-role").inputs["assumeRolePolicy"])
    (stmt,) = trust["Statement"]
    assert stmt["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert stmt["Condition"] == {"StringEquals": {"aws:SourceAccount": fx.account(fx.PROD)}}


def test_cloud_layer_only_up_registers_nothing_that_talks_to_the_cluster() -> None:
    # The administrator's first `up` (README): `pulumi config set --path delivery.kubernetesLayer false`.
    cloud = variant("prod", kubernetesLayer=False)
    full = plan_for(fx.PROD)
    k8s_objects = [r for r in cloud.resources if r.type.startswith("kubernetes:")]
    assert k8s_objects == [], [r.urn for r in k8s_objects]  # not even the StorageClass
    cloud_types = {r.type for r in full.resources if r.type.startswith("aws:")}
    assert {r.type for r in cloud.resources if r.type.startswith("aws:")} <= cloud_types
    for kind in (
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:codebuild/project:Project",
        "aws:eks/accessEntry:AccessEntry",
        "aws:ecr/repository:Repository",
    ):
        assert len(cloud.by_type(kind)) == len(full.by_type(kind)), kind
    # The provider object may exist: pulumi-kubernetes' Configure marks an unreachable cluster
    # (`clusterUnreachable`, provider/pkg/provider/provider.go) and fails only operations on Kubernetes
    # resources, of which the cloud layer registers none.
    assert {r.type for r in cloud.resources if r.provider.startswith("urn:") and ":kubernetes::" in r.provider} == set()
    assert analyse(cloud, ROOT).findings == []


def test_the_kubernetes_layer_is_on_in_every_committed_stack() -> None:
    for stack in STACKS:
        raw = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"][f"{PROJECT}:delivery"]
        assert raw.get("kubernetesLayer", True) is True, f"{stack}: commit the stack with the Kubernetes layer on"


def _kms_aliases(plan: Plan, policy_name: str) -> list[str]:
    doc = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", policy_name).inputs["policy"])
    (kms,) = [s for s in doc["Statement"] if s["Sid"] == "PlatformKeys"]
    return sorted(kms["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"])


def test_moving_the_secrets_key_grants_both_aliases_to_both_roles() -> None:
    # README "Move a stack to another secrets key": grant both, deploy, change-secrets-provider, drop the old.
    plan = variant(
        "staging",
        secretsKmsAlias=["alias/pulumi-secrets-2026", "alias/pulumi-secrets"],
        stateKmsAlias="alias/pulumi-secrets-state",
    )
    expected = ["alias/pulumi-secrets", "alias/pulumi-secrets-2026", "alias/pulumi-secrets-state"]
    assert _kms_aliases(plan, "delivery-preview-state") == expected
    assert _kms_aliases(plan, "delivery-deploy-iam") == expected
    assert _kms_aliases(plan_for(fx.STAGING), "delivery-deploy-iam") == [
        "alias/pulumi-secrets",
        "alias/pulumi-secrets-state",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["alias/a", "alias/b", "alias/c"], "two different aliases"),
        (["alias/a", "alias/a"], "two different aliases"),
        ([], "two different aliases"),
        (["alias/a", "alias/aws/s3"], "customer-managed"),
    ],
)
def test_secrets_alias_list_errors(raw_config: Callable[[str], dict[str, Any]], value: Any, message: str) -> None:
    raw = raw_config(fx.DEV)
    raw["delivery"]["secretsKmsAlias"] = value
    assert message in problems(raw)["delivery.secretsKmsAlias"]


def test_a_private_cluster_without_the_runner_is_a_config_error(raw_config: Callable[[str], dict[str, Any]]) -> None:
    raw = raw_config(fx.PROD)
    raw["delivery"]["deployRunner"]["enabled"] = False
    assert "cannot reach this cluster's API endpoint" in problems(raw)["delivery.deployRunner.enabled"]
    raw = raw_config(fx.DEV)  # public, but only to an office allowlist
    raw["delivery"]["deployRunner"] = {"enabled": False}
    assert "delivery.deployRunner.enabled" in problems(raw)
    # The only endpoint a GitHub-hosted runner reaches is one open to 0.0.0.0/0, which the config refuses:
    # so every stack that deploys from CI has the runner.
    raw["cluster"]["publicAccessCidrs"] = ["0.0.0.0/0"]
    assert "opens the API to the internet" in problems(raw)["cluster.publicAccessCidrs"]


def test_the_runner_needs_a_codeconnections_connection(raw_config: Callable[[str], dict[str, Any]]) -> None:
    raw = raw_config(fx.STAGING)
    del raw["delivery"]["deployRunner"]["connectionArn"]
    assert "CodeConnections" in problems(raw)["delivery.deployRunner.connectionArn"]
    raw["delivery"]["deployRunner"]["connectionArn"] = "arn:aws:iam::222222222222:role/not-a-connection"
    assert "connection ARN" in problems(raw)["delivery.deployRunner.connectionArn"]
    raw["delivery"]["deployRunner"]["connectionArn"] = (
        "arn:aws:codestar-connections:us-west-2:222222222222:connection/0a1b2c3d-2222-4e5f-8a9b-0c1d2e3f4a5b"
    )
    raw["delivery"]["deployRunner"]["computeType"] = "BUILD_LAMBDA_1GB"  # Lambda compute has no VPC
    assert "BUILD_GENERAL1_MEDIUM" in problems(raw)["delivery.deployRunner.computeType"]
