"""The ``network`` section's cross-field rules."""

from __future__ import annotations

import ipaddress

from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p


def network_problems(cfg: PlatformConfig) -> list[Problem]:
    """Subnets that fit the VPC and AZs of the region. (The tier's AZ and NAT floors are policies:
    eks-node-group-multi-az, ec2-nat-gateway-count.)"""
    out: list[Problem] = []
    net = cfg.network
    for i, az in enumerate(net.availability_zones):
        if not az.startswith(cfg.region):
            out.append(_p(f"network.availabilityZones[{i}]", f"must be an AZ of region {cfg.region}", az))
    if len(set(net.availability_zones)) != len(net.availability_zones):
        out.append(_p("network.availabilityZones", "must not repeat an AZ", net.availability_zones))
    vpc = ipaddress.IPv4Network(net.cidr)
    if net.private_subnet_prefix <= vpc.prefixlen:
        out.append(
            _p(
                "network.privateSubnetPrefix",
                f"must be longer than the VPC prefix /{vpc.prefixlen}",
                net.private_subnet_prefix,
            )
        )
    elif 2 ** (net.private_subnet_prefix - vpc.prefixlen) < len(net.availability_zones) + 1:
        out.append(
            _p(
                "network.privateSubnetPrefix",
                f"too short: {len(net.availability_zones)} private subnets plus a public block do not fit in {net.cidr}",
                net.private_subnet_prefix,
            )
        )
    elif net.public_subnet_prefix <= net.private_subnet_prefix or 2 ** (
        net.public_subnet_prefix - net.private_subnet_prefix
    ) < len(net.availability_zones):
        out.append(
            _p(
                "network.publicSubnetPrefix",
                f"must be longer than privateSubnetPrefix and fit {len(net.availability_zones)} subnets in one private-sized block",
                net.public_subnet_prefix,
            )
        )
    return out
