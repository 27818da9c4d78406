"""Governance policies beyond the fixture rows: organization trails, log targets, lineage on pods."""

from __future__ import annotations

from tests.policy.cases_common import SSE, deep
from tests.policy.cases_governance import (
    ARCHIVE,
    ARTIFACTS,
    AUDIT,
    LINEAGE,
    LOGS,
    TRAIL_OK,
    lock,
    log_policy,
    logging,
    model_deployment,
    trail,
)
from tests.policy.cases_storage import SSE_OK
from tests.policy.harness import R, messages

ORG = R(
    AUDIT,
    {"trailMode": "organization", "organizationTrailArn": "arn:aws:cloudtrail:us-east-1:999999999999:trail/org"},
    "audit",
)


def test_a_declared_organization_trail_satisfies_the_trail_and_data_event_policies() -> None:
    assert messages("governance-cloudtrail-present", [ARTIFACTS, ORG]) == []
    assert messages("governance-data-events", [ARTIFACTS, ORG]) == []


def test_write_only_data_events_pass_where_reads_are_not_required() -> None:
    from tests.policy.cases_common import merged
    from tests.policy.cases_governance import MANAGEMENT, data_selector

    write_only = trail(merged(TRAIL_OK, advancedEventSelectors=[MANAGEMENT, data_selector("false")]))
    assert messages("governance-data-events", [ARTIFACTS, ARCHIVE, write_only], {"requireReadEvents": False}) == []


def test_a_trail_whose_selectors_do_not_come_from_the_bucket_does_not_cover_it() -> None:
    found = messages("governance-data-events", [ARTIFACTS, ARCHIVE, trail(TRAIL_OK, covers=False)])
    assert any("bucket 'artifacts'" in m for m in found)


def test_access_log_target_must_not_have_an_object_lock_retention() -> None:
    locked_logs = R(
        lock({"mode": "COMPLIANCE", "days": 1.0}).type,
        {"bucket": "logs", "rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 1.0}}},
        "lock",
        deps={"bucket": ["logs"]},
    )
    found = messages("governance-access-logging", [ARTIFACTS, LOGS, logging("artifacts"), log_policy(), locked_logs])
    assert any("Object Lock default retention" in m for m in found)


def test_sse_s3_is_required_on_access_log_targets_and_refused_elsewhere() -> None:
    aes = deep(SSE_OK, "rules.0.applyServerSideEncryptionByDefault", {"sseAlgorithm": "AES256"})
    on_logs = R(SSE, {"bucket": "logs", **aes}, "logs-sse", deps={"bucket": ["logs"]})
    kms_on_logs = R(SSE, {"bucket": "logs", **SSE_OK}, "logs-sse", deps={"bucket": ["logs"]})
    on_data = R(SSE, {"bucket": "artifacts", **aes}, "data-sse", deps={"bucket": ["artifacts"]})
    base = [ARTIFACTS, LOGS, logging("artifacts")]
    assert messages("s3-bucket-sse-kms-bucket-key", [*base, on_logs]) == []
    assert any(
        "needs sseAlgorithm: AES256" in m for m in messages("s3-bucket-sse-kms-bucket-key", [*base, kms_on_logs])
    )
    assert any("encrypts with AES256" in m for m in messages("s3-bucket-sse-kms-bucket-key", [*base, on_data]))


def test_lineage_on_the_deployment_but_not_its_pods_is_reported() -> None:
    d = model_deployment(LINEAGE)
    d["spec"]["template"]["metadata"].pop("annotations")
    found = messages("governance-model-lineage", R("kubernetes:apps/v1:Deployment", d, "llama"))
    assert any("lacks lineage annotations" in m for m in found)


def test_unversioned_models_pass_only_where_versions_are_not_required() -> None:
    d = R(
        "kubernetes:apps/v1:Deployment",
        model_deployment({**LINEAGE, "platform.ai/model-version": "unversioned"}),
        "llama",
    )
    assert messages("governance-model-lineage", d, {"requireVersion": False}) == []
    assert any("records no model version" in m for m in messages("governance-model-lineage", d))


def test_deployments_that_are_not_models_are_not_checked() -> None:
    from tests.policy.cases_common import deployment

    assert messages("governance-model-lineage", R("kubernetes:apps/v1:Deployment", deployment(), "grafana")) == []
