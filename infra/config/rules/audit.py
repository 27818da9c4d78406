"""The ``audit`` section's cross-field rules (docs/governance.md)."""

from __future__ import annotations

from infra.config._base import Environment
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
    if cfg.environment is not Environment.DEV:
        for mname, spec in cfg.serving.models.items():
            if spec.lineage is None:
                out.append(
                    _p(
                        f"serving.models.{mname}.lineage",
                        f"{cfg.environment.value} records model lineage: set at least {{version: ...}} "
                        "(and weightsS3VersionId or dvcHash, mlflowRunId)",
                    )
                )
    if cfg.environment is Environment.PROD:
        if not a.enabled and not a.owned_by:
            out.append(
                _p(
                    "audit.enabled",
                    "prod must keep an audit trail (docs/governance.md); a second stack in the account sets "
                    "audit.ownedBy: <the stack that owns it>",
                    False,
                )
            )
        elif a.object_lock is None:
            out.append(
                _p("audit.objectLock", "prod needs Object Lock on the audit archive: {mode: COMPLIANCE, days: N}")
            )
    return out
