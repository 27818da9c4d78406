"""Availability Zone names per region, for new stacks.

AZ *names* are not always ``<region>a/b/c``: some letters were retired or are closed to new accounts
(ap-northeast-1 has no ``b``, ca-central-1 no ``c``, us-east-1e offers few instance types), and
us-west-1 offers new accounts two zones whose letters differ between accounts, so it is not listed.
The names come from the AWS "Regions and Zones" pages (EC2 User Guide,
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-regions-availability-zones.html); which
zones an account really has, and whether its GPU instance types are offered there, is what
``blueprint preflight STACK`` checks (DescribeAvailabilityZones, DescribeInstanceTypeOfferings)
before every deploy. A region missing here takes ``--availability-zones``.
"""

from __future__ import annotations

import re

REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")

AZ_SUFFIXES: dict[str, tuple[str, ...]] = {
    "us-east-1": ("a", "b", "c", "d", "f"),
    "us-east-2": ("a", "b", "c"),
    "us-west-2": ("a", "b", "c", "d"),
    "ca-central-1": ("a", "b", "d"),
    "eu-west-1": ("a", "b", "c"),
    "eu-west-2": ("a", "b", "c"),
    "eu-west-3": ("a", "b", "c"),
    "eu-central-1": ("a", "b", "c"),
    "eu-central-2": ("a", "b", "c"),
    "eu-north-1": ("a", "b", "c"),
    "eu-south-1": ("a", "b", "c"),
    "eu-south-2": ("a", "b", "c"),
    "ap-northeast-1": ("a", "c", "d"),
    "ap-northeast-2": ("a", "b", "c", "d"),
    "ap-northeast-3": ("a", "b", "c"),
    "ap-southeast-1": ("a", "b", "c"),
    "ap-southeast-2": ("a", "b", "c"),
    "ap-south-1": ("a", "b", "c"),
    "sa-east-1": ("a", "b", "c"),
    "me-central-1": ("a", "b", "c"),
    "il-central-1": ("a", "b", "c"),
    "af-south-1": ("a", "b", "c"),
}


def availability_zones(region: str, count: int) -> list[str]:
    """The first ``count`` AZ names of ``region``; ValueError when unknown or too few."""
    suffixes = AZ_SUFFIXES.get(region)
    if suffixes is None:
        raise ValueError(f"no AZ names known for {region}; pass --availability-zones {region}a,{region}b,…")
    if count > len(suffixes):
        raise ValueError(f"{region} has {len(suffixes)} usable AZs, the source stack uses {count}")
    return [f"{region}{s}" for s in suffixes[:count]]
