"""Audit: the account's audit log archive, its access-log bucket and the CloudTrail trail.

Provisions:
- a customer-managed KMS key for the archive and the trail, whose policy admits CloudTrail to
  encrypt (``kms:GenerateDataKey*``) and describe the key for this trail only (``aws:SourceArn``);
- the **archive** bucket (CloudTrail logs under ``cloudtrail/``, deployment records under
  ``deployments/<stack>/``): SSE-KMS with that key and a bucket key, versioned, TLS-only, public
  access blocked, ACLs disabled, a lifecycle rule to Glacier Instant Retrieval and expiry, and
  S3 Object Lock. The bucket is always created with Object Lock enabled (it cannot be turned on
  by the provider without replacing the bucket); a default retention (mode and days) is applied
  when ``object_lock`` is set, so turning it on later is an in-place change;
- the **access-log** bucket that receives S3 server access logs of the audited buckets and of the
  archive. It uses SSE-S3: server access log delivery supports only SSE-S3 default encryption on
  the destination bucket, not SSE-KMS, and the destination must not have an Object Lock default
  retention (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html,
  "destination bucket" requirements). Log delivery is admitted by bucket policy to
  ``logging.s3.amazonaws.com`` for the logged buckets only (``aws:SourceArn``/``aws:SourceAccount``);
- server access logging (``aws.s3.BucketLogging``, partitioned by event time for Athena) for every
  audited bucket and the archive;
- with ``create_trail``: a multi-region trail with log-file validation and KMS, recording management
  events and S3 object-level data events for every audited bucket (advanced event selectors, read
  and/or write scope), optionally also to CloudWatch Logs (a log group with retention and a role
  CloudTrail assumes). Without it (an organization trail covers the account), no trail is created:
  the organization trail's owner adds the data events, and the component records its ARN.

The buckets and the key are protected and retained when ``protect`` is set.

Outputs: ``archive_bucket``, ``access_log_bucket``, ``key``, ``trail`` (or None), ``trail_arn``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from components._audit_policies import (
    ACCESS_LOG_PREFIX,
    CLOUDTRAIL_PREFIX,
    DEPLOYMENTS_PREFIX,
    access_log_policy,
    archive_policy,
    key_policy,
)
from components._common import policy_json, retained


@dataclass(frozen=True)
class ObjectLock:
    """Default Object Lock retention of the archive's new object versions."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"]
    """``COMPLIANCE``: nobody, not even the root user, can shorten it or delete a version before it ends."""
    days: int
    """Retention period in days."""


@dataclass(frozen=True)
class AuditArgs:
    """Inputs of :class:`Audit`."""

    name_prefix: str
    """Prefix of the bucket names and the trail name, e.g. ``ai-platform-prod`` (at most 36 characters)."""
    account_id: str
    """AWS account (key policy, bucket policies, ARNs)."""
    region: str
    """Region of the trail's home (its ARN)."""
    audited_buckets: Mapping[str, aws.s3.Bucket]
    """Buckets whose object reads/writes are recorded (data events) and whose access is logged, by a short key."""
    other_data_event_bucket_arns: Sequence[str] = ()
    """ARNs of the account's other stacks' buckets whose object operations the trail also records (their
    access logging is their own stack's)."""
    create_trail: bool = True
    """Create the multi-region trail. False when an organization trail already records this account."""
    organization_trail_arn: str | None = None
    """The organization trail's ARN, recorded when ``create_trail`` is false."""
    data_events: Literal["all", "write", "read"] = "all"
    """Which object-level operations on the audited buckets the trail records."""
    object_lock: ObjectLock | None = None
    """Default retention of the archive; None keeps Object Lock enabled without a default retention."""
    cold_after_days: int = 90
    """Move archive objects to Glacier Instant Retrieval after this many days."""
    retention_days: int = 2557
    """Expire archive objects (and the access logs) after this many days (default 7 years)."""
    access_log_retention_days: int = 365
    """Expire server access logs after this many days."""
    cloudwatch_retention_days: int | None = None
    """Also deliver the trail to CloudWatch Logs, kept this many days; None delivers to S3 only."""
    protect: bool = True
    """Protect and retain the buckets and the key."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable resource."""
    permissions_boundary: pulumi.Input[str] | None = None
    """Permissions boundary of the CloudTrail-to-Logs role (``DeployIdentity.boundary_arn``): the CI deploy role
    may manage only roles under it (ADR 0007)."""
    iam_path: str = "/"
    """IAM path of the roles and policies created here, ``/<project>/`` from infra.config.iam_path(): the CI deploy
    role may create and tag only IAM resources under it (ADR 0007). Changing it replaces them (paths are
    immutable)."""

    @property
    def trail_name(self) -> str:
        return f"{self.name_prefix}-audit"

    @property
    def trail_arn(self) -> str:
        return f"arn:aws:cloudtrail:{self.region}:{self.account_id}:trail/{self.trail_name}"


def data_event_selector(name: str, bucket_arns: list[str], scope: str) -> aws.cloudtrail.TrailAdvancedEventSelectorArgs:
    """S3 object-level events for the objects of ``bucket_arns`` (``readOnly`` narrows to reads or writes).

    Field names from https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_AdvancedFieldSelector.html.
    """
    fs = aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs
    fields = [
        fs(field="eventCategory", equals=["Data"]),
        fs(field="resources.type", equals=["AWS::S3::Object"]),
        fs(field="resources.ARN", starts_withs=[f"{arn}/" for arn in sorted(bucket_arns)]),
    ]
    if scope != "all":
        fields.append(fs(field="readOnly", equals=["true" if scope == "read" else "false"]))
    return aws.cloudtrail.TrailAdvancedEventSelectorArgs(name=name, field_selectors=fields)


class Audit(pulumi.ComponentResource):
    """The audit log archive (Object Lock), its access-log bucket, access logging and the CloudTrail trail."""

    archive_bucket: aws.s3.Bucket
    access_log_bucket: aws.s3.Bucket
    key: aws.kms.Key
    trail: aws.cloudtrail.Trail | None
    trail_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "trailMode": "create" if args.create_trail else "organization",
            "organizationTrailArn": args.organization_trail_arn,
            "auditedBuckets": sorted(args.audited_buckets),
        }
        super().__init__("platform:index:Audit", name, props, opts)
        self._name, self._args = name, args
        trail_arn = args.trail_arn if args.create_trail else None
        self.key = self._key(trail_arn)
        self.access_log_bucket = self._bucket("access-logs", object_lock=False)
        self.archive_bucket = self._bucket("archive", object_lock=True)
        log_block = self._harden("access-logs", self.access_log_bucket, sse_kms=False)
        archive_block = self._harden("archive", self.archive_bucket, sse_kms=True)
        self._lifecycle("access-logs", self.access_log_bucket, args.access_log_retention_days, cold=False)
        self._lifecycle("archive", self.archive_bucket, args.retention_days, cold=True)
        self._object_lock()
        logged = {**args.audited_buckets, "audit-archive": self.archive_bucket}
        log_policy = aws.s3.BucketPolicy(
            f"{name}-access-logs-policy",
            bucket=self.access_log_bucket.id,
            policy=pulumi.Output.all(self.access_log_bucket.arn, *[b.arn for b in logged.values()]).apply(
                lambda a: access_log_policy(a[0], args.account_id, list(a[1:]))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_block]),
        )
        self._access_logging(logged, log_policy)
        archive_policy_res = aws.s3.BucketPolicy(
            f"{name}-archive-policy",
            bucket=self.archive_bucket.id,
            policy=self.archive_bucket.arn.apply(lambda arn: archive_policy(arn, args.account_id, trail_arn)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[archive_block]),
        )
        self.trail = self._trail(archive_policy_res) if args.create_trail else None
        self.trail_arn = self.trail.arn if self.trail else pulumi.Output.from_input(args.organization_trail_arn or "")
        self.register_outputs(
            {
                "archive_bucket_name": self.archive_bucket.bucket,
                "access_log_bucket_name": self.access_log_bucket.bucket,
                "trail_arn": self.trail_arn,
            }
        )

    # ------------------------------------------------------------------ buckets
    def _key(self, trail_arn: str | None) -> aws.kms.Key:
        a, name = self._args, self._name
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{a.name_prefix} audit archive and CloudTrail encryption",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy(a.account_id, trail_arn),
            tags={**a.tags, "Name": f"{name}-key"},
            opts=retained(self, a.protect),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{a.name_prefix}-audit",
            target_key_id=key.key_id,
            opts=retained(self, a.protect),
        )
        return key

    def _bucket(self, role: str, *, object_lock: bool) -> aws.s3.Bucket:
        a = self._args
        return aws.s3.Bucket(
            f"{self._name}-{role}",
            bucket_prefix=f"{a.name_prefix}-{role}-",
            force_destroy=False,
            # Object Lock is fixed at creation in the provider (changing it replaces the bucket), so
            # the archive always has it; the retention itself is a separate, in-place resource.
            object_lock_enabled=True if object_lock else None,
            tags={**a.tags, "Name": f"{self._name}-{role}"},
            opts=retained(self, a.protect),
        )

    def _harden(self, role: str, bucket: aws.s3.Bucket, *, sse_kms: bool) -> aws.s3.BucketPublicAccessBlock:
        name, child = f"{self._name}-{role}", pulumi.ResourceOptions(parent=self)
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        default(sse_algorithm="aws:kms", kms_master_key_id=self.key.arn)
                        if sse_kms
                        else default(sse_algorithm="AES256")
                    ),
                    bucket_key_enabled=True if sse_kms else None,
                )
            ],
            opts=child,
        )
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        return block

    def _lifecycle(self, role: str, bucket: aws.s3.Bucket, expire_days: int, *, cold: bool) -> None:
        a = self._args
        lc = aws.s3.BucketLifecycleConfigurationRuleArgs
        aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-{role}-lifecycle",
            bucket=bucket.id,
            rules=[
                lc(
                    id="tier-and-expire",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    # Objects under 128 KiB are not transitioned (the S3 default since 2024-09), so
                    # small log files stay in Standard rather than pay the IR minimum size.
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=a.cold_after_days, storage_class="GLACIER_IR"
                        )
                    ]
                    if cold
                    else None,
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_days),
                    # A delete marker must not shorten retention: old versions live as long as current ones.
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=expire_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _object_lock(self) -> None:
        lock = self._args.object_lock
        if lock is None:
            return
        aws.s3.BucketObjectLockConfiguration(
            f"{self._name}-archive-object-lock",
            bucket=self.archive_bucket.id,
            object_lock_enabled="Enabled",
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                    mode=lock.mode, days=lock.days
                )
            ),
            opts=retained(self, self._args.protect),
        )

    def _access_logging(self, logged: Mapping[str, aws.s3.Bucket], policy: aws.s3.BucketPolicy) -> None:
        for key, bucket in logged.items():
            aws.s3.BucketLogging(
                f"{self._name}-access-logging-{key}",
                bucket=bucket.id,
                target_bucket=self.access_log_bucket.id,
                target_prefix=f"{ACCESS_LOG_PREFIX}/{key}/",
                # [prefix][account]/[region]/[bucket]/YYYY/MM/DD/...: Athena partition projection.
                target_object_key_format=aws.s3.BucketLoggingTargetObjectKeyFormatArgs(
                    partitioned_prefix=aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                        partition_date_source="EventTime"
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )

    # ------------------------------------------------------------------ trail
    def _trail(self, bucket_policy: aws.s3.BucketPolicy) -> aws.cloudtrail.Trail:
        a, name = self._args, self._name
        cw_group, cw_role, cw_grant = self._cloudwatch()
        management = aws.cloudtrail.TrailAdvancedEventSelectorArgs(
            name="Management events",
            field_selectors=[
                aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(field="eventCategory", equals=["Management"])
            ],
        )
        arns = pulumi.Output.all(*[b.arn for b in a.audited_buckets.values()], *a.other_data_event_bucket_arns)
        selectors = arns.apply(
            lambda bs: [management, data_event_selector("Audited bucket objects", list(bs), a.data_events)]
        )
        # CloudTrail checks the bucket policy and the key policy when the trail is created
        # (InsufficientS3BucketPolicyException / InsufficientEncryptionPolicyException).
        return aws.cloudtrail.Trail(
            f"{name}-trail",
            name=a.trail_name,
            s3_bucket_name=self.archive_bucket.id,
            s3_key_prefix=CLOUDTRAIL_PREFIX,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=self.key.arn,
            advanced_event_selectors=selectors,
            # CloudTrail wants the log group ARN with the log-stream wildcard.
            cloud_watch_logs_group_arn=cw_group.arn.apply(lambda arn: f"{arn}:*") if cw_group else None,
            cloud_watch_logs_role_arn=cw_role.arn if cw_role else None,
            tags={**a.tags, "Name": a.trail_name},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[bucket_policy, self.key, *([cw_grant] if cw_grant else [])]
            ),
        )

    def _cloudwatch(self) -> tuple[aws.cloudwatch.LogGroup | None, aws.iam.Role | None, aws.iam.RolePolicy | None]:
        """The log group, the role CloudTrail assumes to write to it, and the role's policy (or Nones)."""
        a, name = self._args, self._name
        if a.cloudwatch_retention_days is None:
            return None, None, None
        group = aws.cloudwatch.LogGroup(
            f"{name}-trail-logs",
            name=f"/aws/cloudtrail/{a.trail_name}",
            retention_in_days=a.cloudwatch_retention_days,
            tags=dict(a.tags),
            opts=retained(self, a.protect),
        )
        # https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-required-policy-for-cloudwatch-logs.html
        role = aws.iam.Role(
            f"{name}-trail-logs-role",
            assume_role_policy=policy_json(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceArn": a.trail_arn}},
                    }
                ]
            ),
            path=a.iam_path,
            permissions_boundary=a.permissions_boundary,
            tags=dict(a.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        grant = aws.iam.RolePolicy(
            f"{name}-trail-logs-policy",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: policy_json(
                    [
                        {
                            "Sid": "DeliverToLogGroup",
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": f"{arn}:log-stream:*",
                        }
                    ]
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return group, role, grant


__all__ = [
    "ACCESS_LOG_PREFIX",
    "CLOUDTRAIL_PREFIX",
    "DEPLOYMENTS_PREFIX",
    "Audit",
    "AuditArgs",
    "ObjectLock",
    "access_log_policy",
    "archive_policy",
    "key_policy",
]
