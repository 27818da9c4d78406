"""Artifacts: the S3 bucket for model weights and dataset versions.

Provisions:
- a customer-managed KMS key (yearly rotation, 30-day deletion window) and an alias;
- an S3 bucket named from a prefix (S3 names are global, the provider appends a unique suffix),
  never ``force_destroy``;
- versioning; default SSE-KMS encryption with that key and an S3 Bucket Key (fewer KMS calls,
  so large model downloads do not run into KMS request quotas or cost);
- a public access block with all four settings on, and ``BucketOwnerEnforced`` object ownership
  (ACLs disabled);
- a bucket policy that denies every request not made over TLS (``aws:SecureTransport`` false);
- a lifecycle rule that expires noncurrent versions after N days, removes expired delete
  markers and aborts incomplete multipart uploads.
The key, its alias and the bucket are protected and retained when ``protect`` is set.

It doubles as a DVC remote: ``dvc remote add -d artifacts s3://<bucket>/dvc`` (with
``dvc remote modify artifacts region <region>``); versioning keeps overwritten objects
recoverable for the noncurrent-version window.

Outputs: ``bucket`` (``aws.s3.Bucket``), ``key`` (``aws.kms.Key``), ``bucket_name``,
``bucket_arn``; ``access_policy(prefix, write=...)`` builds a least-privilege IAM document for
one prefix (a model's weights, the DVC remote) for the roles that read or write it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components._common import customer_managed_key, policy_json, retained


@dataclass(frozen=True)
class ArtifactsArgs:
    """Inputs of :class:`Artifacts`."""

    bucket_prefix: str
    """Bucket name prefix (at most 37 characters, lowercase), e.g. ``ai-platform-dev-artifacts-``."""
    account_id: str
    """AWS account (the key policy)."""
    noncurrent_version_expiry_days: int = 90
    """Delete noncurrent object versions after this many days."""
    abort_incomplete_upload_days: int = 7
    """Abort incomplete multipart uploads (invisible, but billed) after this many days."""
    personal_data_expiry_days: Mapping[str, int] = field(default_factory=dict)
    """Retention by data class: key prefix that can hold personal data (``drift/current/``) -> days after which
    its objects expire; their noncurrent versions are deleted a day later, so the data is gone, not hidden."""
    key_deletion_window_days: int = 30
    """KMS key deletion window, the longest AWS allows, so a mistaken deletion can be cancelled."""
    protect: bool = True
    """Protect and retain the bucket and its key."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable resource."""


def tls_only_policy(bucket_arn: str) -> str:
    """A bucket policy that denies any request not made over TLS.

    The S3 user guide's example (https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html,
    "Enforce encryption of data in transit"): a Deny on every principal, conditioned on
    ``aws:SecureTransport`` false, grants nothing to anyone.
    """
    return policy_json(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    )


def personal_data_rules(expiry: Mapping[str, int]) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    """One expiry rule per personal-data prefix: the object expires after N days, its old versions a day later.

    In a versioned bucket, expiring the current version only adds a delete marker; the noncurrent
    expiration is what erases the bytes (https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html).
    Where rules overlap, S3 applies the expiration first, so the whole-bucket rule cannot keep the data longer.
    """
    return [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id=f"personal-data-{prefix.strip('/').replace('/', '-')}",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=1
            ),
        )
        for prefix, days in sorted(expiry.items())
    ]


class Artifacts(pulumi.ComponentResource):
    """A versioned, KMS-encrypted, private, TLS-only S3 bucket for model weights and datasets."""

    bucket: aws.s3.Bucket
    key: aws.kms.Key
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:Artifacts", name, None, opts)
        tags = dict(args.tags)

        # Readers of the bucket need kms:Decrypt on this key as well as s3:GetObject.
        self.key = customer_managed_key(
            f"{name}-key",
            parent=self,
            description=f"{args.bucket_prefix.rstrip('-')} bucket encryption",
            alias=args.bucket_prefix.rstrip("-"),
            account_id=args.account_id,
            protect=args.protect,
            deletion_window_days=args.key_deletion_window_days,
            tags=tags,
        )
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=args.bucket_prefix,
            force_destroy=False,
            tags={**tags, "Name": f"{name}-bucket"},
            opts=retained(self, args.protect),
        )
        versioning, public_access = self._bucket_settings(name)
        # After the public access block: S3 rejects concurrent configuration writes to one bucket
        # (409 OperationAborted), and the policy must be checked against the block once it exists.
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(tls_only_policy),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        self._lifecycle(name, args, versioning)

        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})

    def _bucket_settings(self, name: str) -> tuple[aws.s3.BucketVersioning, aws.s3.BucketPublicAccessBlock]:
        """Versioning, SSE-KMS with a bucket key, the public access block and owner-enforced objects."""
        child = pulumi.ResourceOptions(parent=self)
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
                    ),
                    # S3 Bucket Keys cut KMS requests by orders of magnitude for large objects:
                    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        return versioning, public_access

    def _lifecycle(self, name: str, args: ArtifactsArgs, versioning: aws.s3.BucketVersioning) -> None:
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="noncurrent-versions-and-uploads",
                    status="Enabled",
                    # An empty filter applies the rule to every object.
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_expiry_days
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=args.abort_incomplete_upload_days
                    ),
                ),
                *personal_data_rules(args.personal_data_expiry_days),
            ],
            # Lifecycle rules on noncurrent versions assume versioning is already on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )

    def access_policy(self, prefix: str, *, write: bool = False) -> pulumi.Output[str]:
        """An IAM policy document for one key prefix (``models/llama-3-8b/``, ``dvc/``) of the bucket.

        Read: list the prefix and get objects; write adds put and multipart-abort (no delete:
        versioning keeps history, the lifecycle rule prunes it). Both need the bucket key:
        with an S3 Bucket Key, reads call kms:Decrypt and writes kms:GenerateDataKey
        (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html). Attach it to an
        IRSA role, e.g. a model server's or the CI runners'.
        """
        prefix = prefix.strip("/") + "/"
        object_actions = ["s3:GetObject"] + (["s3:AbortMultipartUpload", "s3:PutObject"] if write else [])
        kms_actions = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if write else [])
        return pulumi.Output.all(self.bucket.arn, self.key.arn).apply(
            lambda a: policy_json(
                [
                    {
                        "Sid": "ListPrefix",
                        "Effect": "Allow",
                        "Action": "s3:ListBucket",
                        "Resource": a[0],
                        "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
                    },
                    {"Sid": "Objects", "Effect": "Allow", "Action": object_actions, "Resource": f"{a[0]}/{prefix}*"},
                    {"Sid": "BucketKey", "Effect": "Allow", "Action": kms_actions, "Resource": a[1]},
                ]
            )
        )
