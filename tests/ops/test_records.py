"""Deployment records written to an Object Lock archive on moto (server mode), as the deploy job does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blueprint.cli import main
from tests.delivery.test_records import APPROVALS, GITHUB, HISTORY
from tests.fixtures import PROJECT
from tests.ops.conftest import client

BUCKET = f"{PROJECT}-prod-archive-test"


def _archive(moto_url: str) -> None:
    s3 = client("s3", moto_url)
    s3.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}, ObjectLockEnabledForBucket=True
    )
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}},
        },
    )


def _inputs(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "history.json").write_text(json.dumps(HISTORY))
    (tmp_path / "approvals.json").write_text(json.dumps(APPROVALS))
    return str(tmp_path / "history.json"), str(tmp_path / "approvals.json")


def test_record_lands_under_deployments_stack_and_is_locked(
    moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _archive(moto_url)
    for k, v in GITHUB.items():
        monkeypatch.setenv(k, v)
    history, approvals = _inputs(tmp_path)
    code = main(
        [
            "records",
            "write",
            "prod",
            "--bucket",
            BUCKET,
            "--history",
            history,
            "--approvals",
            approvals,
            "--outcome",
            "success",
        ]
    )
    out = capsys.readouterr().out.strip()
    assert code == 0
    key = "deployments/prod/2026/03/03/20260303T091244-0123456789ab-99-2.json"
    assert out == f"record=s3://{BUCKET}/{key}"
    s3 = client("s3", moto_url)
    obj = s3.get_object(Bucket=BUCKET, Key=key)
    doc = json.loads(obj["Body"].read())
    assert doc["approvers"][0]["login"] == "alice"
    assert doc["update"]["resourceChanges"]["create"] == 3
    # The archive's default retention applies to the record: it cannot be deleted before it ends.
    assert obj["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(s3.exceptions.ClientError):
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=obj["VersionId"])


def test_missing_bucket_is_one_line_error(moto_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history, _approvals = _inputs(tmp_path)
    code = main(
        ["records", "write", "prod", "--bucket", "no-such-archive", "--history", history, "--outcome", "failure"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: cannot write s3://no-such-archive/deployments/prod/")
    assert err.count("\n") == 1
    assert "Traceback" not in err
