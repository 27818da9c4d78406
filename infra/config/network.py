"""``network``: the VPC."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from infra.config._base import _check_retention, _Model


# --------------------------------------------------------------------------- network
class NetworkConfig(_Model):
    """The VPC: subnets, NAT, flow logs and endpoints."""

    cidr: str = "10.0.0.0/16"
    """IPv4 CIDR of the VPC, /16 to /20."""
    availability_zones: list[str] = Field(min_length=1, max_length=6)
    """Availability zones to span, e.g. ``[us-west-2a, us-west-2b]``. Each gets a public and a private subnet."""
    nat_gateways: Literal["single", "per-az"] = "per-az"
    """``per-az`` (default) survives an AZ outage; ``single`` saves cost in dev."""
    private_subnet_prefix: int = Field(default=19, ge=16, le=26)
    """Prefix length of each private subnet; pods take their IPs from these (VPC CNI), so keep them large."""
    public_subnet_prefix: int = Field(default=24, ge=20, le=28)
    """Prefix length of each public subnet (load balancers and NAT gateways only)."""
    flow_log_retention_days: int = 90
    """Retention of the VPC flow-log group, in days (a CloudWatch Logs retention value)."""
    vpc_endpoints: bool = True
    """Create an S3 gateway endpoint and ECR api/dkr and STS interface endpoints, so image pulls skip NAT."""

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(v)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 CIDR ({exc})") from None
        if not 16 <= net.prefixlen <= 20:
            raise ValueError("the VPC prefix length must be between /16 and /20")
        return v

    @field_validator("flow_log_retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        return _check_retention(v)
