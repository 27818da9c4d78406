"""``blueprint bootstrap``: the S3 state bucket and KMS keys of a self-managed Pulumi backend.

Creates, or verifies and repairs, everything ``pulumi login s3://…`` and
``--secrets-provider awskms://…`` need, before any stack exists:

- a KMS key (alias ``--kms-alias``, default ``alias/pulumi-secrets``) for Pulumi's secrets
  provider, and a second one (``<alias>-state``) that encrypts the state bucket. Two keys so that
  reading state (plan reviewers, drift jobs) does not grant decrypting stack secrets. Both are
  symmetric, customer managed, with yearly automatic rotation on, and keep the default key policy
  (the account delegates to IAM);
- the bucket: ``BucketOwnerEnforced`` (ACLs off), all four public-access blocks, versioning
  (state history survives a bad ``pulumi state`` edit), SSE-KMS with the state key and an S3
  bucket key (fewer KMS calls), a bucket policy that denies non-TLS and TLS < 1.2 requests, and a
  lifecycle rule that expires noncurrent versions and aborts stale multipart uploads.

It is idempotent (a second run reports every item ``in place``), ``--dry-run`` only reads, and it
never deletes: existing bucket policy statements and lifecycle rules are kept, ours are merged in.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from botocore.exceptions import ClientError

from blueprint.ops._aws import (
    EXIT_OK,
    Aws,
    OpsError,
    Row,
    add_common_arguments,
    connect_from_args,
    error_code,
    guarded,
    print_rows,
    stdout,
)

DEFAULT_KMS_ALIAS = "alias/pulumi-secrets"
LIFECYCLE_RULE_ID = "pulumi-state-noncurrent-versions"
TLS_SIDS = ("DenyInsecureTransport", "DenyOutdatedTls")
TAGS = {"managed-by": "blueprint-bootstrap", "purpose": "pulumi-backend"}

CREATED, UPDATED, IN_PLACE = "created", "updated", "in place"
WOULD_CREATE, WOULD_UPDATE = "would create", "would update"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bootstrap`` to the CLI."""
    p = subparsers.add_parser(
        "bootstrap",
        help="create or verify the S3 state bucket and KMS keys of the self-managed Pulumi backend",
        description="Create or verify the S3 state bucket and KMS keys of a self-managed Pulumi backend. "
        "Idempotent; --dry-run only reads; never deletes.",
    )
    p.add_argument("--region", required=True, help="AWS region of the bucket and keys")
    p.add_argument("--bucket", required=True, help="state bucket name (globally unique)")
    p.add_argument(
        "--kms-alias",
        default=DEFAULT_KMS_ALIAS,
        help=f"alias of the secrets-provider key (default {DEFAULT_KMS_ALIAS}); the state key gets <alias>-state",
    )
    p.add_argument(
        "--noncurrent-days",
        type=int,
        default=90,
        metavar="N",
        help="expire noncurrent state versions after N days (default 90)",
    )
    p.add_argument("--profile", help="AWS profile (default: the ambient credentials)")
    p.add_argument("--dry-run", action="store_true", help="print what would change; call no mutating API")
    add_common_arguments(p)
    p.set_defaults(handler=guarded(run))


def _alias(value: str) -> str:
    alias = value if value.startswith("alias/") else f"alias/{value}"
    if alias.startswith("alias/aws/"):
        raise OpsError(f"{alias} is reserved for AWS managed keys; choose another --kms-alias")
    return alias


def run(args: argparse.Namespace) -> int:
    """The ``bootstrap`` handler."""
    if not 1 <= args.noncurrent_days <= 3650:
        raise OpsError("--noncurrent-days must be between 1 and 3650")
    aws = connect_from_args(args, args.region, args.profile)
    secrets_alias = _alias(args.kms_alias)
    state_alias = f"{secrets_alias}-state"
    out = stdout()
    account = aws.client("sts").get_caller_identity()["Account"]
    mode = " (dry run: nothing is changed)" if args.dry_run else ""
    out.print(f"bootstrapping s3://{args.bucket} in account {account}, {args.region}{mode}")

    boot = _Bootstrap(aws, args.dry_run)
    boot.key(secrets_alias, f"Pulumi secrets provider ({args.bucket})")
    state_key = boot.key(state_alias, f"Pulumi state bucket encryption (s3://{args.bucket})")
    boot.bucket(args.bucket, args.region, state_key, args.noncurrent_days)

    styles = {CREATED: "green", UPDATED: "yellow", WOULD_CREATE: "cyan", WOULD_UPDATE: "cyan"}
    print_rows("Pulumi backend", ("item", "status", "detail"), boot.items, styles)
    if all(i.status == IN_PLACE for i in boot.items):
        out.print("everything is in place; nothing was changed")
    elif args.dry_run:
        out.print("dry run: run again without --dry-run to apply")
    out.print("\nUse this backend and secrets provider:")
    out.print(f"  pulumi login '{login_url(args.bucket, args.region)}'", markup=False)
    out.print(
        f"  pulumi stack init <stack> --secrets-provider '{secrets_provider_url(secrets_alias, args.region)}'",
        markup=False,
    )
    return EXIT_OK


def login_url(bucket: str, region: str) -> str:
    """The DIY backend URL (``awssdk=v2`` needs Pulumi >= 3.33.1, per the DIY-backend docs)."""
    return f"s3://{bucket}?region={region}&awssdk=v2"


def secrets_provider_url(alias: str, region: str) -> str:
    """The ``--secrets-provider`` value for an alias (``awskms://alias/<name>?region=…``)."""
    return f"awskms://{alias}?region={region}"


class _Bootstrap:
    def __init__(self, aws: Aws, dry_run: bool):
        self.kms = aws.client("kms")
        self.s3 = aws.client("s3")
        self.dry_run = dry_run
        self.items: list[Row] = []

    def _record(self, name: str, status: str, detail: str) -> None:
        if self.dry_run:
            status = {CREATED: WOULD_CREATE, UPDATED: WOULD_UPDATE}.get(status, status)
        self.items.append(Row(name, status, detail))

    # ------------------------------------------------------------------ KMS
    def key(self, alias: str, description: str) -> str:
        """Ensure a rotating symmetric key behind ``alias``; return its ARN (or the alias in a dry run)."""
        try:
            meta = self.kms.describe_key(KeyId=alias)["KeyMetadata"]
        except ClientError as exc:
            if error_code(exc) != "NotFoundException":
                raise
            meta = None
        if meta is None:
            self._record(f"kms key {alias}", CREATED, "symmetric, customer managed")
            self._record(f"kms key {alias} rotation", CREATED, "yearly automatic rotation")
            if self.dry_run:
                return alias
            meta = self.kms.create_key(
                Description=description,
                KeyUsage="ENCRYPT_DECRYPT",
                KeySpec="SYMMETRIC_DEFAULT",
                Tags=[{"TagKey": k, "TagValue": v} for k, v in TAGS.items()],
            )["KeyMetadata"]
            self.kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
            self.kms.enable_key_rotation(KeyId=meta["KeyId"])
            return str(meta["Arn"])

        state = meta.get("KeyState")
        if state != "Enabled":
            # Never "repair" a key someone disabled or scheduled for deletion: that is a decision.
            raise OpsError(f"KMS key {alias} ({meta['KeyId']}) is {state}; enable it or cancel its deletion first")
        if meta.get("KeyManager") != "CUSTOMER" or meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            raise OpsError(f"{alias} must point at a customer-managed symmetric key, not {meta.get('KeySpec')}")
        self._record(f"kms key {alias}", IN_PLACE, str(meta["KeyId"]))
        if self.kms.get_key_rotation_status(KeyId=meta["KeyId"]).get("KeyRotationEnabled"):
            self._record(f"kms key {alias} rotation", IN_PLACE, "enabled")
        else:
            self._record(f"kms key {alias} rotation", UPDATED, "automatic rotation enabled")
            if not self.dry_run:
                self.kms.enable_key_rotation(KeyId=meta["KeyId"])
        return str(meta["Arn"])

    # ------------------------------------------------------------------ S3
    def bucket(self, bucket: str, region: str, key_arn: str, noncurrent_days: int) -> None:
        """Ensure the bucket and each of its settings."""
        exists = self._bucket_exists(bucket, region)
        if not exists:
            self._record(f"s3 bucket {bucket}", CREATED, f"in {region}, ACLs disabled (BucketOwnerEnforced)")
            if not self.dry_run:
                create: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
                if region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
                    create["CreateBucketConfiguration"] = {"LocationConstraint": region}
                self.s3.create_bucket(**create)
                self.s3.put_bucket_tagging(
                    Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in TAGS.items()]}
                )
        else:
            self._record(f"s3 bucket {bucket}", IN_PLACE, region)
        # A bucket that does not exist yet (dry run) has none of its settings: skip the reads.
        for step in (self._ownership, self._public_access, self._versioning):
            step(bucket, exists)
        self._encryption(bucket, exists, key_arn)
        self._policy(bucket, exists)
        self._lifecycle(bucket, exists, noncurrent_days)

    def _bucket_exists(self, bucket: str, region: str) -> bool:
        try:
            self.s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                return False
            if code in ("403", "AccessDenied"):
                raise OpsError(
                    f"bucket {bucket} exists but this account cannot read it (bucket names are global: "
                    "it may belong to another account); choose another --bucket"
                ) from None
            raise
        location = self.s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        if location != region:
            raise OpsError(f"bucket {bucket} is in {location}, not {region}; pass --region {location}")
        return True

    def _get(self, call: str, bucket: str, missing: tuple[str, ...]) -> dict[str, Any] | None:
        """A bucket setting, or None when it is not configured."""
        try:
            return dict(getattr(self.s3, call)(Bucket=bucket))
        except ClientError as exc:
            if error_code(exc) in missing:
                return None
            raise

    def _ownership(self, bucket: str, exists: bool) -> None:
        name = "s3 object ownership"
        current = (
            self._get("get_bucket_ownership_controls", bucket, ("OwnershipControlsNotFoundError",)) if exists else None
        )
        rules = (current or {}).get("OwnershipControls", {}).get("Rules", [])
        if exists and [r.get("ObjectOwnership") for r in rules] == ["BucketOwnerEnforced"]:
            self._record(name, IN_PLACE, "BucketOwnerEnforced")
            return
        if not exists:
            self._record(name, CREATED, "BucketOwnerEnforced")  # set by create_bucket
            return
        self._record(name, UPDATED, "BucketOwnerEnforced (ACLs disabled)")
        if not self.dry_run:
            self.s3.put_bucket_ownership_controls(
                Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
            )

    def _public_access(self, bucket: str, exists: bool) -> None:
        wanted = {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        current = (
            self._get("get_public_access_block", bucket, ("NoSuchPublicAccessBlockConfiguration",)) if exists else None
        )
        if current and current.get("PublicAccessBlockConfiguration") == wanted:
            self._record("s3 public access block", IN_PLACE, "all four blocks on")
            return
        self._record("s3 public access block", UPDATED if current else CREATED, "all four blocks on")
        if not self.dry_run:
            self.s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=wanted)

    def _versioning(self, bucket: str, exists: bool) -> None:
        status = self.s3.get_bucket_versioning(Bucket=bucket).get("Status") if exists else None
        if status == "Enabled":
            self._record("s3 versioning", IN_PLACE, "Enabled")
            return
        self._record("s3 versioning", UPDATED if status else CREATED, f"Enabled (was {status or 'never enabled'})")
        if not self.dry_run:
            self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def _encryption(self, bucket: str, exists: bool, key_arn: str) -> None:
        current = (
            self._get("get_bucket_encryption", bucket, ("ServerSideEncryptionConfigurationNotFoundError",))
            if exists
            else None
        )
        rules = (current or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        rule = rules[0] if rules else {}
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        ok = (
            default.get("SSEAlgorithm") == "aws:kms"
            and default.get("KMSMasterKeyID") == key_arn
            and rule.get("BucketKeyEnabled") is True
        )
        if ok:
            self._record("s3 default encryption", IN_PLACE, "SSE-KMS with the state key, bucket key on")
            return
        was = default.get("SSEAlgorithm") or "none"
        self._record("s3 default encryption", UPDATED if exists else CREATED, f"SSE-KMS with the state key (was {was})")
        if not self.dry_run:
            self.s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": key_arn,
                            },
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
            )

    def _policy(self, bucket: str, exists: bool) -> None:
        current = self._get("get_bucket_policy", bucket, ("NoSuchBucketPolicy",)) if exists else None
        doc = json.loads(current["Policy"]) if current and current.get("Policy") else None
        wanted = tls_statements(bucket)
        statements = list((doc or {}).get("Statement", []))
        if isinstance((doc or {}).get("Statement"), dict):
            statements = [doc["Statement"]]  # type: ignore[index]
        by_sid = {s.get("Sid"): s for s in statements}
        if all(by_sid.get(s["Sid"]) == s for s in wanted):
            self._record("s3 bucket policy", IN_PLACE, "TLS-only (TLS >= 1.2)")
            return
        # Keep every statement we do not own; replace or add ours.
        merged = [s for s in statements if s.get("Sid") not in TLS_SIDS] + wanted
        kept = len(merged) - len(wanted)
        detail = "deny non-TLS and TLS < 1.2" + (f"; kept {kept} existing statement(s)" if kept else "")
        self._record("s3 bucket policy", UPDATED if doc else CREATED, detail)
        if not self.dry_run:
            policy = {"Version": (doc or {}).get("Version", "2012-10-17"), "Statement": merged}
            self.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    def _lifecycle(self, bucket: str, exists: bool, days: int) -> None:
        current = (
            self._get("get_bucket_lifecycle_configuration", bucket, ("NoSuchLifecycleConfiguration",))
            if exists
            else None
        )
        rules = list((current or {}).get("Rules", []))
        wanted = lifecycle_rule(days)
        ours = next((r for r in rules if r.get("ID") == LIFECYCLE_RULE_ID), None)
        detail = f"expire noncurrent versions after {days} days, abort uploads after 7"
        if ours is not None and _same_rule(ours, wanted):
            self._record("s3 lifecycle", IN_PLACE, detail)
            return
        self._record("s3 lifecycle", UPDATED if ours or rules else CREATED, detail)
        if not self.dry_run:
            merged = [r for r in rules if r.get("ID") != LIFECYCLE_RULE_ID] + [wanted]
            self.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": merged})


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


def _same_rule(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    keys = ("Status", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload")
    prefix = (current.get("Filter") or {}).get("Prefix", current.get("Prefix", ""))
    return prefix == "" and all(current.get(k) == wanted[k] for k in keys)
