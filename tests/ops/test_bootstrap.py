"""``blueprint bootstrap`` against moto over HTTP: create, verify, repair, dry-run, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from blueprint.ops.bucket_policy import LIFECYCLE_RULE_ID, is_public_statement
from tests.ops.conftest import REGION, Faults, Result, assert_one_line_error, client

BUCKET = "acme-pulumi-state"
ARGS = ("bootstrap", "--region", REGION, "--bucket", BUCKET)
STATUSES = ("created", "updated", "in place", "adopted", "removed", "would create", "would update", "would remove")
MUTATING = ("Create", "Put", "Enable", "Delete", "Update", "Schedule", "Tag")


def _rows(out: str) -> dict[str, str]:
    """item -> status from the printed table."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃|").split("│")]
        if len(cells) == 3 and cells[1] in STATUSES:
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


def _keys(kms: Any) -> list[str]:
    """Customer keys in the emulator (moto lists AWS managed keys too once something asked for them)."""
    return [k["KeyId"] for k in kms.list_keys()["Keys"]
            if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyManager"] == "CUSTOMER"]  # fmt: skip


def _foreign_key(kms: Any, alias: str = "alias/pulumi-secrets") -> str:
    """Another team's key behind ``alias``: no bootstrap tag, rotation off."""
    key = str(kms.create_key(Tags=[{"TagKey": "team", "TagValue": "payments"}])["KeyMetadata"]["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=key)
    return key


def test_alias_on_a_foreign_key_is_refused_before_anything_changes(
    cli: Callable[..., Result], aws_env: str, faults: Faults
) -> None:
    kms = client("kms", aws_env)
    key = _foreign_key(kms)
    faults.sent.clear()
    res = cli(*ARGS)
    assert_one_line_error(res, f"error: alias/pulumi-secrets points at key {key}, which blueprint bootstrap did not")
    assert "--adopt-key" in res.err
    assert not [op for op in faults.sent if op.split(".")[1].startswith(MUTATING)]
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    assert _keys(kms) == [key]
    assert client("s3", aws_env).list_buckets()["Buckets"] == []


def test_adopted_key_is_used_but_never_changed(cli: Callable[..., Result], aws_env: str) -> None:
    kms = client("kms", aws_env)
    key = _foreign_key(kms)
    res = cli(*ARGS, "--adopt-key")
    assert res.code == 0, res.err
    rows = _rows(res.out)
    assert rows["kms key alias/pulumi-secrets"] == "adopted"
    assert rows["kms key alias/pulumi-secrets rotation"] == "in place"
    assert f"aws kms enable-key-rotation --key-id {key}" in res.out
    assert rows["kms key alias/pulumi-secrets-state"] == "created"
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False, "rotation of a foreign key"
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "team", "TagValue": "payments"}]
    assert kms.describe_key(KeyId="alias/pulumi-secrets")["KeyMetadata"]["KeyId"] == key, "the key is reused"


def test_own_key_without_rotation_is_repaired(cli: Callable[..., Result], aws_env: str) -> None:
    assert cli(*ARGS).code == 0
    kms = client("kms", aws_env)
    key = kms.describe_key(KeyId="alias/pulumi-secrets")["KeyMetadata"]["KeyId"]
    kms.disable_key_rotation(KeyId=key)
    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert _rows(res.out)["kms key alias/pulumi-secrets rotation"] == "updated"
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True


def test_both_aliases_on_one_key_are_refused(cli: Callable[..., Result], aws_env: str) -> None:
    assert cli(*ARGS).code == 0
    kms = client("kms", aws_env)
    key = kms.describe_key(KeyId="alias/pulumi-secrets")["KeyMetadata"]["KeyId"]
    kms.update_alias(AliasName="alias/pulumi-secrets-state", TargetKeyId=key)
    res = cli(*ARGS, "--adopt-key")
    assert_one_line_error(res, "error: alias/pulumi-secrets and alias/pulumi-secrets-state point at the same key")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--kms-alias", "alias/bad alias!"), "argument --kms-alias: invalid KMS alias"),
        (("--kms-alias", "alias/aws/s3"), "argument --kms-alias: alias/aws/s3 is reserved"),
        (("--kms-alias", "a" * 251), "argument --kms-alias: invalid KMS alias"),
        (("--region", "eu-west-9"), "argument --region: unknown AWS region 'eu-west-9'"),
        (("--bucket", "Acme_State"), "argument --bucket: invalid S3 bucket name"),
        (("--bucket", "acme..state"), "no two adjacent dots"),
        (("--bucket", "192.168.5.4"), "not formatted as an IP address"),
        (("--bucket", "xn--acme-state"), "no reserved prefix"),
        (("--bucket", "acme-state-s3alias"), "no reserved prefix"),
    ],
)
def test_bad_arguments_are_refused_client_side(
    argv: tuple[str, ...], message: str, cli: Callable[..., Result], faults: Faults
) -> None:
    base = dict(zip(ARGS[1::2], ARGS[2::2], strict=True))
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    res = cli("bootstrap", *[x for kv in base.items() for x in kv])
    assert res.code == 2
    assert res.err.count("\n") == 1, res.err
    assert res.err.startswith("usage error: blueprint bootstrap: ")
    assert message in res.err
    assert faults.sent == [], "no AWS call before the arguments are valid"


def test_a_failed_alias_leaves_no_orphan_key(cli: Callable[..., Result], aws_env: str, faults: Faults) -> None:
    faults.add("kms", "CreateAlias", "InvalidAliasNameException", times=1)
    res = cli(*ARGS)
    assert_one_line_error(res, "error: creating alias/pulumi-secrets failed (CreateAlias failed (InvalidAliasName")
    kms = client("kms", aws_env)
    (key,) = _keys(kms)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert f"the new key {key} was scheduled for deletion in 7 days" in res.err
    assert client("s3", aws_env).list_buckets()["Buckets"] == []


PUBLIC = {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
          "Resource": f"arn:aws:s3:::{BUCKET}/*"}  # fmt: skip
ORG_ONLY = {"Sid": "OrgRead", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}  # fmt: skip


def _bucket_with_policy(aws_env: str, *statements: dict[str, Any]) -> Any:
    s3 = client("s3", aws_env)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    return s3


def test_public_bucket_policy_is_refused_before_any_key(cli: Callable[..., Result], aws_env: str) -> None:
    s3 = _bucket_with_policy(aws_env, PUBLIC, ORG_ONLY)
    res = cli(*ARGS)
    assert_one_line_error(res, f"error: the policy of bucket {BUCKET} allows public access (statement PublicRead:")
    assert "--remove-public-statements" in res.err
    assert _keys(client("kms", aws_env)) == []
    sids = [s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]]
    assert sids == ["PublicRead", "OrgRead"], "nothing changed"


def test_public_statement_is_removed_on_request_and_reported(cli: Callable[..., Result], aws_env: str) -> None:
    s3 = _bucket_with_policy(aws_env, PUBLIC, ORG_ONLY)
    dry = cli(*ARGS, "--remove-public-statements", "--dry-run")
    assert dry.code == 0, dry.err
    assert _rows(dry.out)["s3 bucket policy: public statements"] == "would remove"
    res = cli(*ARGS, "--remove-public-statements")
    assert res.code == 0, res.err
    assert _rows(res.out)["s3 bucket policy: public statements"] == "removed"
    assert "PublicRead" in res.out
    sids = [s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]]
    assert sids == ["OrgRead", "DenyInsecureTransport", "DenyOutdatedTls"], "the org-restricted Allow is not public"
    assert set(_rows(cli(*ARGS).out).values()) == {"in place"}


@pytest.mark.parametrize(
    ("statement", "public"),
    [
        (PUBLIC, True),
        ({**PUBLIC, "Principal": {"AWS": ["*"]}}, True),
        (ORG_ONLY, False),
        ({**ORG_ONLY, "Condition": {"StringLike": {"aws:PrincipalOrgID": "o-*"}}}, True),
        ({**ORG_ONLY, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "*"}}}, True),
        ({**PUBLIC, "Condition": {"StringEquals": {"s3:prefix": "public/"}}}, True),
        ({**PUBLIC, "Effect": "Deny"}, False),
        ({**PUBLIC, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}, False),
    ],
)
def test_what_counts_as_public(statement: dict[str, Any], public: bool) -> None:
    assert is_public_statement(statement) is public


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


def test_bucket_in_another_region_is_refused_before_any_key(cli: Callable[..., Result], aws_env: str) -> None:
    eu = client("s3", aws_env, region="eu-west-1")
    eu.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    res = cli(*ARGS)
    assert res.code == 1
    assert res.err.strip() == f"error: bucket {BUCKET} is in eu-west-1, not {REGION}; pass --region eu-west-1"
    assert _keys(client("kms", aws_env)) == [], "no key is created before every precondition holds"


def test_key_pending_deletion_is_not_touched(cli: Callable[..., Result], aws_env: str) -> None:
    kms = client("kms", aws_env)
    key = _foreign_key(kms)
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


def test_region_validation_reads_no_profile(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    res = cli("bootstrap", "--region", "eu-west-9", "--bucket", BUCKET)
    assert res.code == 2
    assert "unknown AWS region 'eu-west-9'" in res.err
