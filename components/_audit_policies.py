"""The audit archive's documents: the KMS key policy and the bucket policies (split from components/audit.py)."""

from __future__ import annotations

from components._common import policy_json

CLOUDTRAIL_PREFIX = "cloudtrail"
"""Key prefix of CloudTrail's log files in the archive (``cloudtrail/AWSLogs/<account>/...``)."""
DEPLOYMENTS_PREFIX = "deployments"
"""Key prefix of the deployment records in the archive (``deployments/<stack>/...``)."""
ACCESS_LOG_PREFIX = "s3-access"
"""Key prefix of S3 server access logs in the access-log bucket (``s3-access/<bucket key>/``)."""


def key_policy(account_id: str, trail_arn: str | None) -> str:
    """The archive key's policy: IAM administers it; CloudTrail may encrypt for this trail only.

    Statements from https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html;
    readers of the logs get ``kms:Decrypt`` through IAM (the first statement), not through ``*``.
    """
    cloudtrail = {"Service": "cloudtrail.amazonaws.com"}
    iam: dict[str, object] = {
        "Sid": "EnableIamPolicies",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    if trail_arn is None:
        return policy_json([iam])
    return policy_json(
        [
            iam,
            {
                "Sid": "AllowCloudTrailEncrypt",
                "Effect": "Allow",
                "Principal": cloudtrail,
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn},
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account_id}:trail/*"
                    },
                },
            },
            {
                "Sid": "AllowCloudTrailDescribeKey",
                "Effect": "Allow",
                "Principal": cloudtrail,
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
        ]
    )


def _deny_insecure(bucket_arn: str) -> dict[str, object]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def archive_policy(bucket_arn: str, account_id: str, trail_arn: str | None) -> str:
    """TLS only, no object deletion; CloudTrail may check the ACL and write under ``cloudtrail/AWSLogs/<account>/``.

    From https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html.
    """
    statements: list[dict[str, object]] = [
        _deny_insecure(bucket_arn),
        # Nobody deletes audit objects by hand, Object Lock or not: only the lifecycle rule expires them
        # (lifecycle actions are not requests a bucket policy evaluates).
        {
            "Sid": "DenyObjectDeletion",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": f"{bucket_arn}/*",
        },
    ]
    if trail_arn:
        source = {"aws:SourceArn": trail_arn}
        statements += [
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": source},
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{CLOUDTRAIL_PREFIX}/AWSLogs/{account_id}/*",
                "Condition": {"StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"}},
            },
        ]
    return policy_json(statements)


def access_log_policy(bucket_arn: str, account_id: str, source_bucket_arns: list[str]) -> str:
    """TLS only; S3 log delivery may write under ``s3-access/`` for the logged buckets of this account.

    From https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html
    ("Grant permissions to the logging service principal by using a bucket policy").
    """
    return policy_json(
        [
            _deny_insecure(bucket_arn),
            {
                "Sid": "S3ServerAccessLogsPolicy",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{ACCESS_LOG_PREFIX}/*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": sorted(source_bucket_arns)},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
        ]
    )
