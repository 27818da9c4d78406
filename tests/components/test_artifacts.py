"""The Artifacts component under mocks."""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
import pytest

from blueprint.preview.engine import run_program
from blueprint.preview.plan import Plan
from components.artifacts import Artifacts, ArtifactsArgs

ACCOUNT = "123456789012"


def _plan(**overrides: Any) -> Plan:
    def program() -> None:
        args: dict[str, Any] = {
            "bucket_prefix": "ai-platform-unit-artifacts-",
            "account_id": ACCOUNT,
            "noncurrent_version_expiry_days": 30,
            "abort_incomplete_upload_days": 5,
            "protect": True,
        }
        args.update(overrides)
        artifacts = Artifacts("artifacts", ArtifactsArgs(**args))
        role = aws.iam.Role("reader", assume_role_policy="{}")
        aws.iam.RolePolicy("reader-models", role=role.id, policy=artifacts.access_policy("/models/llama/"))
        aws.iam.RolePolicy("writer-dvc", role=role.id, policy=artifacts.access_policy("dvc", write=True))

    return run_program(program, account=ACCOUNT)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return _plan()


def _bucket_child(plan: Plan, typ: str) -> dict[str, Any]:
    (r,) = plan.by_type(typ)
    bucket = plan.by_type("aws:s3/bucket:Bucket")[0]
    assert r.inputs["bucket"] == bucket.outputs["id"]
    return r.inputs


def test_bucket_is_prefixed_never_force_destroyed_and_protected(plan: Plan) -> None:
    (bucket,) = plan.by_type("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucketPrefix"] == "ai-platform-unit-artifacts-"
    assert bucket.inputs.get("forceDestroy") is not True
    assert bucket.protect
    assert bucket.retain_on_delete
    (key,) = plan.by_type("aws:kms/key:Key")
    assert key.protect
    assert key.retain_on_delete
    assert key.inputs["enableKeyRotation"] is True


def test_versioning_and_sse_kms_with_bucket_key(plan: Plan) -> None:
    assert _bucket_child(plan, "aws:s3/bucketVersioning:BucketVersioning")["versioningConfiguration"] == {
        "status": "Enabled"
    }
    (rule,) = _bucket_child(
        plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )["rules"]
    key_arn = plan.by_type("aws:kms/key:Key")[0].outputs["arn"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
    assert rule["bucketKeyEnabled"] is True


def test_public_access_blocked_and_acls_disabled(plan: Plan) -> None:
    block = _bucket_child(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block[flag] is True, flag
    ownership = _bucket_child(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_policy_denies_plain_http_after_the_public_access_block(plan: Plan) -> None:
    (policy,) = plan.by_type("aws:s3/bucketPolicy:BucketPolicy")
    bucket_arn = plan.by_type("aws:s3/bucket:Bucket")[0].outputs["arn"]
    (stmt,) = json.loads(policy.inputs["policy"])["Statement"]
    assert stmt["Effect"] == "Deny"
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert stmt["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    block = plan.by_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0]
    assert block.urn in policy.dependencies


def test_lifecycle_expires_noncurrent_versions_and_aborts_uploads(plan: Plan) -> None:
    (rule,) = _bucket_child(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["rules"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {}
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 5}


def test_unprotected_when_protect_is_off() -> None:
    plan = _plan(protect=False)
    assert not any(r.protect or r.retain_on_delete for r in plan.resources)


def test_access_policies_are_scoped_to_one_prefix_and_the_bucket_key(plan: Plan) -> None:
    bucket_arn = plan.by_type("aws:s3/bucket:Bucket")[0].outputs["arn"]
    key_arn = plan.by_type("aws:kms/key:Key")[0].outputs["arn"]
    read = {
        s["Sid"]: s
        for s in json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "reader-models").inputs["policy"])["Statement"]
    }
    assert read["ListPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["models/llama/", "models/llama/*"]}}
    assert read["Objects"] == {
        "Sid": "Objects",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": f"{bucket_arn}/models/llama/*",
    }
    assert read["BucketKey"]["Action"] == ["kms:Decrypt"]
    assert read["BucketKey"]["Resource"] == key_arn
    write = {
        s["Sid"]: s
        for s in json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "writer-dvc").inputs["policy"])["Statement"]
    }
    assert "s3:PutObject" in write["Objects"]["Action"]
    assert "s3:DeleteObject" not in write["Objects"]["Action"]
    assert write["Objects"]["Resource"] == f"{bucket_arn}/dvc/*"
    assert write["BucketKey"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
