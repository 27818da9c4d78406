"""Fixture rows of the governance policies (policy/ai_platform_policies/governance.py), registered into CASES."""

from __future__ import annotations

import json
from typing import Any

from tests.policy.cases_common import BUCKET, DEPLOY, S3_LOGGING, case, deployment, merged, without
from tests.policy.harness import R

TRAIL = "aws:cloudtrail/trail:Trail"
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
AUDIT = "platform:index:Audit"

MANAGEMENT = {"name": "Management events", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}


def data_selector(read_only: str | None = None) -> dict[str, Any]:
    fields: list[dict[str, Any]] = [
        {"field": "eventCategory", "equals": ["Data"]},
        {"field": "resources.type", "equals": ["AWS::S3::Object"]},
        {"field": "resources.ARN", "startsWiths": ["arn:aws:s3:::artifacts/"]},
    ]
    if read_only:
        fields.append({"field": "readOnly", "equals": [read_only]})
    return {"name": "Audited bucket objects", "fieldSelectors": fields}


TRAIL_OK = {
    "name": "ai-platform-audit",
    "s3BucketName": "archive",
    "isMultiRegionTrail": True,
    "enableLogFileValidation": True,
    "kmsKeyId": "arn:aws:kms:us-west-2:111111111111:key/k",
    "advancedEventSelectors": [MANAGEMENT, data_selector()],
}
ARCHIVE = R(BUCKET, {"bucket": "archive", "objectLockEnabled": True}, "archive")
ARTIFACTS = R(BUCKET, {"bucket": "artifacts"}, "artifacts")
LOGS = R(BUCKET, {"bucket": "logs"}, "logs")


def trail(props: dict[str, Any], *, covers: bool = True) -> R:
    deps = {"s3BucketName": ["archive"], **({"advancedEventSelectors": ["artifacts"]} if covers else {})}
    return R(TRAIL, props, "trail", deps=deps)


def lock(retention: dict[str, Any] | None) -> R:
    props: dict[str, Any] = {"bucket": "archive", "objectLockEnabled": "Enabled"}
    if retention is not None:
        props["rule"] = {"defaultRetention": retention}
    return R(LOCK, props, "lock", deps={"bucket": ["archive"]})


def log_policy(service: str = "logging.s3.amazonaws.com") -> R:
    doc = {"Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "s3:PutObject"}]}
    return R(BUCKET_POLICY, {"bucket": "logs", "policy": json.dumps(doc)}, "logs-policy", deps={"bucket": ["logs"]})


def logging(source: str) -> R:
    return R(
        S3_LOGGING,
        {"bucket": source, "targetBucket": "logs", "targetPrefix": f"s3-access/{source}/"},
        f"logging-{source}",
        deps={"bucket": [source], "targetBucket": ["logs"]},
    )


case(
    "governance-cloudtrail-present",
    [ARTIFACTS, ARCHIVE, trail(TRAIL_OK)],
    [ARTIFACTS],
    "set audit.trail: create",
    [ARTIFACTS, R(AUDIT, {"trailMode": "organization"}, "audit")],
    True,
)
case(
    "governance-cloudtrail-settings",
    R(TRAIL, TRAIL_OK),
    R(TRAIL, merged(TRAIL_OK, isMultiRegionTrail=False, enableLogFileValidation=False)),
    "needs isMultiRegionTrail: true, enableLogFileValidation: true",
    R(TRAIL, without(TRAIL_OK, "kmsKeyId")),
    True,
)
case(
    "governance-archive-object-lock",
    [ARTIFACTS, ARCHIVE, trail(TRAIL_OK), lock({"mode": "COMPLIANCE", "days": 365.0})],
    [ARTIFACTS, ARCHIVE, trail(TRAIL_OK), lock({"mode": "GOVERNANCE", "days": 30.0})],
    "needs mode in ['COMPLIANCE'] and at least 365 days",
    [ARTIFACTS, ARCHIVE, trail(TRAIL_OK), lock(None)],
    True,
    minRetentionDays=365,
    modes=["COMPLIANCE"],
)
case(
    "governance-data-events",
    [ARTIFACTS, ARCHIVE, trail(TRAIL_OK)],
    [ARTIFACTS, ARCHIVE, trail(merged(TRAIL_OK, advancedEventSelectors=[MANAGEMENT, data_selector("false")]))],
    "no trail records object-level reads and writes of bucket 'artifacts'",
    [ARTIFACTS, ARCHIVE, trail(without(TRAIL_OK, "advancedEventSelectors"), covers=False)],
    True,
    requireReadEvents=True,
)
case(
    "governance-access-logging",
    [ARTIFACTS, LOGS, logging("artifacts"), log_policy()],
    [ARTIFACTS, LOGS, logging("artifacts"), log_policy("cloudtrail.amazonaws.com")],
    "does not admit logging.s3.amazonaws.com",
    [ARTIFACTS, LOGS, log_policy()],
    True,
)

LINEAGE = {
    "platform.ai/model-name": "llama",
    "platform.ai/model-version": "7",
    "platform.ai/image": "1.dkr.ecr.us-west-2.amazonaws.com/vllm@sha256:" + "a" * 64,
    "platform.ai/image-digest": "sha256:" + "a" * 64,
    "platform.ai/weights-uri": "s3://artifacts/models/llama/",
}


def model_deployment(annotations: dict[str, Any] | None) -> dict[str, Any]:
    d = deployment()
    d["metadata"]["labels"]["platform.ai/model"] = "llama"
    if annotations is not None:
        d["metadata"]["annotations"] = dict(annotations)
        d["spec"]["template"]["metadata"]["annotations"] = dict(annotations)
    return d


case(
    "governance-model-lineage",
    R(DEPLOY, model_deployment(LINEAGE), "llama"),
    R(DEPLOY, model_deployment({**LINEAGE, "platform.ai/image-digest": "unpinned"}), "llama"),
    "runs an image not pinned by digest",
    R(DEPLOY, model_deployment(None), "llama"),
    True,
    requirePinnedDigest=True,
)
