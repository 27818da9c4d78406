"""``audit``: the account's log archive, CloudTrail and S3 access logs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from infra.config._base import _check_retention, _Model

# --------------------------------------------------------------------------- audit
_TRAIL_ARN = re.compile(r"^arn:aws(-[a-z]+)?:cloudtrail:[a-z0-9-]+:\d{12}:trail/[\w.-]{3,128}$")


class ObjectLockConfig(_Model):
    """Default S3 Object Lock retention of the audit archive."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = "COMPLIANCE"
    """``COMPLIANCE``: no one, not even the root user, can delete or alter a log version before it ends;
    ``GOVERNANCE``: principals with ``s3:BypassGovernanceRetention`` can."""
    days: int = Field(ge=1, le=36500)
    """Retention period in days."""


class AuditConfig(_Model):
    """Audit trail: the account's log archive, CloudTrail and S3 access logs (docs/governance.md).

    One stack per AWS account owns these account-wide resources (the one-owner rule): a stack with
    ``enabled: true`` owns them; other stacks in the same account set ``enabled: false``.
    """

    enabled: bool = True
    """Create the audit archive, access logging and (with ``trail: create``) the trail in this account."""
    owned_by: str | None = None
    """With ``enabled: false``: the stack in the same account that owns the audit resources (a second stack
    in an account must not create them again; the preview refuses two owners per account)."""
    trail: Literal["create", "organization"] = "create"
    """``create``: a multi-region trail (management events + the artifact bucket's data events).
    ``organization``: an organization trail already records this account; no trail is created here (a
    second one would pay for a second copy of every management event), only the archive and the access
    logs; the organization trail's owner adds the artifact bucket's data events."""
    organization_trail_arn: str | None = None
    """ARN of the organization trail; required with ``trail: organization``."""
    data_events: Literal["all", "write", "read"] = "all"
    """Object-level operations on the artifact bucket the trail records (reads of datasets and weights, writes, or both)."""
    additional_data_event_buckets: list[str] = Field(default_factory=list)
    """On the owner: the artifact buckets of the account's other stacks (their ``artifactBucket`` output), whose
    object operations this trail records too (a stack without its own trail relies on the owner's)."""

    @field_validator("additional_data_event_buckets")
    @classmethod
    def _bucket_names(cls, v: list[str]) -> list[str]:
        bad = [b for b in v if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", b)]
        if bad:
            raise ValueError(f"not S3 bucket names: {bad}")
        return v

    object_lock: ObjectLockConfig | None = None
    """Default Object Lock retention of the archive (required in prod)."""
    cold_after_days: int = Field(default=90, ge=30, le=3650)
    """Move archived logs and records to Glacier Instant Retrieval after this many days."""
    retention_days: int = Field(default=2557, ge=90, le=36500)
    """Delete archived logs and deployment records after this many days (default 7 years)."""
    access_log_retention_days: int = Field(default=365, ge=30, le=36500)
    """Delete S3 server access logs after this many days."""
    cloudwatch_retention_days: int | None = None
    """Also deliver the trail to CloudWatch Logs, kept this many days (a CloudWatch retention value)."""

    @field_validator("organization_trail_arn")
    @classmethod
    def _org_arn(cls, v: str | None) -> str | None:
        if v is not None and not _TRAIL_ARN.match(v):
            raise ValueError("a CloudTrail trail ARN such as arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail")
        return v

    @field_validator("cloudwatch_retention_days")
    @classmethod
    def _cw_retention(cls, v: int | None) -> int | None:
        return v if v is None else _check_retention(v)
