"""Governance guarantees of every stack: the audit archive and trail its config asks for, data events
and access logging that cover the artifact bucket, retention by data class, and lineage on every model."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from blueprint.preview.plan import Plan, Resource
from components import _lineage
from tests.conftest import STACKS, plan_for, stack_raw
from tests.fixtures import PROJECT

BUCKET = "aws:s3/bucket:Bucket"
TRAIL = "aws:cloudtrail/trail:Trail"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"


def _audit(stack: str) -> dict[str, Any]:
    return dict(stack_raw(stack).get("audit") or {})


def _artifacts(plan: Plan) -> Resource:
    return plan.get(BUCKET, "artifacts-bucket")


def _audited(stack: str) -> bool:
    return _audit(stack).get("enabled", True) is not False


@pytest.mark.parametrize("stack", STACKS)
def test_archive_bucket_and_object_lock_follow_the_config(stack: str) -> None:
    if not _audited(stack):
        pytest.skip(f"{stack}: another stack owns this account's audit resources")
    plan = plan_for(stack)
    archive = plan.get(BUCKET, "audit-archive")
    assert archive.inputs["objectLockEnabled"] is True
    lock = _audit(stack).get("objectLock")
    locks = plan.by_type(LOCK)
    if lock is None:
        assert locks == []
    else:
        (cfg,) = locks
        assert cfg.inputs["bucket"] == archive.outputs["id"]
        assert cfg.inputs["rule"]["defaultRetention"] == {"mode": lock.get("mode", "COMPLIANCE"), "days": lock["days"]}
    if stack_raw(stack)["environment"] == "prod":
        assert locks, "prod's archive must have an Object Lock retention"


@pytest.mark.parametrize("stack", STACKS)
def test_trail_records_management_and_artifact_object_events(stack: str) -> None:
    audit = _audit(stack)
    if not _audited(stack) or audit.get("trail") == "organization":
        pytest.skip(f"{stack}: no trail of its own (organization trail or another owner)")
    plan = plan_for(stack)
    (trail,) = plan.by_type(TRAIL)
    t = trail.inputs
    assert t["isMultiRegionTrail"] is True
    assert t["enableLogFileValidation"] is True
    assert t["kmsKeyId"] == plan.get("aws:kms/key:Key", "audit-key").outputs["arn"]
    assert t["s3BucketName"] == plan.get(BUCKET, "audit-archive").outputs["id"]
    selectors = [{f["field"]: f for f in s["fieldSelectors"]} for s in t["advancedEventSelectors"]]
    assert any(s["eventCategory"]["equals"] == ["Management"] and len(s) == 1 for s in selectors)
    data = [s for s in selectors if s["eventCategory"]["equals"] == ["Data"]]
    artifact_prefix = _artifacts(plan).outputs["arn"] + "/"
    covering = [s for s in data if artifact_prefix in s["resources.ARN"].get("startsWiths", [])]
    assert covering, "no data-event selector covers the artifact bucket's objects"
    scope = audit.get("dataEvents", "all")
    read_only = covering[0].get("readOnly", {}).get("equals")
    assert read_only == {"all": None, "read": ["true"], "write": ["false"]}[scope]


@pytest.mark.parametrize("stack", STACKS)
def test_artifact_bucket_access_is_logged_to_an_sse_s3_bucket(stack: str) -> None:
    if not _audited(stack):
        pytest.skip(f"{stack}: another stack owns this account's audit resources")
    plan = plan_for(stack)
    logs = plan.get(BUCKET, "audit-access-logs")
    by_source = {r.inputs["bucket"]: r for r in plan.by_type(LOGGING)}
    logging = by_source[_artifacts(plan).outputs["id"]]
    assert logging.inputs["targetBucket"] == logs.outputs["id"]
    grant = next(
        s
        for r in plan.by_type("aws:s3/bucketPolicy:BucketPolicy")
        if r.inputs["bucket"] == logs.outputs["id"]
        for s in json.loads(r.inputs["policy"])["Statement"]
        if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
    )
    assert _artifacts(plan).outputs["arn"] in grant["Condition"]["ArnLike"]["aws:SourceArn"]


@pytest.mark.parametrize("stack", STACKS)
def test_personal_data_prefixes_expire_as_configured(stack: str) -> None:
    expiry = (stack_raw(stack).get("artifacts") or {}).get("personalDataExpiryDays") or {}
    plan = plan_for(stack)
    lc = next(r for r in plan.by_type(LIFECYCLE) if r.inputs["bucket"] == _artifacts(plan).outputs["id"])
    rules = {r["filter"].get("prefix"): r for r in lc.inputs["rules"] if r["filter"].get("prefix")}
    assert set(rules) == set(expiry)
    for prefix, days in expiry.items():
        assert rules[prefix]["expiration"] == {"days": days}
        assert rules[prefix]["noncurrentVersionExpiration"] == {"noncurrentDays": 1}


@pytest.mark.parametrize("stack", STACKS)
def test_every_model_deployment_carries_its_lineage(stack: str) -> None:
    models = (stack_raw(stack).get("serving") or {}).get("models") or {}
    plan = plan_for(stack)
    deployments = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in plan.by_type("kubernetes:apps/v1:Deployment")
        if "platform.ai/model" in r.inputs["metadata"].get("labels", {})
    }
    for name, spec in models.items():
        tracks = [name] + ([f"{name}-canary"] if spec.get("canary") else [])
        for track in tracks:
            dep = deployments[track]
            ann = dep["metadata"]["annotations"]
            assert all(k in ann for k in _lineage.REQUIRED), (track, ann)
            # The pod template carries the same lineage (the Deployment also has its await timeout).
            lineage_ann = {k: v for k, v in ann.items() if k.startswith("platform.ai/")}
            assert dep["spec"]["template"]["metadata"]["annotations"] == lineage_ann
            assert ann[_lineage.MODEL] == name
            lineage = spec.get("lineage") or {}
            version = (spec["canary"].get("version") if track != name else None) or lineage.get("version")
            assert ann[_lineage.VERSION] == (version or _lineage.UNVERSIONED)
            image = spec["canary"]["image"] if track != name else spec.get("image") or {}
            if image.get("digest"):
                assert ann[_lineage.IMAGE_DIGEST] == image["digest"]
                assert ann[_lineage.IMAGE].endswith("@" + image["digest"])
            if lineage.get("mlflowRunId"):
                assert ann[_lineage.MLFLOW_RUN] == lineage["mlflowRunId"]
            prefix = (spec.get("source") or {}).get("s3Prefix")
            if prefix:
                assert ann[_lineage.WEIGHTS_URI] == f"s3://{_artifacts(plan).outputs['bucket']}/{prefix.strip('/')}/"


def test_one_audit_owner_per_account() -> None:
    """Account-wide singletons have one owner: two stacks in one account must not both create the audit resources."""
    owners: dict[str, list[str]] = defaultdict(list)
    for stack in STACKS:
        if _audited(stack):
            owners[str(stack_raw(stack)["accountId"])].append(stack)
    shared = {acct: stacks for acct, stacks in owners.items() if len(stacks) > 1}
    assert not shared, f"set audit.enabled: false in all but one stack per account: {shared}"


def _variant(stack: str, **audit: Any) -> Plan:
    import dataclasses

    from blueprint.preview.engine import run_stack
    from blueprint.stackfiles import load_stack

    settings = load_stack(stack)
    config = dict(settings.config)
    config[f"{PROJECT}:audit"] = json.dumps({**_audit(stack), **audit})
    return run_stack(stack, dataclasses.replace(settings, config=config))


def test_organization_trail_stack_keeps_archive_and_logging_and_passes_the_pack() -> None:
    from blueprint.preview.policy_eval import evaluate_plan

    org = "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail"
    plan = _variant("prod", trail="organization", organizationTrailArn=org, cloudwatchRetentionDays=None)
    assert plan.by_type(TRAIL) == []
    assert plan.get(BUCKET, "audit-archive").inputs["objectLockEnabled"] is True
    assert _artifacts(plan).outputs["id"] in {r.inputs["bucket"] for r in plan.by_type(LOGGING)}
    report = evaluate_plan(plan, environment="prod")
    assert [v for v in report["violations"] if v["enforcement"] == "mandatory"] == []


def test_a_stack_that_does_not_own_the_audit_resources_creates_none_and_is_told_so() -> None:
    from blueprint.preview.policy_eval import evaluate_plan

    plan = _variant("staging", enabled=False, objectLock=None)
    assert not any("platform:index:Audit" in r.urn for r in plan.resources)
    found = {v["policy"] for v in evaluate_plan(plan, environment="staging")["violations"]}
    assert {"governance-cloudtrail-present", "governance-data-events", "governance-access-logging"} <= found
