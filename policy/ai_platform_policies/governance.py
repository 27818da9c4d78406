"""Governance: audit trail, tamper-evident archive, data events, access logging, model lineage (docs/governance.md).

Which bucket is which is read from the plan's wiring, not from names: the trail's destination
(``s3BucketName``) and any bucket with Object Lock enabled are the audit archive; the targets of
``BucketLogging`` are access-log buckets; every other bucket is a data bucket whose object reads and
writes must be recorded. Links are followed through property dependencies (URNs), so the checks also
hold in a real preview, where new buckets' names and ARNs are still unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    POLICY_CONFIG,
    STACK_FILE,
    PolicyList,
    ReportViolation,
    as_list,
    get,
    pod_metadata,
    truthy,
)

BUCKET = "aws:s3/bucket:Bucket"
TRAIL = "aws:cloudtrail/trail:Trail"
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
AUDIT = "platform:index:Audit"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
MODEL_LABEL = "platform.ai/model"
# Mirrors components/_lineage.py (the pack does not import the program).
LINEAGE_REQUIRED = (
    "platform.ai/model-name",
    "platform.ai/model-version",
    "platform.ai/image",
    "platform.ai/image-digest",
    "platform.ai/weights-uri",
)
COMPONENT = "components/audit.py"


POLICIES = PolicyList()


def _deps(r: PolicyResource, prop: str) -> set[str]:
    return {d.urn for d in r.property_dependencies.get(prop, [])}


def _of_type(args: StackValidationArgs, typ: str) -> list[PolicyResource]:
    return [r for r in args.resources if r.resource_type == typ]


def _org_trail(args: StackValidationArgs) -> str | None:
    """The organization trail an Audit component declares instead of its own trail."""
    for r in _of_type(args, AUDIT):
        if r.props.get("trailMode") == "organization" and r.props.get("organizationTrailArn"):
            return str(r.props["organizationTrailArn"])
    return None


def _archives(args: StackValidationArgs) -> list[PolicyResource]:
    dest = {u for t in _of_type(args, TRAIL) for u in _deps(t, "s3BucketName")}
    return [b for b in _of_type(args, BUCKET) if b.urn in dest or truthy(b.props.get("objectLockEnabled"))]


def _log_targets(args: StackValidationArgs) -> set[str]:
    return {u for r in _of_type(args, LOGGING) for u in _deps(r, "targetBucket")}


def _data_buckets(args: StackValidationArgs) -> list[PolicyResource]:
    audit = {b.urn for b in _archives(args)} | _log_targets(args)
    return [b for b in _of_type(args, BUCKET) if b.urn not in audit]


# ------------------------------------------------------------------ trail
@POLICIES.stack(
    "governance-cloudtrail-present",
    "A CloudTrail trail (this stack's or a declared organization trail) records the account (GOV-01).",
    Severity.HIGH,
)
def _trail_present(args: StackValidationArgs, report: ReportViolation) -> None:
    """The account is recorded by a CloudTrail trail of this stack or a declared organization trail."""
    if _of_type(args, TRAIL) or _org_trail(args):
        return
    report(
        "no CloudTrail trail records this account: set audit.trail: create (or organization with "
        f"organizationTrailArn) in {STACK_FILE} ({COMPONENT})"
    )


@POLICIES.resource(
    "governance-cloudtrail-settings",
    "Trails are multi-region, validate log files, encrypt with KMS and are logging (GOV-01; CKV_AWS_35/36/67).",
    Severity.HIGH,
    [TRAIL],
)
def _trail_settings(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Trails are multi-region, validate log files, encrypt with KMS and are logging."""
    p = args.props
    missing = [
        what
        for what, ok in (
            ("isMultiRegionTrail: true", truthy(p.get("isMultiRegionTrail"))),
            ("enableLogFileValidation: true", truthy(p.get("enableLogFileValidation"))),
            ("kmsKeyId: <archive key>", bool(p.get("kmsKeyId"))),
            ("enableLogging not false", p.get("enableLogging") is not False),
        )
        if not ok
    ]
    if missing:
        report(f"trail '{args.name}' needs {', '.join(missing)} ({COMPONENT})")


# ------------------------------------------------------------------ archive
@POLICIES.stack(
    "governance-archive-object-lock",
    "The audit archive has Object Lock with a default retention of the required mode and length (GOV-02).",
    Severity.HIGH,
    config={
        "minRetentionDays": {"type": "integer", "default": 1},
        "modes": {"type": "array", "items": {"type": "string"}, "default": ["GOVERNANCE", "COMPLIANCE"]},
    },
    remediation=f"Per-tier values in {POLICY_CONFIG}.",
)
def _archive_locked(args: StackValidationArgs, report: ReportViolation) -> None:
    """The audit archive bucket has Object Lock with the required default retention mode and days."""
    cfg = args.get_config()
    min_days, modes = int(cfg.get("minRetentionDays", 1)), [str(m) for m in as_list(cfg.get("modes"))]
    archives = _archives(args)
    if not archives:
        report(f"no audit archive bucket (a trail destination with Object Lock): enable audit in {STACK_FILE}")
        return
    locks = {u: r for r in _of_type(args, LOCK) for u in _deps(r, "bucket")}
    for b in archives:
        if not truthy(b.props.get("objectLockEnabled")):
            report(
                f"archive '{b.name}' was created without Object Lock: set objectLockEnabled: true ({COMPONENT})", b.urn
            )
            continue
        retention = get(locks[b.urn].props, "rule.defaultRetention") if b.urn in locks else None
        if not retention:
            report(
                f"archive '{b.name}' has no Object Lock default retention: set audit.objectLock "
                f"{{mode: COMPLIANCE, days: {min_days}}} in {STACK_FILE}",
                b.urn,
            )
            continue
        days = float(retention.get("days") or 0) + 365 * float(retention.get("years") or 0)
        if days < min_days or (modes and retention.get("mode") not in modes):
            report(
                f"archive '{b.name}' keeps logs locked {retention.get('mode')} for {days:g} days: "
                f"needs mode in {modes} and at least {min_days} days (audit.objectLock in {STACK_FILE})",
                b.urn,
            )


# ------------------------------------------------------------------ data events
def _selector_covers(sel: Mapping[str, Any], bucket: PolicyResource, deps: set[str], need_reads: bool) -> bool:
    # Field names contain dots (``resources.ARN``), so they are looked up whole, not as paths.
    fields = {str(f.get("field")): f for f in as_list(sel.get("fieldSelectors")) if isinstance(f, Mapping)}

    def values(field: str, op: str) -> list[Any]:
        return as_list((fields.get(field) or {}).get(op))

    if values("eventCategory", "equals") != ["Data"] or "AWS::S3::Object" not in values("resources.type", "equals"):
        return False
    if need_reads and values("readOnly", "equals") == ["false"]:
        return False
    if not values("resources.ARN", "startsWiths"):
        return False
    # The selector's ARNs come from the bucket (a property dependency); a known ARN may also name it.
    arn = bucket.props.get("arn")
    named = isinstance(arn, str) and any(str(a).startswith(f"{arn}/") for a in values("resources.ARN", "startsWiths"))
    return named or bucket.urn in deps


@POLICIES.stack(
    "governance-data-events",
    "A trail records object-level events (reads and writes by default) of every data bucket (GOV-03).",
    Severity.MEDIUM,
    config={"requireReadEvents": {"type": "boolean", "default": True}},
)
def _data_events(args: StackValidationArgs, report: ReportViolation) -> None:
    """A trail records object-level events of every data bucket."""
    if _org_trail(args):
        return  # the organization trail's owner configures its data events (docs/governance.md)
    need_reads = bool(args.get_config().get("requireReadEvents", True))
    trails = _of_type(args, TRAIL)
    for b in _data_buckets(args):
        covered = any(
            _selector_covers(sel, b, _deps(t, "advancedEventSelectors"), need_reads)
            for t in trails
            for sel in as_list(t.props.get("advancedEventSelectors"))
        )
        if not covered:
            scope = "reads and writes" if need_reads else "writes"
            report(
                f"no trail records object-level {scope} of bucket '{b.name}': add it to the trail's data-event "
                f"selector (audit.dataEvents in {STACK_FILE}; {COMPONENT})",
                b.urn,
            )


# ------------------------------------------------------------------ access logging
def _grants_log_delivery(args: StackValidationArgs, target: str) -> bool:
    for r in _of_type(args, BUCKET_POLICY):
        if target not in _deps(r, "bucket"):
            continue
        doc = r.props.get("policy")
        try:
            stmts = as_list(json.loads(doc)["Statement"]) if isinstance(doc, str) else []
        except (ValueError, KeyError, TypeError):
            stmts = []
        if any(get(s, "Principal.Service") == "logging.s3.amazonaws.com" and s.get("Effect") == "Allow" for s in stmts):
            return True
        return not isinstance(doc, str)  # unknown in a real preview: cannot tell
    return False


@POLICIES.stack(
    "governance-access-logging",
    "Data buckets and the archive log access to a bucket S3 can deliver to (GOV-04; CKV_AWS_18).",
    Severity.MEDIUM,
)
def _access_logging(args: StackValidationArgs, report: ReportViolation) -> None:
    """Data buckets and the archive log access to an unlocked bucket that grants S3 log delivery."""
    logging = {u: r for r in _of_type(args, LOGGING) for u in _deps(r, "bucket")}
    locked = {u for r in _of_type(args, LOCK) if get(r.props, "rule.defaultRetention") for u in _deps(r, "bucket")}
    for b in _data_buckets(args) + _archives(args):
        lg = logging.get(b.urn)
        if lg is None:
            report(
                f"bucket '{b.name}' has no server access logging: audit.enabled in {STACK_FILE} ({COMPONENT})", b.urn
            )
            continue
        for target in _deps(lg, "targetBucket"):
            if target in locked:
                report(
                    f"'{lg.name}' logs to a bucket with an Object Lock default retention: S3 cannot deliver there",
                    b.urn,
                )
            elif not _grants_log_delivery(args, target):
                report(
                    f"'{lg.name}' logs to a bucket whose policy does not admit logging.s3.amazonaws.com: "
                    f"no log is ever delivered ({COMPONENT})",
                    b.urn,
                )


# ------------------------------------------------------------------ lineage
@POLICIES.resource(
    "governance-model-lineage",
    "Every model Deployment and its pods carry lineage annotations (GOV-05).",
    Severity.MEDIUM,
    [DEPLOYMENT],
    config={
        "requirePinnedDigest": {"type": "boolean", "default": False},
        "requireVersion": {"type": "boolean", "default": True},
    },
)
def _lineage(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Model Deployments and their pods carry the lineage annotations (digest and version where required)."""
    labels = get(args.props, "metadata.labels") or {}
    if MODEL_LABEL not in labels:
        return
    cfg = args.get_config()
    meta = get(args.props, "metadata.annotations") or {}
    pod = pod_metadata(args.resource_type, args.props).get("annotations") or {}
    name = get(args.props, "metadata.name") or args.name
    fix = f"set serving.models.{labels[MODEL_LABEL]}.lineage in {STACK_FILE}"
    missing = [k for k in LINEAGE_REQUIRED if k not in meta or k not in pod]
    if missing:
        report(f"model Deployment '{name}' lacks lineage annotations {missing} (components/_lineage.py)")
        return
    if cfg.get("requirePinnedDigest") and not str(meta["platform.ai/image-digest"]).startswith("sha256:"):
        report(f"model Deployment '{name}' runs an image not pinned by digest: set image.digest ({fix})")
    if cfg.get("requireVersion", True) and meta["platform.ai/model-version"] == "unversioned":
        report(f"model Deployment '{name}' records no model version: {fix}")
