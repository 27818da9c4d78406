"""IngressController: the AWS Load Balancer Controller, which turns Ingresses into ALBs.

Provisions:
- an IRSA role for the controller's service account with the controller's official IAM policy
  (``components/policies/aws-load-balancer-controller.json``, copied from
  kubernetes-sigs/aws-load-balancer-controller ``docs/install/iam_policy.json`` at tag v3.5.0,
  commit 5982613953df58f3227301b7121abde6abaa2c20; update it with the chart's app version);
- the ``aws-load-balancer-controller`` chart (aws/eks-charts 3.5.0, app v3.5.0) in kube-system:
  two replicas with a PDB and zone spread, requests/limits, on the system pool, default target
  type ``ip``, and the Service mutator webhook off.

Outputs: ``release`` (the Helm release, for ``depends_on``), ``role`` (the IAM role).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components import _contracts, _k8s
from components._common import irsa_role
from components._helm import Chart, helm_release
from components.cluster_context import ClusterContext

CHART = Chart(chart="aws-load-balancer-controller", version="3.5.0", repo="https://aws.github.io/eks-charts")
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
POLICY_FILE = Path(__file__).parent / "policies" / "aws-load-balancer-controller.json"


@dataclass(frozen=True)
class IngressControllerArgs:
    """Inputs of :class:`IngressController`. The cluster comes as its :class:`ClusterContext`: the chart gets
    the created cluster's name (``eks_name``) and ``region`` explicitly (no instance metadata), the IRSA role
    comes from ``irsa``, the load balancers carry ``tags``, the controller runs on ``system_node_selector``
    and waits for ``needs_nodes``."""

    vpc_id: pulumi.Input[str]
    """VPC of the cluster; set explicitly for the same reason."""
    replicas: int = 2
    """Controller replicas (leader election; a PDB keeps one up during drains)."""


def controller_policy() -> str:
    """The controller's IAM policy document."""
    return json.dumps(json.loads(POLICY_FILE.read_text()), sort_keys=True)


def controller_flows() -> list[_contracts.Flow]:
    """The API server calls the controller's webhooks (Ingress/Service/TargetGroupBinding, pod readiness gates).

    aws/eks-charts stable/aws-load-balancer-controller templates/deployment.yaml: pods labelled
    ``app.kubernetes.io/name: aws-load-balancer-controller``, container port ``webhook-server`` 9443.
    """
    pods = _contracts.pods(NAMESPACE, {"app.kubernetes.io/name": "aws-load-balancer-controller"})
    return [
        _contracts.Flow(
            "API server -> LB controller webhooks", _contracts.vpc(), pods, 9443, port_name="webhook-server"
        ),
        _contracts.Flow("LB controller -> AWS APIs (ELB, EC2)", pods, _contracts.cidr(_contracts.INTERNET), 443),
    ]


def controller_values(
    args: IngressControllerArgs, context: ClusterContext, role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """The chart's values: explicit cluster, region and VPC; IRSA; pods as targets; spread over zones."""
    selector = {"app.kubernetes.io/name": "aws-load-balancer-controller"}
    return {
        "clusterName": context.eks_name,
        "region": context.region,
        "vpcId": args.vpc_id,
        "replicaCount": args.replicas,
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn},
        },
        # Off: the mutator makes this controller the default for every new Service of type
        # LoadBalancer, and its webhook times out other add-ons' installs while the controller
        # is not ready (anchors §5; chart values.yaml "enableServiceMutatorWebhook").
        "enableServiceMutatorWebhook": False,
        # VPC CNI gives pods VPC IPs: ALBs target pods directly.
        "defaultTargetType": "ip",
        "ingressClass": "alb",
        "createIngressClassResource": True,
        "podDisruptionBudget": {"maxUnavailable": 1},
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "nodeSelector": dict(context.system_node_selector),
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            }
        ],
        "defaultTags": dict(context.tags),
    }


class IngressController(pulumi.ComponentResource):
    """The AWS Load Balancer Controller with its IRSA role."""

    release: pulumi.Resource
    role: aws.iam.Role

    def __init__(
        self,
        name: str,
        args: IngressControllerArgs,
        context: ClusterContext,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = _contracts.declare(flows=controller_flows())
        super().__init__(
            "platform:index:IngressController", name, props, _k8s.with_provider(opts, context.k8s_provider)
        )
        policy = aws.iam.Policy(
            f"{name}-policy",
            description="AWS Load Balancer Controller (official policy, v3.5.0)",
            path=context.irsa.path,  # under the project path, like the role (ADR 0007)
            policy=controller_policy(),
            tags=dict(context.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role = irsa_role(f"{name}-role", context.irsa, NAMESPACE, SERVICE_ACCOUNT, parent=self, tags=context.tags)
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-role-policy",
            role=self.role.name,
            policy_arn=policy.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release = helm_release(
            f"{name}-release",
            "aws-load-balancer-controller",
            CHART,
            NAMESPACE,
            controller_values(args, context, self.role.arn),
            parent=self,
            depends_on=[attachment, *context.needs_nodes],
        )
        self.register_outputs({"role_arn": self.role.arn})
