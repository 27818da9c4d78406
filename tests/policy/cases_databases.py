"""Fixture rows of the policies in policy/ai_platform_policies/databases.py, registered into CASES."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tests.policy.cases_common import (
    BUCKET,
    ROLE_POLICY,
    case,
    merged,
    without,
)
from tests.policy.harness import R

RDS = "aws:rds/instance:Instance"
KEY_ARN = "arn:aws:kms:us-west-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RDS_OK: dict[str, Any] = {
    "identifier": "ai-platform-prod-mlflow",
    "engine": "postgres",
    "storageEncrypted": True,
    "kmsKeyId": KEY_ARN,
    "publiclyAccessible": False,
    "backupRetentionPeriod": 14.0,
    "manageMasterUserPassword": True,
    "multiAz": True,
    "deletionProtection": True,
}
case(
    "rds-instance-encrypted",
    R(RDS, RDS_OK),
    [R(RDS, merged(RDS_OK, storageEncrypted=False)), R(RDS, without(RDS_OK, "kmsKeyId"), "aws-key")],
    "customer-managed",
    R(RDS, without(RDS_OK, "storageEncrypted")),
    True,
)
case(
    "rds-instance-not-public",
    R(RDS, RDS_OK),
    R(RDS, merged(RDS_OK, publiclyAccessible=True)),
    "set publiclyAccessible: false",
    R(RDS, without(RDS_OK, "publiclyAccessible")),
    False,
)
case(
    "rds-instance-backup-retention",
    R(RDS, RDS_OK),
    R(RDS, merged(RDS_OK, backupRetentionPeriod=3.0)),
    "raise mlflow.dbBackupRetentionDays",
    R(RDS, without(RDS_OK, "backupRetentionPeriod")),
    True,
    minBackupRetentionDays=7,
)
case(
    "rds-instance-managed-master-password",
    R(RDS, RDS_OK),
    [R(RDS, merged(without(RDS_OK, "manageMasterUserPassword"), password="hunter2hunter2"))],
    "manageMasterUserPassword: true",
    R(RDS, without(RDS_OK, "manageMasterUserPassword")),
    True,
)
case(
    "rds-instance-durability",
    R(RDS, RDS_OK),
    [R(RDS, merged(RDS_OK, multiAz=False)), R(RDS, merged(RDS_OK, deletionProtection=False), "unprotected")],
    "in stacks/Pulumi.<stack>.yaml",
    R(RDS, without(RDS_OK, "multiAz", "deletionProtection")),
    True,
    requireMultiAz=True,
    requireDeletionProtection=True,
)


def _s3_grant(resource: str, actions: Sequence[str] = ("s3:GetObject", "s3:PutObject")) -> R:
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": [resource]}]}
    return R(ROLE_POLICY, {"policy": json.dumps(doc), "role": "r"}, "grant")


ARTIFACTS = R(BUCKET, {"bucket": "ai-platform-dev-artifacts-x"}, "artifacts")
case(
    "iam-role-s3-prefix-scoped",
    [ARTIFACTS, _s3_grant("arn:aws:s3:::ai-platform-dev-artifacts-x/dvc/*"), _s3_grant("arn:aws:s3:::state-bucket/*")],
    [ARTIFACTS, _s3_grant("arn:aws:s3:::ai-platform-dev-artifacts-x/*")],
    "scope it to a key prefix",
    [ARTIFACTS, R(ROLE_POLICY, {"role": "r"}, "grant")],
    False,
)
