"""The ``audit`` section's cross-field rules (docs/governance.md)."""

from __future__ import annotations

from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p


def audit_problems(cfg: PlatformConfig) -> list[Problem]:
    """The audit section's cross-field rules (docs/governance.md)."""
    a, out = cfg.audit, []
    if a.trail == "organization" and not a.organization_trail_arn:
        out.append(
            _p("audit.organizationTrailArn", "required with trail: organization (the trail that records this account)")
        )
    if a.trail == "create" and a.organization_trail_arn:
        out.append(_p("audit.organizationTrailArn", "only with trail: organization", a.organization_trail_arn))
    if a.object_lock and a.retention_days < a.object_lock.days:
        out.append(
            _p("audit.retentionDays", f"must be at least objectLock.days ({a.object_lock.days})", a.retention_days)
        )
    if a.cold_after_days >= a.retention_days:
        out.append(_p("audit.coldAfterDays", "must be less than retentionDays", a.cold_after_days))
    return out
