"""The Network component under mocks, through the dev and prod stacks."""

from __future__ import annotations

import ipaddress

from blueprint.preview.plan import Plan
from components.network import subnet_cidrs

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"


def test_subnets_are_carved_without_overlap() -> None:
    private, public = subnet_cidrs("10.0.0.0/16", 3, 19, 24)
    nets = [ipaddress.ip_network(c) for c in private + public]
    assert [n.prefixlen for n in nets] == [19, 19, 19, 24, 24, 24]
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            assert not a.overlaps(b), (a, b)


def test_dev_has_one_nat_and_two_azs(dev_plan: Plan) -> None:
    subnets = dev_plan.by_type(SUBNET)
    assert sorted({s.inputs["availabilityZone"] for s in subnets}) == ["us-west-2a", "us-west-2b"]
    assert len(dev_plan.by_type(NAT)) == 1


def test_prod_has_a_nat_per_az(prod_plan: Plan) -> None:
    assert len(prod_plan.by_type(NAT)) == 3
    nat_subnets = {n.property_dependencies["subnetId"][0] for n in prod_plan.by_type(NAT)}
    assert len(nat_subnets) == 3


def test_subnets_never_assign_public_ips_and_carry_lb_tags(stack_plan: Plan) -> None:
    for s in stack_plan.by_type(SUBNET):
        assert s.inputs["mapPublicIpOnLaunch"] is False
        role = "kubernetes.io/role/elb" if "-public-" in s.name else "kubernetes.io/role/internal-elb"
        assert s.inputs["tags"][role] == "1"
        assert any(k.startswith("kubernetes.io/cluster/") for k in s.inputs["tags"])


def test_default_security_group_has_no_rules(stack_plan: Plan) -> None:
    (sg,) = stack_plan.by_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert sg.inputs.get("ingress", []) == []
    assert sg.inputs.get("egress", []) == []


def test_flow_logs_capture_all_traffic_with_retention(stack_plan: Plan) -> None:
    (fl,) = stack_plan.by_type("aws:ec2/flowLog:FlowLog")
    assert fl.inputs["trafficType"] == "ALL"
    (group,) = [g for g in stack_plan.by_type("aws:cloudwatch/logGroup:LogGroup") if g.name.endswith("flow-logs")]
    assert group.inputs["retentionInDays"] > 0
    assert group.urn in fl.dependencies


def test_private_routes_go_through_nat(stack_plan: Plan) -> None:
    private_rts = [r for r in stack_plan.by_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name]
    assert private_rts
    for rt in private_rts:
        assert rt.inputs["routes"][0]["natGatewayId"].startswith("nat-")
