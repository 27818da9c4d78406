"""Fixture rows of the policies in policy/ai_platform_policies/network.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    DEFAULT_SG,
    FLOW_LOG,
    INGRESS,
    INGRESS_RULE,
    NAT,
    SERVICE,
    SG,
    SUBNET,
    VPC,
    case,
    deep,
    without,
)
from tests.policy.harness import R

case(
    "ec2-vpc-flow-logs",
    [R(VPC, {"cidrBlock": "10.0.0.0/16"}, "vpc"), R(FLOW_LOG, {"vpcId": "vpc-1"}, "fl", deps={"vpcId": ["vpc"]})],
    [R(VPC, {"cidrBlock": "10.0.0.0/16"}, "vpc")],
    "create an aws.ec2.FlowLog for it",
    [R(VPC, {"cidrBlock": "10.0.0.0/16"}, "vpc"), R(FLOW_LOG, {}, "fl")],
    True,
)
case(
    "ec2-default-security-group-closed",
    R(DEFAULT_SG, {"vpcId": "v", "ingress": [], "egress": []}),
    R(
        DEFAULT_SG,
        {
            "vpcId": "v",
            "ingress": [],
            "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}],
        },
    ),
    "set ingress: [] and egress: []",
    R(DEFAULT_SG, {"vpcId": "v"}),
    False,
)
SG_OK = {
    "description": "HTTPS from the VPC",
    "ingress": [
        {"description": "HTTPS", "protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["10.0.0.0/16"]}
    ],
    "egress": [],
}
case(
    "ec2-security-group-no-public-ingress",
    R(SG, SG_OK),
    R(
        SG,
        deep(
            SG_OK,
            "ingress.0",
            {"description": "ssh", "protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"]},
        ),
    ),
    "restrict the source to the VPC",
    R(SG, without(SG_OK, "ingress")),
    False,
)
case(
    "ec2-security-group-descriptions",
    R(SG, SG_OK),
    R(SG, deep(SG_OK, "ingress.0.description", "")),
    "has no description",
    R(SG, without(SG_OK, "description")),
    True,
)
case(
    "ec2-security-group-no-mixed-rules",
    [
        R(SG, without(SG_OK, "ingress", "egress"), "sg"),
        R(
            INGRESS_RULE,
            {"description": "x", "cidrIpv4": "10.0.0.0/16", "ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0},
            "r",
            deps={"securityGroupId": ["sg"]},
        ),
    ],
    [
        R(SG, SG_OK, "sg"),
        R(INGRESS_RULE, {"description": "x", "cidrIpv4": "10.0.0.0/16"}, "r", deps={"securityGroupId": ["sg"]}),
    ],
    "use one style",
    [R(SG, SG_OK, "sg"), R(INGRESS_RULE, {}, "r")],
    False,
)
SUBNETS = [R(SUBNET, {"availabilityZone": f"us-west-2{z}", "mapPublicIpOnLaunch": False}, f"sn-{z}") for z in "abc"]
case(
    "ec2-nat-gateway-count",
    [*SUBNETS, *[R(NAT, {"subnetId": "x"}, f"nat-{i}") for i in range(3)]],
    [*SUBNETS, R(NAT, {"subnetId": "x"}, "nat-0")],
    "set network.natGateways: per-az",
    [*SUBNETS, R(NAT, {}, "nat-0")],
    True,
    mode="per-az",
)
case(
    "ec2-subnet-no-public-ip-on-launch",
    R(SUBNET, {"mapPublicIpOnLaunch": False}),
    R(SUBNET, {"mapPublicIpOnLaunch": True}),
    "set mapPublicIpOnLaunch: false",
    R(SUBNET, {"cidrBlock": "10.0.0.0/19"}),
    False,
)
SVC = {"metadata": {"name": "llama", "namespace": "serving"}, "spec": {"type": "ClusterIP", "ports": [{"port": 80.0}]}}
case(
    "k8s-service-no-public-load-balancer",
    R(SERVICE, SVC),
    R(SERVICE, deep(SVC, "spec.type", "LoadBalancer")),
    "annotate service.beta.kubernetes.io/aws-load-balancer-scheme: internal",
    R(SERVICE, without(SVC, "spec")),
    False,
)
ING_ANN = {
    "alb.ingress.kubernetes.io/scheme": "internet-facing",
    "alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:x",
    "alb.ingress.kubernetes.io/ssl-redirect": "443",
}
case(
    "k8s-ingress-alb-tls",
    R(INGRESS, {"metadata": {"name": "models", "namespace": "serving", "annotations": ING_ANN}}),
    R(
        INGRESS,
        {
            "metadata": {
                "name": "models",
                "namespace": "serving",
                "annotations": {k: v for k, v in ING_ANN.items() if "certificate" not in k},
            }
        },
    ),
    "set serving.ingress.certificateArn",
    R(INGRESS, {"metadata": {"name": "models", "namespace": "serving"}}),
    False,
)
