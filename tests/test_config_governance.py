"""Config rules of the governance settings: audit, retention by data class, model lineage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import fixtures as fx
from tests.test_config import parse, problems

RawFactory = Callable[[str], dict[str, Any]]


def test_audit_tier_requirements_are_policies_not_config_rules(raw_config: RawFactory) -> None:
    """Object Lock and a trail in prod are the pack's (governance-archive-object-lock, governance-cloudtrail-present;
    tests/stacks/test_tier_guardrails.py): the config accepts a prod stack without them."""
    raw = raw_config(fx.PROD)
    raw["audit"].pop("objectLock")
    assert parse(raw).audit.object_lock is None
    raw = raw_config(fx.PROD)
    raw["audit"]["enabled"] = False
    assert parse(raw).audit.enabled is False


def test_organization_mode_needs_the_organization_trail_arn(raw_config: RawFactory) -> None:
    raw = raw_config(fx.STAGING)
    raw["audit"]["trail"] = "organization"
    assert "required with trail: organization" in problems(raw)["audit.organizationTrailArn"]
    raw["audit"]["organizationTrailArn"] = "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail"
    cfg = parse(raw)
    assert cfg.audit.trail == "organization"
    raw["audit"]["organizationTrailArn"] = "org-trail"
    assert "a CloudTrail trail ARN" in problems(raw)["audit.organizationTrailArn"]


@pytest.mark.parametrize(
    ("key", "value", "path", "fragment"),
    [
        ("trail", "both", "audit.trail", "create"),
        ("dataEvents", "everything", "audit.dataEvents", "all"),
        ("objectLock", {"mode": "LEGAL", "days": 10}, "audit.objectLock.mode", "COMPLIANCE"),
        ("objectLock", {"mode": "COMPLIANCE", "days": 0}, "audit.objectLock.days", "greater than or equal to 1"),
        ("cloudwatchRetentionDays", 100, "audit.cloudwatchRetentionDays", "a CloudWatch retention value"),
        ("retentionDays", 100, "audit.retentionDays", "at least objectLock.days"),
        ("coldAfterDays", 3000, "audit.coldAfterDays", "less than retentionDays"),
    ],
)
def test_audit_rules_name_the_key_and_what_is_allowed(
    raw_config: RawFactory, key: str, value: Any, path: str, fragment: str
) -> None:
    raw = raw_config(fx.PROD)
    raw["audit"][key] = value
    assert fragment in problems(raw)[path]


def test_personal_data_prefixes_are_directory_prefixes_with_bounded_expiry(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["artifacts"]["personalDataExpiryDays"] = {"/drift": 7}
    assert "ending in '/'" in problems(raw)["artifacts.personalDataExpiryDays"]
    raw["artifacts"]["personalDataExpiryDays"] = {"drift/current/": 0}
    assert "1..3650" in problems(raw)["artifacts.personalDataExpiryDays"]


def test_model_lineage_per_tier_is_a_policy_not_a_config_rule(raw_config: RawFactory) -> None:
    """Staging and prod record lineage through the mandatory policy governance-model-lineage
    (tests/stacks/test_tier_guardrails.py); the config takes a model without it in every tier."""
    for stack in ("dev", "staging", "prod"):
        raw = raw_config(stack)
        for m in raw["serving"]["models"].values():
            m.pop("lineage", None)
        assert all(m.lineage is None for m in parse(raw).resolved_models().values())


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("mlflowRunId", "run-1", "32 lowercase hex"),
        ("dvcHash", "xyz", "DVC md5 hash"),
        ("version", "has space", "annotation value"),
    ],
)
def test_lineage_values_are_checked(raw_config: RawFactory, field: str, value: str, fragment: str) -> None:
    raw = raw_config(fx.PROD)
    name = next(iter(raw["serving"]["models"]))
    raw["serving"]["models"][name]["lineage"][field] = value
    assert fragment in problems(raw)[f"serving.models.{name}.lineage.{field}"]
