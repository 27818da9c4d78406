"""IngressController (AWS Load Balancer Controller) under mocks with stand-in cluster dependencies."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from blueprint.preview.analyses._plan_k8s import flows
from blueprint.preview.plan import Plan, Resource
from components.ingress_controller import (
    CHART,
    NAMESPACE,
    SERVICE_ACCOUNT,
    IngressController,
    IngressControllerArgs,
    controller_policy,
)
from tests.components.harness import REGION, StandIns, run_program

RELEASE = "kubernetes:helm.sh/v3:Release"
SYSTEM = {"platform.ai/pool": "system"}


def _plan() -> Plan:
    def program() -> None:
        stand = StandIns()
        nodes = aws.eks.NodeGroup("system-ng", cluster_name="c", node_role_arn="arn", subnet_ids=["s"],
                                  scaling_config={"desired_size": 2, "max_size": 3, "min_size": 2})  # fmt: skip
        # The one place the component's arguments are spelled.
        context = stand.context(
            cluster_name="c", eks_name=pulumi.Output.from_input("c"), system_node_selector=SYSTEM,
            tags={"team": "platform"}, needs_nodes=(nodes,),
        )  # fmt: skip
        IngressController("ingress", IngressControllerArgs(vpc_id="vpc-1"), context)

    return run_program(program)


def _release(plan: Plan) -> Resource:
    (release,) = [r for r in plan.by_type(RELEASE) if r.inputs.get("chart") == CHART.chart]
    return release


def test_the_controller_runs_with_its_own_role_and_the_official_policy() -> None:
    plan = _plan()
    release = _release(plan)
    values = release.inputs["values"]
    role_arn = values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    (role,) = [r for r in plan.by_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn]
    trust = json.dumps(json.loads(role.inputs["assumeRolePolicy"]))
    assert f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}" in trust
    assert values["serviceAccount"]["name"] == SERVICE_ACCOUNT
    (policy,) = [p for p in plan.by_type("aws:iam/policy:Policy") if p.inputs["policy"] == controller_policy()]
    (attachment,) = plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == policy.outputs["arn"]
    assert attachment.inputs["role"] == role.outputs["name"]
    # The pods start only once the role can act: a controller without permissions fails its first reconcile.
    assert attachment.urn in release.dependencies


def test_the_release_needs_no_instance_metadata_and_waits_for_its_nodes() -> None:
    plan = _plan()
    release = _release(plan)
    values = release.inputs["values"]
    assert release.inputs["namespace"] == NAMESPACE
    assert release.inputs["version"] == CHART.version
    assert (values["clusterName"], values["region"], values["vpcId"]) == ("c", REGION, "vpc-1")
    assert values["enableServiceMutatorWebhook"] is False
    assert values["nodeSelector"] == SYSTEM
    assert values["replicaCount"] >= 2
    assert values["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert values["resources"]["limits"]["memory"]
    assert values["defaultTags"] == {"team": "platform"}
    assert plan.get("aws:eks/nodeGroup:NodeGroup", "system-ng").urn in release.dependencies


def test_the_api_server_may_reach_the_webhooks_of_the_charts_pods() -> None:
    # The EKS control plane calls the webhooks from its ENIs in the VPC; the flow must select the pods the
    # chart labels (the same selector the release spreads them by), on the webhook port.
    plan = _plan()
    pod_labels = _release(plan).inputs["values"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]
    (webhook,) = [f for _, f in flows(plan) if f.get("portName") == "webhook-server"]
    assert webhook["src"] == {"vpc": True}
    assert webhook["dst"] == {"namespace": NAMESPACE, "labels": pod_labels}
    assert webhook["port"] == 9443
