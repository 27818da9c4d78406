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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import _contracts, _k8s
from components._common import Irsa, irsa_role
from components._helm import Chart, helm_release

CHART = Chart(chart="aws-load-balancer-controller", version="3.5.0", repo="https://aws.github.io/eks-charts")
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
POLICY_FILE = Path(__file__).parent / "policies" / "aws-load-balancer-controller.json"


@dataclass(frozen=True)
class IngressControllerArgs:
    """Inputs of :class:`IngressController`."""

    cluster_name: pulumi.Input[str]
    """EKS cluster name (the chart requires it; it scopes the controller's tags)."""
    region: str
    """AWS region; set explicitly so the controller never needs the instance metadata service."""
    vpc_id: pulumi.Input[str]
    """VPC of the cluster; set explicitly for the same reason."""
    irsa: Irsa
    """The cluster's OIDC provider."""
    k8s_provider: pulumi.ProviderResource
    """The cluster's explicit Kubernetes provider."""
    system_node_selector: Mapping[str, str] = field(default_factory=dict)
    """Node selector of the system pool the controller runs on."""
    replicas: int = 2
    """Controller replicas (leader election; a PDB keeps one up during drains)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for the IAM role and the load balancers the controller creates."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What its pods need before the release can become ready: the node pools and CoreDNS. Without
    them a cold ``up`` relies on Helm's timeout to cover node-group creation."""


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


class IngressController(pulumi.ComponentResource):
    """The AWS Load Balancer Controller with its IRSA role."""

    release: pulumi.Resource
    role: aws.iam.Role

    def __init__(self, name: str, args: IngressControllerArgs, opts: pulumi.ResourceOptions | None = None):
        props = _contracts.declare(flows=controller_flows())
        super().__init__("platform:index:IngressController", name, props, _k8s.with_provider(opts, args.k8s_provider))
        policy = aws.iam.Policy(
            f"{name}-policy",
            description="AWS Load Balancer Controller (official policy, v3.5.0)",
            path=args.irsa.path,  # under the project path, like the role (ADR 0007)
            policy=controller_policy(),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role = irsa_role(f"{name}-role", args.irsa, NAMESPACE, SERVICE_ACCOUNT, parent=self, tags=args.tags)
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-role-policy",
            role=self.role.name,
            policy_arn=policy.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        selector = {"app.kubernetes.io/name": "aws-load-balancer-controller"}
        values = {
            "clusterName": args.cluster_name,
            "region": args.region,
            "vpcId": args.vpc_id,
            "replicaCount": args.replicas,
            "serviceAccount": {
                "create": True,
                "name": SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": self.role.arn},
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
            "nodeSelector": dict(args.system_node_selector),
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector},
                }
            ],
            "defaultTags": dict(args.tags),
        }
        self.release = helm_release(
            f"{name}-release",
            "aws-load-balancer-controller",
            CHART,
            NAMESPACE,
            values,
            parent=self,
            depends_on=[attachment, *args.depends_on],
        )
        self.register_outputs({"role_arn": self.role.arn})
