"""What ``blueprint bootstrap`` requires of the state bucket's policy and lifecycle, and what it refuses."""

from __future__ import annotations

from typing import Any

LIFECYCLE_RULE_ID = "pulumi-state-noncurrent-versions"
TLS_SIDS = ("DenyInsecureTransport", "DenyOutdatedTls")

# Condition keys that, with fixed values, make a `Principal: *` statement non-public, as S3 Block
# Public Access evaluates it ("The meaning of public",
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html).
_RESTRICTING_KEYS = {
    "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceaccount", "aws:sourceowner",
    "aws:principalorgid", "aws:principalaccount", "aws:principalarn", "aws:userid", "aws:sourceip",
    "s3:dataaccesspointarn", "s3:dataaccesspointaccount",
}  # fmt: skip


def is_public_statement(statement: dict[str, Any]) -> bool:
    """An Allow to every principal that no fixed-value condition narrows (S3's definition of public)."""
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal")
    principals = principal.get("AWS") if isinstance(principal, dict) else principal
    values = principals if isinstance(principals, list) else [principals]
    if "*" not in values:
        return False
    for operator, conditions in (statement.get("Condition") or {}).items():
        if "like" in operator.lower() or not isinstance(conditions, dict):
            continue  # wildcard operators can match anyone
        for key, value in conditions.items():
            fixed = [value] if isinstance(value, str) else list(value)
            if key.lower() in _RESTRICTING_KEYS and fixed and not any("*" in str(v) for v in fixed):
                return False
    return True


def policy_statements(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A policy's statements as a list (the grammar allows a single object)."""
    statement = (doc or {}).get("Statement", [])
    return [statement] if isinstance(statement, dict) else list(statement)


def tls_statements(bucket: str) -> list[dict[str, Any]]:
    """Deny every request without TLS, and with TLS older than 1.2
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html)."""
    resources = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    return [
        {
            "Sid": TLS_SIDS[0],
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": TLS_SIDS[1],
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ]


def lifecycle_rule(days: int) -> dict[str, Any]:
    """Our lifecycle rule: state history is kept ``days`` days; stale multipart uploads go after 7."""
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }


def same_rule(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    keys = ("Status", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload")
    prefix = (current.get("Filter") or {}).get("Prefix", current.get("Prefix", ""))
    return prefix == "" and all(current.get(k) == wanted[k] for k in keys)
