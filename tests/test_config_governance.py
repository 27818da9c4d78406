"""Config rules of the governance settings: audit, retention by data class, model lineage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.test_config import parse, problems

RawFactory = Callable[[str], dict[str, Any]]


def test_prod_requires_object_lock_and_an_audit_trail(raw_config: RawFactory) -> None:
    raw = raw_config("prod")
    raw["audit"].pop("objectLock")
    assert "prod needs Object Lock" in problems(raw)["audit.objectLock"]
    raw = raw_config("prod")
    raw["audit"]["enabled"] = False
    assert "prod must keep an audit trail" in problems(raw)["audit.enabled"]


def test_organization_mode_needs_the_organization_trail_arn(raw_config: RawFactory) -> None:
    raw = raw_config("staging")
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
    raw = raw_config("prod")
    raw["audit"][key] = value
    assert fragment in problems(raw)[path]


def test_personal_data_prefixes_are_directory_prefixes_with_bounded_expiry(raw_config: RawFactory) -> None:
    raw = raw_config("dev")
    raw["artifacts"]["personalDataExpiryDays"] = {"/drift": 7}
    assert "ending in '/'" in problems(raw)["artifacts.personalDataExpiryDays"]
    raw["artifacts"]["personalDataExpiryDays"] = {"drift/current/": 0}
    assert "1..3650" in problems(raw)["artifacts.personalDataExpiryDays"]


def test_staging_and_prod_models_must_record_lineage(raw_config: RawFactory) -> None:
    for stack in ("staging", "prod"):
        raw = raw_config(stack)
        name = next(iter(raw["serving"]["models"]))
        raw["serving"]["models"][name].pop("lineage")
        assert "records model lineage" in problems(raw)[f"serving.models.{name}.lineage"]
    raw = raw_config("dev")
    for m in raw["serving"]["models"].values():
        m.pop("lineage", None)
    parse(raw)  # dev may leave it out (annotated "unversioned")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("mlflowRunId", "run-1", "32 lowercase hex"),
        ("dvcHash", "xyz", "DVC md5 hash"),
        ("version", "has space", "annotation value"),
    ],
)
def test_lineage_values_are_checked(raw_config: RawFactory, field: str, value: str, fragment: str) -> None:
    raw = raw_config("prod")
    name = next(iter(raw["serving"]["models"]))
    raw["serving"]["models"][name]["lineage"][field] = value
    assert fragment in problems(raw)[f"serving.models.{name}.lineage.{field}"]
