"""Fixture rows of the policies in policy/ai_platform_policies/storage.py, registered into CASES."""

from __future__ import annotations

from typing import Any

from tests.policy.cases_common import (
    BUCKET,
    PAB,
    S3_LIFECYCLE,
    S3_LOGGING,
    SSE,
    STORAGE_CLASS,
    TAGS,
    VERSIONING,
    case,
    deep,
    merged,
    without,
)
from tests.policy.harness import R

BUCKET_R = R(BUCKET, {"bucket": "artifacts", "tags": TAGS}, "bucket")


def on_bucket(type_: str, props: dict[str, Any], name: str) -> R:
    return R(type_, {"bucket": "artifacts", **props}, name, deps={"bucket": ["bucket"]})


PAB_OK = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
case(
    "s3-bucket-public-access-block",
    [BUCKET_R, on_bucket(PAB, PAB_OK, "pab")],
    [BUCKET_R],
    "create an aws.s3.BucketPublicAccessBlock",
    [BUCKET_R, R(PAB, {}, "pab")],
    True,
)
case(
    "s3-bucket-public-access-block-all-flags",
    R(PAB, PAB_OK),
    R(PAB, merged(PAB_OK, blockPublicPolicy=False)),
    "leaves blockPublicPolicy off: set all four to true",
    R(PAB, without(PAB_OK, "ignorePublicAcls")),
    True,
)
SSE_OK = {
    "rules": [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:k"},
            "bucketKeyEnabled": True,
        }
    ]
}
case(
    "s3-bucket-encryption-configured",
    [BUCKET_R, on_bucket(SSE, SSE_OK, "sse")],
    [BUCKET_R],
    "create an aws.s3.BucketServerSideEncryptionConfiguration",
    [BUCKET_R, R(SSE, {}, "sse")],
    True,
)
case(
    "s3-bucket-sse-kms-bucket-key",
    R(SSE, SSE_OK),
    R(SSE, deep(SSE_OK, "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256")),
    "{sseAlgorithm: aws:kms",
    R(SSE, without(SSE_OK, "rules")),
    True,
)
case(
    "s3-bucket-versioning",
    [BUCKET_R, on_bucket(VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}, "v")],
    [BUCKET_R, on_bucket(VERSIONING, {"versioningConfiguration": {"status": "Suspended"}}, "v")],
    "create an aws.s3.BucketVersioning with status Enabled",
    [BUCKET_R, on_bucket(VERSIONING, {}, "v")],
    True,
)
LC_OK = {
    "rules": [{"id": "abort", "status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0}}]
}
case(
    "s3-bucket-lifecycle",
    [BUCKET_R, on_bucket(S3_LIFECYCLE, LC_OK, "lc")],
    [
        BUCKET_R,
        on_bucket(S3_LIFECYCLE, {"rules": [{"id": "x", "status": "Enabled", "expiration": {"days": 30.0}}]}, "lc"),
    ],
    "add a lifecycle rule with abortIncompleteMultipartUpload",
    [BUCKET_R, on_bucket(S3_LIFECYCLE, {}, "lc")],
    True,
)
case(
    "s3-bucket-access-logging",
    [
        BUCKET_R,
        R(BUCKET, {"bucket": "logs"}, "logs"),
        R(
            S3_LOGGING,
            {"bucket": "artifacts", "targetBucket": "logs"},
            "log",
            deps={"bucket": ["bucket"], "targetBucket": ["logs"]},
        ),
    ],
    [BUCKET_R],
    "create an aws.s3.BucketLogging",
    [BUCKET_R, R(S3_LOGGING, {}, "log")],
    True,
)
SC = {
    "metadata": {"name": "gp3-encrypted"},
    "provisioner": "ebs.csi.aws.com",
    "parameters": {"type": "gp3", "encrypted": "true"},
}
case(
    "k8s-storage-class-encrypted-gp3",
    R(STORAGE_CLASS, SC),
    R(STORAGE_CLASS, deep(SC, "parameters.encrypted", "false")),
    "set parameters.encrypted: 'true'",
    R(STORAGE_CLASS, without(SC, "parameters")),
    True,
)

case(
    "stateful-resources-protected",
    R(BUCKET, {"bucket": "artifacts", "tags": TAGS}, "bucket", protect=True),
    R(BUCKET, {"bucket": "artifacts", "tags": TAGS}, "bucket", protect=False),
    "is not protected: a replace or `pulumi destroy` would delete its data; set protectStatefulResources: true",
    R("aws:rds/instance:Instance", {"identifier": "mlflow"}, "db"),
    True,
)
