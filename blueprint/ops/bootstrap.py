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

Every precondition is checked before the first side effect, so a refusal leaves the account as it was:

- the region, the bucket name and the alias are validated client-side (usage errors, exit 2);
- an alias that already points at a key ``bootstrap`` did not create (no ``managed-by=blueprint-bootstrap``
  tag) is refused unless ``--adopt-key``; an adopted key is used as is, never changed (rotation included);
- the two aliases must point at two keys (reading state must not grant decrypting secrets);
- an existing bucket must be in ``--region`` and readable by this account;
- an existing bucket policy with a public ``Allow`` (principal ``*`` without a restricting condition) is
  refused, or removed with ``--remove-public-statements``, and reported either way.

If creating an alias fails after its new key was created, the key is scheduled for deletion (7 days, the
minimum) so no orphan key is left behind.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
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
    explain,
    guarded,
    print_rows,
    stdout,
)
from blueprint.ops.bootstrap_args import alias_arg, bucket_arg, days_arg, region_arg
from blueprint.ops.bucket_policy import (
    LIFECYCLE_RULE_ID,
    TLS_SIDS,
    is_public_statement,
    lifecycle_rule,
    policy_statements,
    same_rule,
    tls_statements,
)

DEFAULT_KMS_ALIAS = "alias/pulumi-secrets"
TAGS = {"managed-by": "blueprint-bootstrap", "purpose": "pulumi-backend"}
OWNER_TAG = ("managed-by", "blueprint-bootstrap")
ORPHAN_DELETION_DAYS = 7  # the shortest pending window KMS allows

CREATED, UPDATED, IN_PLACE, ADOPTED, REMOVED = "created", "updated", "in place", "adopted", "removed"
WOULD_CREATE, WOULD_UPDATE, WOULD_REMOVE = "would create", "would update", "would remove"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bootstrap`` to the CLI."""
    p = subparsers.add_parser(
        "bootstrap",
        help="create or verify the S3 state bucket and KMS keys of the self-managed Pulumi backend",
        description="Create or verify the S3 state bucket and KMS keys of a self-managed Pulumi backend. "
        "Checks every precondition before changing anything; idempotent; --dry-run only reads; never deletes.",
    )
    p.add_argument("--region", required=True, type=region_arg, help="AWS region of the bucket and keys")
    p.add_argument("--bucket", required=True, type=bucket_arg, help="state bucket name (globally unique)")
    p.add_argument(
        "--kms-alias",
        default=DEFAULT_KMS_ALIAS,
        type=alias_arg,
        help=f"alias of the secrets-provider key (default {DEFAULT_KMS_ALIAS}); the state key gets <alias>-state",
    )
    p.add_argument(
        "--noncurrent-days",
        type=days_arg,
        default=90,
        metavar="N",
        help="expire noncurrent state versions after N days (default 90)",
    )
    p.add_argument(
        "--adopt-key",
        action="store_true",
        help="use keys that the aliases already point at although bootstrap did not create them (never changed)",
    )
    p.add_argument(
        "--remove-public-statements",
        action="store_true",
        help="remove public Allow statements from an existing bucket policy instead of refusing",
    )
    p.add_argument("--profile", help="AWS profile (default: the ambient credentials)")
    p.add_argument("--dry-run", action="store_true", help="print what would change; call no mutating API")
    add_common_arguments(p)
    p.set_defaults(handler=guarded(run))


def run(args: argparse.Namespace) -> int:
    """The ``bootstrap`` handler: read everything, refuse or plan, then change."""
    aws = connect_from_args(args, args.region, args.profile)
    secrets_alias = args.kms_alias
    state_alias = f"{secrets_alias}-state"
    out = stdout()
    account = aws.client("sts").get_caller_identity()["Account"]
    mode = " (dry run: nothing is changed)" if args.dry_run else ""
    out.print(f"bootstrapping s3://{args.bucket} in account {account}, {args.region}{mode}")

    boot = _Bootstrap(aws, args.dry_run)
    # Every read and every refusal happens here, before the first write.
    keys = boot.inspect_keys(secrets_alias, state_alias, adopt=args.adopt_key)
    bucket = boot.inspect_bucket(args.bucket, args.region, remove_public=args.remove_public_statements)

    boot.key(keys[0], f"Pulumi secrets provider ({args.bucket})")
    state_key = boot.key(keys[1], f"Pulumi state bucket encryption (s3://{args.bucket})")
    boot.bucket(bucket, state_key, args.noncurrent_days)

    styles = {CREATED: "green", UPDATED: "yellow", REMOVED: "yellow", ADOPTED: "yellow"}
    styles.update({WOULD_CREATE: "cyan", WOULD_UPDATE: "cyan", WOULD_REMOVE: "cyan"})
    print_rows("Pulumi backend", ("item", "status", "detail"), boot.items, styles)
    for note in boot.notes:
        out.print(f"note: {note}", markup=False)
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


@dataclass(frozen=True)
class KeyPlan:
    """What the preconditions found behind one alias."""

    alias: str
    meta: dict[str, Any] | None
    """The key's metadata, or None when the alias does not exist yet."""
    owned: bool
    """Whether bootstrap created the key (its ``managed-by`` tag); only owned keys are ever changed."""


@dataclass(frozen=True)
class BucketPlan:
    """What the preconditions found about the bucket."""

    name: str
    region: str
    exists: bool
    policy: dict[str, Any] | None
    public: list[dict[str, Any]]
    """Public Allow statements of the current policy, to remove (refused unless asked)."""


class _Bootstrap:
    def __init__(self, aws: Aws, dry_run: bool):
        self.kms = aws.client("kms")
        self.s3 = aws.client("s3")
        self.dry_run = dry_run
        self.items: list[Row] = []
        self.notes: list[str] = []

    def _record(self, name: str, status: str, detail: str) -> None:
        if self.dry_run:
            status = {CREATED: WOULD_CREATE, UPDATED: WOULD_UPDATE, REMOVED: WOULD_REMOVE}.get(status, status)
        self.items.append(Row(name, status, detail))

    # ------------------------------------------------------------------ preconditions (read only)
    def inspect_keys(self, secrets_alias: str, state_alias: str, *, adopt: bool) -> tuple[KeyPlan, KeyPlan]:
        """Both aliases' targets, refusing unusable, foreign (without ``adopt``) or shared keys."""
        plans = (self._inspect_key(secrets_alias, adopt), self._inspect_key(state_alias, adopt))
        ids = [p.meta["KeyId"] for p in plans if p.meta]
        if len(ids) == 2 and ids[0] == ids[1]:
            raise OpsError(
                f"{secrets_alias} and {state_alias} point at the same key {ids[0]}: state readers could decrypt "
                f"secrets; point {state_alias} at a key of its own (or delete that alias to let bootstrap create one)"
            )
        return plans

    def _inspect_key(self, alias: str, adopt: bool) -> KeyPlan:
        try:
            meta = dict(self.kms.describe_key(KeyId=alias)["KeyMetadata"])
        except ClientError as exc:
            if error_code(exc) != "NotFoundException":
                raise
            return KeyPlan(alias, None, owned=True)
        key_id = meta["KeyId"]
        state = meta.get("KeyState")
        if state != "Enabled":
            # Never "repair" a key someone disabled or scheduled for deletion: that is a decision.
            raise OpsError(f"KMS key {alias} ({key_id}) is {state}; enable it or cancel its deletion first")
        if meta.get("KeyManager") != "CUSTOMER" or meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            raise OpsError(f"{alias} must point at a customer-managed symmetric key, not {meta.get('KeySpec')}")
        tags = {t["TagKey"]: t["TagValue"] for t in self.kms.list_resource_tags(KeyId=key_id).get("Tags", [])}
        owned = tags.get(OWNER_TAG[0]) == OWNER_TAG[1]
        if not owned and not adopt:
            raise OpsError(
                f"{alias} points at key {key_id}, which blueprint bootstrap did not create (no "
                f"{OWNER_TAG[0]}={OWNER_TAG[1]} tag); pass --adopt-key to use it unchanged, or choose another --kms-alias"
            )
        return KeyPlan(alias, meta, owned)

    def inspect_bucket(self, bucket: str, region: str, *, remove_public: bool) -> BucketPlan:
        """The bucket's existence, region and public policy statements, refusing what bootstrap must not fix."""
        exists = self._bucket_exists(bucket, region)
        current = self._get("get_bucket_policy", bucket, ("NoSuchBucketPolicy",)) if exists else None
        doc = json.loads(current["Policy"]) if current and current.get("Policy") else None
        statements = policy_statements(doc)
        public = [s for s in statements if is_public_statement(s)]
        if public and not remove_public:
            sids = ", ".join(str(s.get("Sid") or f"#{statements.index(s) + 1}") for s in public)
            raise OpsError(
                f"the policy of bucket {bucket} allows public access (statement {sids}: Allow to Principal * "
                "without a restricting condition); remove it, or pass --remove-public-statements"
            )
        return BucketPlan(bucket, region, exists, doc, public)

    # ------------------------------------------------------------------ KMS
    def key(self, plan: KeyPlan, description: str) -> str:
        """Ensure a rotating symmetric key behind the alias; return its ARN (or the alias in a dry run)."""
        alias, meta = plan.alias, plan.meta
        if meta is None:
            self._record(f"kms key {alias}", CREATED, "symmetric, customer managed")
            self._record(f"kms key {alias} rotation", CREATED, "yearly automatic rotation")
            return alias if self.dry_run else self._create_key(alias, description)
        key_id = meta["KeyId"]
        rotating = bool(self.kms.get_key_rotation_status(KeyId=key_id).get("KeyRotationEnabled"))
        if not plan.owned:
            self._record(f"kms key {alias}", ADOPTED, f"{key_id}, not created by bootstrap: used unchanged")
            self._record(f"kms key {alias} rotation", IN_PLACE, "enabled" if rotating else "off, left unchanged")
            if not rotating:
                self.notes.append(
                    f"{alias} ({key_id}) does not rotate and bootstrap does not change keys it did not create; "
                    f"its owner can run: aws kms enable-key-rotation --key-id {key_id}"
                )
            return str(meta["Arn"])
        self._record(f"kms key {alias}", IN_PLACE, str(key_id))
        if rotating:
            self._record(f"kms key {alias} rotation", IN_PLACE, "enabled")
        else:
            self._record(f"kms key {alias} rotation", UPDATED, "automatic rotation enabled")
            if not self.dry_run:
                self.kms.enable_key_rotation(KeyId=key_id)
        return str(meta["Arn"])

    def _create_key(self, alias: str, description: str) -> str:
        meta = self.kms.create_key(
            Description=description,
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=[{"TagKey": k, "TagValue": v} for k, v in TAGS.items()],
        )["KeyMetadata"]
        try:
            self.kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        except ClientError as exc:
            # Without its alias nothing would ever find the key again: do not leave it behind.
            self.kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=ORPHAN_DELETION_DAYS)
            raise OpsError(
                f"creating {alias} failed ({explain(exc)}); the new key {meta['KeyId']} was scheduled for "
                f"deletion in {ORPHAN_DELETION_DAYS} days so that no orphan key is left"
            ) from None
        self.kms.enable_key_rotation(KeyId=meta["KeyId"])
        return str(meta["Arn"])

    # ------------------------------------------------------------------ S3
    def bucket(self, plan: BucketPlan, key_arn: str, noncurrent_days: int) -> None:
        """Ensure the bucket and each of its settings."""
        bucket, region, exists = plan.name, plan.region, plan.exists
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
        self._policy(plan)
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

    def _policy(self, plan: BucketPlan) -> None:
        bucket, doc = plan.name, plan.policy
        wanted = tls_statements(bucket)
        statements = [s for s in policy_statements(doc) if s not in plan.public]
        by_sid = {s.get("Sid"): s for s in statements}
        if not plan.public and all(by_sid.get(s["Sid"]) == s for s in wanted):
            self._record("s3 bucket policy", IN_PLACE, "TLS-only (TLS >= 1.2)")
            return
        # Keep every statement we do not own (public ones only when not asked to remove them: refused
        # earlier); replace or add ours.
        merged = [s for s in statements if s.get("Sid") not in TLS_SIDS] + wanted
        kept = len(merged) - len(wanted)
        detail = "deny non-TLS and TLS < 1.2" + (f"; kept {kept} existing statement(s)" if kept else "")
        if plan.public:
            sids = ", ".join(str(s.get("Sid") or "(no Sid)") for s in plan.public)
            self._record("s3 bucket policy: public statements", REMOVED, f"Allow to Principal *: {sids}")
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
        if ours is not None and same_rule(ours, wanted):
            self._record("s3 lifecycle", IN_PLACE, detail)
            return
        self._record("s3 lifecycle", UPDATED if ours or rules else CREATED, detail)
        if not self.dry_run:
            merged = [r for r in rules if r.get("ID") != LIFECYCLE_RULE_ID] + [wanted]
            self.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": merged})
