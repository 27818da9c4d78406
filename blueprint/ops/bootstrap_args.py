"""The argument types of ``blueprint bootstrap``: each refuses a bad value client-side, before any AWS call."""

from __future__ import annotations

import argparse
import ipaddress
import re

import botocore.loaders
import botocore.regions

# KMS alias names: "alias/" then letters, digits, / _ - (CreateAlias API reference), at most 256 in all;
# the state key's alias adds "-state".
_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]+$")
_ALIAS_MAX = 256 - len("-state")

# S3 general purpose bucket naming rules
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def days_arg(value: str) -> int:
    """argparse type: 1 to 3650 days (the lifecycle API's useful range)."""
    try:
        days = int(value)
    except ValueError:
        days = 0
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError(f"must be a whole number of days between 1 and 3650, got {value!r}")
    return days


def known_regions() -> set[str]:
    """Regions in botocore's bundled endpoint data, every partition (no network call, no profile read)."""
    resolver = botocore.regions.EndpointResolver(botocore.loaders.create_loader().load_data("endpoints"))
    return {r for part in resolver.get_available_partitions() for r in resolver.get_available_endpoints("s3", part)}


def region_arg(value: str) -> str:
    """argparse type: a region botocore knows (a new region needs a newer boto3)."""
    if value not in known_regions():
        raise argparse.ArgumentTypeError(
            f"unknown AWS region {value!r} (e.g. us-west-2, eu-central-1); if AWS launched it recently, upgrade boto3"
        )
    return value


def bucket_arg(value: str) -> str:
    """argparse type: a valid general purpose bucket name."""
    why = None
    if not _BUCKET.match(value):
        why = "3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    elif ".." in value:
        why = "no two adjacent dots"
    elif _is_ip(value):
        why = "not formatted as an IP address"
    elif value.startswith(_BUCKET_PREFIXES) or value.endswith(_BUCKET_SUFFIXES):
        why = f"no reserved prefix ({', '.join(_BUCKET_PREFIXES)}) or suffix ({', '.join(_BUCKET_SUFFIXES)})"
    if why:
        raise argparse.ArgumentTypeError(f"invalid S3 bucket name {value!r}: {why}")
    return value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def alias_arg(value: str) -> str:
    """argparse type: a customer alias (``alias/`` is added when missing)."""
    alias = value if value.startswith("alias/") else f"alias/{value}"
    if alias.startswith("alias/aws/"):
        raise argparse.ArgumentTypeError(f"{alias} is reserved for AWS managed keys; choose another --kms-alias")
    if not _ALIAS.match(alias) or len(alias) > _ALIAS_MAX:
        raise argparse.ArgumentTypeError(
            f"invalid KMS alias {value!r}: alias/ then letters, digits, '/', '_' and '-', at most {_ALIAS_MAX} characters"
        )
    return alias
