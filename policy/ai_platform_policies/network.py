"""VPC, subnets, security groups, NAT and Kubernetes exposure (catalogue §3.5 NET-01…07, EKS-06, CIS 5.4.5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    STACK_FILE,
    PolicyList,
    ReportViolation,
    as_list,
    get,
    num,
    truthy,
    workload_label,
)

VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SUBNET = "aws:ec2/subnet:Subnet"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
NAT = "aws:ec2/natGateway:NatGateway"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
OPEN = ("0.0.0.0/0", "::/0")
ADMIN_PORTS = (22, 3389)


POLICIES = PolicyList()


@POLICIES.stack(
    "ec2-vpc-flow-logs",
    "Every VPC has flow logs (NET-01; CKV2_AWS_11).",
    Severity.MEDIUM,
)
def _flow_logs(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each VPC has a flow log attached."""
    logged: set[str] = set()
    for r in args.resources:
        if r.resource_type == FLOW_LOG:
            logged.update(d.urn for d in r.property_dependencies.get("vpcId", []))
            logged.update(d.urn for d in r.dependencies)
    for r in args.resources:
        if r.resource_type == VPC and r.urn not in logged:
            report(
                f"VPC '{r.name}' has no flow log: create an aws.ec2.FlowLog for it (components/network.py; "
                f"retention from network.flowLogRetentionDays in {STACK_FILE})",
                r.urn,
            )


@POLICIES.resource(
    "ec2-default-security-group-closed",
    "The VPC default security group has no rules (NET-02; CKV2_AWS_12).",
    Severity.MEDIUM,
    [DEFAULT_SG],
)
def _default_sg(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The default security group has no ingress or egress rules."""
    rules = as_list(args.props.get("ingress")) + as_list(args.props.get("egress"))
    if rules:
        report(
            f"the VPC's default security group '{args.name}' has {len(rules)} rule(s): set ingress: [] and egress: [] "
            "(components/network.py), so nothing can use it by accident"
        )


def _rules_of(args: ResourceValidationArgs) -> list[tuple[str, Mapping[str, Any], list[str]]]:
    """``(direction, rule, cidrs)`` for inline and standalone rules."""
    p, t = args.props, args.resource_type
    if t == SG:
        out = []
        for direction in ("ingress", "egress"):
            for r in as_list(p.get(direction)):
                out.append((direction, r, [*as_list(r.get("cidrBlocks")), *as_list(r.get("ipv6CidrBlocks"))]))
        return out
    if t == SG_RULE:
        return [
            (str(p.get("type") or "ingress"), p, [*as_list(p.get("cidrBlocks")), *as_list(p.get("ipv6CidrBlocks"))])
        ]
    direction = "ingress" if t == INGRESS_RULE else "egress"
    return [(direction, p, [c for c in (p.get("cidrIpv4"), p.get("cidrIpv6")) if c])]


def _ports(rule: Mapping[str, Any]) -> tuple[int, int]:
    proto = str(rule.get("protocol") or rule.get("ipProtocol") or "")
    lo, hi = num(rule.get("fromPort")), num(rule.get("toPort"))
    if proto in ("-1", "all") or lo is None:
        return 0, 65535
    return int(lo), int(hi if hi is not None else lo)


@POLICIES.resource(
    "ec2-security-group-no-public-ingress",
    "No ingress from 0.0.0.0/0 or ::/0 except allowlisted ports; never SSH/RDP (NET-03; CKV_AWS_24/25/260).",
    Severity.CRITICAL,
    [SG, SG_RULE, INGRESS_RULE],
    config={"allowedPublicPorts": {"type": "array", "items": {"type": "integer"}, "default": []}},
)
def _public_ingress(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Ingress from 0.0.0.0/0 or ::/0 only on allowlisted ports, never SSH (22) or RDP (3389)."""
    allowed_ports = {int(p) for p in as_list(args.get_config().get("allowedPublicPorts"))}
    for direction, rule, cidrs in _rules_of(args):
        if direction != "ingress" or not any(c in OPEN for c in cidrs):
            continue
        lo, hi = _ports(rule)
        admin = [p for p in ADMIN_PORTS if lo <= p <= hi]
        if admin or not (lo == hi and lo in allowed_ports):
            report(
                f"security group '{args.name}' accepts ports {lo}-{hi} from the internet"
                f"{' including ' + ', '.join(map(str, admin)) if admin else ''}: restrict the source to the VPC "
                f"or an allowlist (serving.ingress.inboundCidrs in {STACK_FILE}); only ports "
                f"{sorted(allowed_ports) or 'none'} may be public"
            )


@POLICIES.resource(
    "ec2-security-group-descriptions",
    "Security groups and their rules say what they admit (NET-04; CKV_AWS_23).",
    Severity.LOW,
    [SG, SG_RULE, INGRESS_RULE, EGRESS_RULE],
)
def _descriptions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Security groups and their rules carry a description."""
    if args.resource_type == SG and not str(args.props.get("description") or "").strip():
        report(f"security group '{args.name}' has no description: say what it admits and why")
    for direction, rule, _ in _rules_of(args):
        if not str(rule.get("description") or "").strip():
            lo, hi = _ports(rule)
            report(f"security group '{args.name}' {direction} rule {lo}-{hi} has no description: set description")


@POLICIES.stack(
    "ec2-security-group-no-mixed-rules",
    "A security group uses inline rules or rule resources, never both (NET-05; AWSGuard).",
    Severity.MEDIUM,
)
def _no_mixed(args: StackValidationArgs, report: ReportViolation) -> None:
    """A security group with inline rules has no separate rule resources."""
    inline = {
        r.urn: r
        for r in args.resources
        if r.resource_type == SG and (r.props.get("ingress") is not None or r.props.get("egress") is not None)
    }
    for r in args.resources:
        if r.resource_type not in (SG_RULE, INGRESS_RULE, EGRESS_RULE):
            continue
        for d in r.property_dependencies.get("securityGroupId", []):
            if d.urn in inline:
                report(
                    f"security group '{d.name}' has inline rules and a standalone rule '{r.name}': the two fight on "
                    "every update; use one style",
                    r.urn,
                )


@POLICIES.stack(
    "ec2-nat-gateway-count",
    "NAT gateways follow the environment's budget: one in dev, one per AZ elsewhere (NET-06, COST-08).",
    Severity.LOW,
    config={"mode": {"type": "string", "enum": ["single", "per-az"], "default": "per-az"}},
)
def _nat_count(args: StackValidationArgs, report: ReportViolation) -> None:
    """NAT gateways number exactly one in single mode, at least one per subnet AZ in per-az mode."""
    mode = args.get_config().get("mode", "per-az")
    nats = [r for r in args.resources if r.resource_type == NAT]
    azs = {str(r.props.get("availabilityZone")) for r in args.resources if r.resource_type == SUBNET}
    if not nats:
        return
    if mode == "single" and len(nats) != 1:
        report(
            f"{len(nats)} NAT gateways in an environment that budgets one: set network.natGateways: single in {STACK_FILE}"
        )
    elif mode == "per-az" and len(nats) < len(azs):
        report(
            f"{len(nats)} NAT gateway(s) for {len(azs)} availability zones: an AZ outage cuts egress for the others; "
            f"set network.natGateways: per-az in {STACK_FILE}"
        )


@POLICIES.resource(
    "ec2-subnet-no-public-ip-on-launch",
    "Subnets never auto-assign public IPs; nodes are private (EKS-06; CKV_AWS_130, CIS 5.4.3).",
    Severity.HIGH,
    [SUBNET],
)
def _subnet_public_ip(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Subnets set mapPublicIpOnLaunch: false."""
    if truthy(args.props.get("mapPublicIpOnLaunch")):
        report(
            f"subnet '{args.name}' gives every instance a public IP: set mapPublicIpOnLaunch: false "
            "(components/network.py); load balancers get theirs from the ELB service"
        )


_INTERNAL = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
}


@POLICIES.resource(
    "k8s-service-no-public-load-balancer",
    "Services are not internet-facing LoadBalancers (NET-07; PC service-disallow-load-balancer).",
    Severity.LOW,
    [SERVICE],
)
def _service_lb(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Services of type LoadBalancer carry an internal-scheme annotation."""
    if get(args.props, "spec.type") != "LoadBalancer":
        return
    ann = get(args.props, "metadata.annotations") or {}
    if any(str(ann.get(k, "")).lower() == v for k, v in _INTERNAL.items()):
        return
    report(
        f"{workload_label(args)} is an internet-facing LoadBalancer: use ClusterIP behind the serving ALB Ingress, or "
        "annotate service.beta.kubernetes.io/aws-load-balancer-scheme: internal"
    )


@POLICIES.resource(
    "k8s-ingress-alb-tls",
    "Internet-facing ALB Ingresses terminate TLS and redirect HTTP (CIS-EKS 5.4.5).",
    Severity.HIGH,
    [INGRESS],
)
def _ingress_tls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Internet-facing ALB Ingresses set a certificate ARN and ssl-redirect."""
    ann = get(args.props, "metadata.annotations") or {}
    if ann.get("alb.ingress.kubernetes.io/scheme") != "internet-facing":
        return
    if not ann.get("alb.ingress.kubernetes.io/certificate-arn") or not ann.get(
        "alb.ingress.kubernetes.io/ssl-redirect"
    ):
        report(
            f"{workload_label(args)} is internet-facing without HTTPS: set serving.ingress.certificateArn in "
            f"{STACK_FILE} (annotations alb.ingress.kubernetes.io/certificate-arn and ssl-redirect: '443')"
        )
