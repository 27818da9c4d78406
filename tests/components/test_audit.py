"""The Audit component under mocks: archive, access-log bucket, access logging and the trail."""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
import pytest

from blueprint.preview.engine import run_program
from blueprint.preview.plan import Plan, Resource
from components.audit import ACCESS_LOG_PREFIX, CLOUDTRAIL_PREFIX, Audit, AuditArgs, ObjectLock

ACCOUNT = "123456789012"
REGION = "us-west-2"
TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"


def _plan(**overrides: Any) -> Plan:
    def program() -> None:
        artifacts = aws.s3.Bucket("artifacts", bucket="ai-platform-unit-artifacts")
        args: dict[str, Any] = {
            "name_prefix": "ai-platform-unit",
            "account_id": ACCOUNT,
            "region": REGION,
            "audited_buckets": {"artifacts": artifacts},
            "object_lock": ObjectLock("COMPLIANCE", 365),
            "retention_days": 2557,
            "cloudwatch_retention_days": 365,
        }
        args.update(overrides)
        Audit("audit", AuditArgs(**args))

    return run_program(program, account=ACCOUNT, region=REGION)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return _plan()


def _bucket(plan: Plan, role: str) -> Resource:
    return plan.get(BUCKET, f"audit-{role}")


def _for_bucket(plan: Plan, typ: str, bucket: Resource) -> dict[str, Any]:
    (r,) = [r for r in plan.by_type(typ) if r.inputs.get("bucket") == bucket.outputs["id"]]
    return r.inputs


def _statements(plan: Plan, bucket: Resource) -> dict[str, dict[str, Any]]:
    doc = json.loads(_for_bucket(plan, POLICY, bucket)["policy"])
    return {s["Sid"]: s for s in doc["Statement"]}


def test_archive_has_object_lock_from_creation_and_a_compliance_retention(plan: Plan) -> None:
    archive = _bucket(plan, "archive")
    assert archive.inputs["objectLockEnabled"] is True
    assert archive.protect
    assert archive.retain_on_delete
    assert archive.inputs.get("forceDestroy") is not True
    lock = _for_bucket(plan, LOCK, archive)
    assert lock["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 365}
    # The access-log bucket has no default retention: log delivery refuses such a destination.
    assert not plan.by_type(LOCK)[1:]
    assert not _bucket(plan, "access-logs").inputs.get("objectLockEnabled")


def test_without_object_lock_config_the_bucket_still_has_it_enabled_but_no_retention() -> None:
    plan = _plan(object_lock=None)
    assert _bucket(plan, "archive").inputs["objectLockEnabled"] is True
    assert plan.by_type(LOCK) == []


def test_archive_is_sse_kms_with_its_own_key_and_the_log_bucket_sse_s3(plan: Plan) -> None:
    key = plan.get("aws:kms/key:Key", "audit-key")
    assert key.protect
    assert key.inputs["enableKeyRotation"] is True
    (rule,) = _for_bucket(plan, SSE, _bucket(plan, "archive"))["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key.outputs["arn"],
    }
    (rule,) = _for_bucket(plan, SSE, _bucket(plan, "access-logs"))["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


def test_key_policy_admits_cloudtrail_for_this_trail_only(plan: Plan) -> None:
    key = plan.get("aws:kms/key:Key", "audit-key")
    stmts = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    trail_arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/ai-platform-unit-audit"
    enc = stmts["AllowCloudTrailEncrypt"]
    assert enc["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert enc["Condition"]["StringEquals"] == {"aws:SourceArn": trail_arn}
    assert stmts["AllowCloudTrailDescribeKey"]["Condition"]["StringEquals"] == {"aws:SourceArn": trail_arn}
    assert all(s["Principal"] != "*" and s["Principal"].get("AWS") != "*" for s in stmts.values())
    # The ARN the policies name is the trail's real ARN.
    (trail,) = plan.by_type(TRAIL)
    assert trail.inputs["name"] == "ai-platform-unit-audit"


def test_both_buckets_are_versioned_private_tls_only_and_expire(plan: Plan) -> None:
    for role in ("archive", "access-logs"):
        b = _bucket(plan, role)
        assert _for_bucket(plan, "aws:s3/bucketVersioning:BucketVersioning", b)["versioningConfiguration"] == {
            "status": "Enabled"
        }
        pab = _for_bucket(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", b)
        assert all(
            pab[f] is True
            for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        deny = _statements(plan, b)["DenyInsecureTransport"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        (rule,) = _for_bucket(plan, LIFECYCLE, b)["rules"]
        assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    (archive_rule,) = _for_bucket(plan, LIFECYCLE, _bucket(plan, "archive"))["rules"]
    assert archive_rule["transitions"] == [{"days": 90, "storageClass": "GLACIER_IR"}]
    assert archive_rule["expiration"] == {"days": 2557}
    # A delete marker cannot shorten retention: noncurrent versions are kept as long.
    assert archive_rule["noncurrentVersionExpiration"] == {"noncurrentDays": 2557}


def test_archive_policy_lets_cloudtrail_write_its_prefix_for_this_trail(plan: Plan) -> None:
    archive = _bucket(plan, "archive")
    stmts = _statements(plan, archive)
    trail_arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/ai-platform-unit-audit"
    write = stmts["AWSCloudTrailWrite"]
    assert write["Resource"] == f"{archive.outputs['arn']}/{CLOUDTRAIL_PREFIX}/AWSLogs/{ACCOUNT}/*"
    assert write["Condition"]["StringEquals"] == {
        "aws:SourceArn": trail_arn,
        "s3:x-amz-acl": "bucket-owner-full-control",
    }
    assert stmts["AWSCloudTrailAclCheck"]["Action"] == "s3:GetBucketAcl"
    deny = stmts["DenyObjectDeletion"]
    assert (deny["Effect"], deny["Principal"]) == ("Deny", "*")
    assert deny["Action"] == ["s3:DeleteObject", "s3:DeleteObjectVersion"]


def test_access_logs_cover_the_audited_buckets_and_the_archive(plan: Plan) -> None:
    logs = _bucket(plan, "access-logs")
    artifacts = plan.get(BUCKET, "artifacts")
    archive = _bucket(plan, "archive")
    logged = {r.inputs["bucket"]: r.inputs for r in plan.by_type(LOGGING)}
    assert set(logged) == {artifacts.outputs["id"], archive.outputs["id"]}
    for inputs in logged.values():
        assert inputs["targetBucket"] == logs.outputs["id"]
        assert inputs["targetPrefix"].startswith(f"{ACCESS_LOG_PREFIX}/")
        assert inputs["targetObjectKeyFormat"] == {"partitionedPrefix": {"partitionDateSource": "EventTime"}}
    grant = _statements(plan, logs)["S3ServerAccessLogsPolicy"]
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert grant["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert sorted(grant["Condition"]["ArnLike"]["aws:SourceArn"]) == sorted(
        [artifacts.outputs["arn"], archive.outputs["arn"]]
    )
    # Logging is configured only once log delivery is allowed.
    log_policy = next(r for r in plan.by_type(POLICY) if r.inputs["bucket"] == logs.outputs["id"])
    assert all(log_policy.urn in r.dependencies for r in plan.by_type(LOGGING))


def test_trail_is_multi_region_validated_encrypted_and_records_artifact_objects(plan: Plan) -> None:
    (trail,) = plan.by_type(TRAIL)
    t = trail.inputs
    assert t["isMultiRegionTrail"] is True
    assert t["enableLogFileValidation"] is True
    assert t["includeGlobalServiceEvents"] is True
    assert t["kmsKeyId"] == plan.get("aws:kms/key:Key", "audit-key").outputs["arn"]
    assert t["s3BucketName"] == _bucket(plan, "archive").outputs["id"]
    assert t["s3KeyPrefix"] == CLOUDTRAIL_PREFIX
    selectors = {s["name"]: s["fieldSelectors"] for s in t["advancedEventSelectors"]}
    assert selectors["Management events"] == [{"field": "eventCategory", "equals": ["Management"]}]
    data = {f["field"]: f for f in selectors["Audited bucket objects"]}
    assert data["eventCategory"]["equals"] == ["Data"]
    assert data["resources.type"]["equals"] == ["AWS::S3::Object"]
    assert data["resources.ARN"]["startsWiths"] == [plan.get(BUCKET, "artifacts").outputs["arn"] + "/"]
    assert "readOnly" not in data  # scope "all"
    # CloudTrail validates the bucket policy at creation.
    archive_policy = next(
        r for r in plan.by_type(POLICY) if r.inputs["bucket"] == _bucket(plan, "archive").outputs["id"]
    )
    assert archive_policy.urn in trail.dependencies


@pytest.mark.parametrize(("scope", "read_only"), [("write", "false"), ("read", "true")])
def test_data_event_scope_narrows_to_reads_or_writes(scope: str, read_only: str) -> None:
    (trail,) = _plan(data_events=scope).by_type(TRAIL)
    data = next(s for s in trail.inputs["advancedEventSelectors"] if s["name"] == "Audited bucket objects")
    assert {"field": "readOnly", "equals": [read_only]} in data["fieldSelectors"]


def test_cloudwatch_delivery_uses_the_stream_wildcard_and_a_scoped_role(plan: Plan) -> None:
    (trail,) = plan.by_type(TRAIL)
    group = plan.get("aws:cloudwatch/logGroup:LogGroup", "audit-trail-logs")
    assert group.inputs["retentionInDays"] == 365
    assert trail.inputs["cloudWatchLogsGroupArn"] == group.outputs["arn"] + ":*"
    role = plan.get("aws:iam/role:Role", "audit-trail-logs-role")
    assert trail.inputs["cloudWatchLogsRoleArn"] == role.outputs["arn"]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    grant = plan.get("aws:iam/rolePolicy:RolePolicy", "audit-trail-logs-policy")
    (stmt,) = json.loads(grant.inputs["policy"])["Statement"]
    assert stmt["Resource"] == group.outputs["arn"] + ":log-stream:*"
    assert grant.urn in trail.dependencies


def test_without_cloudwatch_the_trail_delivers_to_s3_only() -> None:
    plan = _plan(cloudwatch_retention_days=None)
    (trail,) = plan.by_type(TRAIL)
    assert not trail.inputs.get("cloudWatchLogsGroupArn")
    assert plan.by_type("aws:cloudwatch/logGroup:LogGroup") == []


def test_organization_mode_creates_no_trail_and_no_cloudtrail_grants() -> None:
    org = "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail"
    plan = _plan(create_trail=False, organization_trail_arn=org)
    assert plan.by_type(TRAIL) == []
    stmts = _statements(plan, plan.get(BUCKET, "audit-archive"))
    assert set(stmts) == {"DenyInsecureTransport", "DenyObjectDeletion"}
    key_sids = {s["Sid"] for s in json.loads(plan.get("aws:kms/key:Key", "audit-key").inputs["policy"])["Statement"]}
    assert key_sids == {"EnableIamPolicies"}
    # The archive and the access logging stay.
    assert len(plan.by_type(LOGGING)) == 2
    (component,) = plan.by_type("platform:index:Audit")
    assert component.inputs["trailMode"] == "organization"
    assert component.inputs["organizationTrailArn"] == org


def test_unprotected_when_protect_is_off() -> None:
    plan = _plan(protect=False)
    assert not any(r.protect or r.retain_on_delete for r in plan.resources)


def test_the_owner_records_the_object_operations_of_the_accounts_other_buckets() -> None:
    """A stack sharing the account has no trail of its own: the owner's trail lists its artifact bucket."""
    other = "arn:aws:s3:::another-stack-artifacts"
    (trail,) = _plan(other_data_event_bucket_arns=[other]).by_type(TRAIL)
    data = next(s for s in trail.inputs["advancedEventSelectors"] if s["name"] == "Audited bucket objects")
    arns = next(f for f in data["fieldSelectors"] if f["field"] == "resources.ARN")["startsWiths"]
    assert f"{other}/" in arns
    assert len(arns) == 2
