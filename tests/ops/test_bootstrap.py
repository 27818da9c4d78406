"""``blueprint bootstrap`` against moto over HTTP: create, verify, repair, dry-run, errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from blueprint.ops.bootstrap import LIFECYCLE_RULE_ID
from tests.ops.conftest import REGION, Faults, Result, assert_one_line_error, client

BUCKET = "acme-pulumi-state"
ARGS = ("bootstrap", "--region", REGION, "--bucket", BUCKET)
MUTATING = ("Create", "Put", "Enable", "Delete", "Update", "Schedule", "Tag")


def _rows(out: str) -> dict[str, str]:
    """item -> status from the printed table."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃|").split("│")]
        if len(cells) == 3 and cells[1] in ("created", "updated", "in place", "would create", "would update"):
            rows[cells[0]] = cells[1]
    return rows


def test_first_run_creates_a_hardened_backend(cli: Callable[..., Result], aws_env: str) -> None:
    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert set(_rows(res.out).values()) == {"created"}
    s3, kms = client("s3", aws_env), client("kms", aws_env)

    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["BucketKeyEnabled"] is True
    state_key = kms.describe_key(KeyId="alias/pulumi-secrets-state")["KeyMetadata"]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == state_key["Arn"]
    secrets_key = kms.describe_key(KeyId="alias/pulumi-secrets")["KeyMetadata"]
    assert secrets_key["KeyId"] != state_key["KeyId"], "state readers must not be able to decrypt secrets"
    for key in (secrets_key, state_key):
        assert key["KeyManager"] == "CUSTOMER"
        assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(pab.values())
    assert len(pab) == 4
    assert s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    insecure = next(s for s in policy["Statement"] if s["Sid"] == "DenyInsecureTransport")
    assert insecure["Effect"] == "Deny"
    assert insecure["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (lc,) = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert lc["ID"] == LIFECYCLE_RULE_ID
    assert lc["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90

    assert f"pulumi login 's3://{BUCKET}?region={REGION}&awssdk=v2'" in res.out
    assert f"--secrets-provider 'awskms://alias/pulumi-secrets?region={REGION}'" in res.out


def test_second_run_changes_nothing(cli: Callable[..., Result], faults: Faults) -> None:
    assert cli(*ARGS).code == 0
    faults.sent.clear()
    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert set(_rows(res.out).values()) == {"in place"}
    assert "everything is in place" in res.out
    assert not [op for op in faults.sent if op.split(".")[1].startswith(MUTATING)]


def test_dry_run_reads_only_and_creates_nothing(cli: Callable[..., Result], faults: Faults, aws_env: str) -> None:
    res = cli(*ARGS, "--dry-run")
    assert res.code == 0, res.err
    assert set(_rows(res.out).values()) == {"would create"}
    assert faults.sent, "the hook saw the calls"
    assert not [op for op in faults.sent if op.split(".")[1].startswith(MUTATING)]
    assert client("s3", aws_env).list_buckets()["Buckets"] == []
    assert client("kms", aws_env).list_aliases()["Aliases"] == [] or all(
        a["AliasName"].startswith("alias/aws/") for a in client("kms", aws_env).list_aliases()["Aliases"]
    )


def test_existing_key_but_no_bucket(cli: Callable[..., Result], aws_env: str) -> None:
    kms = client("kms", aws_env)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/pulumi-secrets", TargetKeyId=key)
    res = cli(*ARGS)
    assert res.code == 0, res.err
    rows = _rows(res.out)
    assert rows["kms key alias/pulumi-secrets"] == "in place"
    assert rows["kms key alias/pulumi-secrets rotation"] == "updated"
    assert rows[f"s3 bucket {BUCKET}"] == "created"
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True
    assert kms.describe_key(KeyId="alias/pulumi-secrets")["KeyMetadata"]["KeyId"] == key, "the key is reused"


def test_unencrypted_bucket_is_repaired_and_foreign_settings_kept(cli: Callable[..., Result], aws_env: str) -> None:
    s3 = client("s3", aws_env)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    other = {"Sid": "AllowAuditRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}  # fmt: skip
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]}))
    s3.put_bucket_lifecycle_configuration(
        Bucket=BUCKET,
        LifecycleConfiguration={"Rules": [{"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
                                           "Expiration": {"Days": 30}}]},
    )  # fmt: skip

    res = cli(*ARGS)
    assert res.code == 0, res.err
    rows = _rows(res.out)
    assert rows[f"s3 bucket {BUCKET}"] == "in place"
    assert rows["s3 default encryption"] == "updated"
    assert rows["s3 versioning"] == "created"
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    sids = [s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]]
    assert sids == ["AllowAuditRead", "DenyInsecureTransport", "DenyOutdatedTls"]
    ids = [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]]
    assert ids == ["logs", LIFECYCLE_RULE_ID]
    assert set(_rows(cli(*ARGS).out).values()) == {"in place"}


def test_bucket_in_another_region_is_refused(cli: Callable[..., Result], aws_env: str) -> None:
    eu = client("s3", aws_env, region="eu-west-1")
    eu.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    res = cli(*ARGS)
    assert res.code == 1
    assert res.err.strip() == f"error: bucket {BUCKET} is in eu-west-1, not {REGION}; pass --region eu-west-1"


def test_key_pending_deletion_is_not_touched(cli: Callable[..., Result], aws_env: str) -> None:
    kms = client("kms", aws_env)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/pulumi-secrets", TargetKeyId=key)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    res = cli(*ARGS)
    assert res.code == 1
    assert "PendingDeletion" in res.err
    assert "cancel its deletion" in res.err
    assert client("s3", aws_env).list_buckets()["Buckets"] == [], "nothing is created after a refusal"


def test_throttled_kms_calls_are_retried(cli: Callable[..., Result], faults: Faults) -> None:
    faults.add("kms", "*", "ThrottlingException", status=400, times=3)
    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert faults.fired("ThrottlingException") == 3
    assert set(_rows(res.out).values()) == {"created"}


def test_throttling_that_never_stops_is_one_line(cli: Callable[..., Result], faults: Faults) -> None:
    faults.add("kms", "DescribeKey", "ThrottlingException")
    res = cli(*ARGS, "--retries", "1")
    assert_one_line_error(res, "error: AWS kept throttling DescribeKey after 2 attempts")


def test_access_denied_is_one_line(cli: Callable[..., Result], faults: Faults) -> None:
    faults.add("s3", "CreateBucket", "AccessDenied", status=403)
    res = cli(*ARGS)
    assert_one_line_error(res, "error: access denied calling CreateBucket (AccessDenied)")


def test_no_credentials_is_one_line(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    res = cli(*ARGS)
    assert_one_line_error(res, "error: no AWS credentials found")


def test_unknown_profile_is_one_line(cli: Callable[..., Result]) -> None:
    res = cli(*ARGS, "--profile", "nope")
    assert res.code == 1
    assert res.err.strip() == "error: AWS profile 'nope' is not configured (see `aws configure list-profiles`)"


def test_missing_arguments_are_usage_errors(cli: Callable[..., Result]) -> None:
    assert cli("bootstrap", "--region", REGION).code == 2
