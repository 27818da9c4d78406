"""Config rules of the ML lifecycle sections: drift (per model and global), mlflow, dvc."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import fixtures as fx
from tests.conftest import STACKS
from tests.test_config import RawFactory, parse, problems


def _drifting_model(raw: dict[str, Any]) -> dict[str, Any]:
    return next(iter(raw["serving"]["models"].values()))


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_enables_mlflow_and_drift_for_a_model(raw_config: RawFactory, stack: str) -> None:
    cfg = parse(raw_config(stack))
    assert cfg.mlflow.enabled
    assert cfg.mlflow_admin_password is not None
    assert any(m.drift for m in cfg.serving.models.values())
    if cfg.environment.value == "prod":
        assert cfg.mlflow.db_multi_az
        assert cfg.mlflow.db_deletion_protection
        assert cfg.mlflow.db_backup_retention_days >= 7


def test_drift_prefixes_are_normalised_to_directories(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    _drifting_model(raw)["drift"] = {"reference": "drift/a/ref", "current": "drift/a/cur/"}
    cfg = parse(raw)
    drift = next(m.drift for m in cfg.serving.models.values() if m.drift)
    assert (drift.reference, drift.current, drift.schedule) == ("drift/a/ref/", "drift/a/cur/", "0 * * * *")


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (lambda r: _drifting_model(r)["drift"].update(reference="s3://bucket/x/"), "drift.reference", "without s3://"),
        (lambda r: _drifting_model(r)["drift"].update(current="/logs/"), "drift.current", "leading '/'"),
        (lambda r: _drifting_model(r)["drift"].update(schedule="@weekly"), "drift.schedule", "at least daily"),
        (lambda r: _drifting_model(r)["drift"].update(schedule="every hour"), "drift.schedule", "cron"),
        (lambda r: _drifting_model(r)["drift"].update(current=_drifting_model(r)["drift"]["reference"]),
         "drift.current", "must differ"),
        (lambda r: r["drift"].pop("image"), "drift.image", "required"),
        (lambda r: r["drift"].update(image={"repository": "nope", "tag": "v1"}), "drift.image.repository", "registry.repositories"),
        (lambda r: r["drift"].update(image={"repository": "drift-job"}), "drift.image", "pin the image"),
        (lambda r: r["drift"].update(memory="lots"), "drift.memory", "quantity"),
        (lambda r: r.pop("mlflowAdminPassword"), "mlflowAdminPassword", "required"),
        (lambda r: r["mlflow"].update(dbInstanceClass="m5.large"), "mlflow.dbInstanceClass", "RDS instance class"),
        (lambda r: r["mlflow"].update(dbEngineVersion="9.6"), "mlflow.dbEngineVersion", "PostgreSQL"),
        (lambda r: r["mlflow"].update(dbMaxStorageGib=20, dbStorageGib=50), "mlflow.dbMaxStorageGib", ">= dbStorageGib"),
        (lambda r: r["mlflow"].update(clientNamespaces=["Bad_NS"]), "mlflow.clientNamespaces[0]", "DNS label"),
        (lambda r: r.setdefault("dvc", {}).update(principalArns=["not-an-arn"]), "dvc.principalArns", "not IAM role ARNs"),
        (lambda r: (r["ciRunners"].update(enabled=False), r.setdefault("mlflow", {}).update(clientNamespaces=["arc-jobs"])),
         "mlflow.clientNamespaces[0]", "ciRunners.enabled is false"),
    ],
    ids=["ref-s3-uri", "cur-leading-slash", "weekly", "not-cron", "same-prefix", "no-image", "image-repo",
         "image-unpinned", "memory", "no-password", "instance-class", "engine", "storage", "client-ns", "dvc-arn", "client-ns-without-ci"],
)  # fmt: skip
def test_rules_report_their_path(
    raw_config: RawFactory, mutate: Callable[[dict[str, Any]], Any], path: str, message: str
) -> None:
    raw = raw_config(fx.DEV)
    mutate(raw)
    found = problems(raw)
    match = {p: m for p, m in found.items() if p.endswith(path)}
    assert match, found
    assert any(message in m for m in match.values()), found


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("dbMultiAz", False, "mlflow.dbMultiAz"),
        ("dbDeletionProtection", False, "mlflow.dbDeletionProtection"),
        ("dbBackupRetentionDays", 3, "mlflow.dbBackupRetentionDays"),
    ],
)
def test_prod_database_guardrails_are_policies_not_config_rules(
    raw_config: RawFactory, key: str, value: Any, path: str
) -> None:
    """Multi-AZ, deletion protection and 7-day backups in prod are the pack's (rds-instance-durability,
    rds-instance-backup-retention; tests/stacks/test_tier_guardrails.py): every tier's config accepts them."""
    for stack in ("dev", "prod"):
        raw = raw_config(stack)
        raw["mlflow"][key] = value
        assert parse(raw).mlflow.model_dump(by_alias=True)[key] == value, path


def test_plaintext_mlflow_password_is_refused(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["mlflowAdminPassword"] = "hunter2"
    found = problems(raw, secret_keys=["grafanaAdminPassword", "alertmanagerSlackWebhookUrl",
                                       "alertmanagerPagerdutyRoutingKey", "githubAppPrivateKey"])  # fmt: skip
    assert "is a secret" in found["mlflowAdminPassword"]
    assert "hunter2" not in repr(found)


def test_mlflow_can_be_disabled_without_a_password(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["mlflow"]["enabled"] = False
    raw.pop("mlflowAdminPassword")
    assert not parse(raw).mlflow.enabled


@pytest.mark.parametrize("password", ["has%percent-sign", "amp&ersand-123", "slash/in-the-middle", "back\\slash-1234"])
def test_mlflow_admin_password_must_survive_the_charts_ini_file(raw_config: RawFactory, password: str) -> None:
    raw = raw_config(fx.DEV)
    raw["mlflowAdminPassword"] = password
    found = problems(raw)
    assert "must not contain % & /" in found["mlflowAdminPassword"]
    assert password not in repr(found)
