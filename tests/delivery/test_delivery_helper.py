"""`blueprint delivery`: stack facts for the workflows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from blueprint.cli import main
from blueprint.stackfiles import stack_names
from blueprint.upkeep.delivery import stack_env
from tests import fixtures as fx
from tests.conftest import ROOT

STACKS = stack_names(ROOT)


@pytest.mark.parametrize("stack", STACKS)
def test_env_derives_the_roles_the_stack_creates(stack: str) -> None:
    env = stack_env(stack, root=ROOT)
    account, delivery = fx.account(stack), fx.config(stack)["delivery"]
    assert env["account_id"] == account
    assert env["deploy_role_arn"] == f"arn:aws:iam::{account}:role/{fx.PROJECT}-deploy-{stack}"
    assert env["preview_role_arn"] == f"arn:aws:iam::{account}:role/{fx.PROJECT}-preview-{stack}"
    assert env["backend_url"] == f"s3://{delivery['stateBucket']}?region={fx.region(stack)}&awssdk=v2"
    assert env["secrets_provider"].startswith("awskms://")


def test_preview_role_variable_is_a_literal_or_a_template() -> None:
    literal = f"arn:aws:iam::{fx.FOREIGN_ACCOUNT}:role/shared-preview"
    assert stack_env(fx.STAGING, literal, root=ROOT)["preview_role_arn"] == literal
    templated = stack_env(fx.STAGING, "arn:aws:iam::{account}:role/pv-{env}", root=ROOT)
    assert templated["preview_role_arn"] == f"arn:aws:iam::{fx.account(fx.STAGING)}:role/pv-{fx.STAGING}"


def test_env_prints_key_value_lines_for_github_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["delivery", "env", fx.DEV]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["region"] == fx.region(fx.DEV)
    assert lines["deploy_role_arn"].endswith(f":role/{fx.PROJECT}-deploy-{fx.DEV}")


def test_unknown_stack_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["delivery", "env", fx.unused_stack_name()]) == 1
    assert "no such stack file" in capsys.readouterr().err


@pytest.mark.parametrize("stack", stack_names(ROOT))
def test_runner_label_and_lock_prefix_follow_the_stack(stack: str) -> None:
    env = stack_env(stack, root=ROOT)
    assert env["runner_label"] == f"codebuild-{fx.PROJECT}-deployer-{stack}"
    # pulumi pkg/backend/diy/lock.go: .pulumi/locks/<organization/project/stack>/<id>.json in the state bucket.
    bucket = env["backend_url"].removeprefix("s3://").split("?")[0]
    assert env["lock_prefix"] == f"s3://{bucket}/.pulumi/locks/organization/{fx.PROJECT}/{stack}/"


def _copy_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    return tmp_path


def test_a_stack_is_handed_over_once_its_file_names_the_kms_provider_and_data_key(tmp_path: Path) -> None:
    # The CLI takes the secrets provider from the stack file: `stack init --secrets-provider awskms://...`
    # writes `secretsprovider:` and `encryptedkey:` there (pulumi pkg/cmd/pulumi/stack/secrets.go,
    # pkg/secrets/cloud/manager.go). Without them a DIY backend falls back to the passphrase provider, so
    # the workflows must not run the stack; with them, CI needs no `secrets-provider` input.
    root = _copy_project(tmp_path)
    path = root / "stacks" / f"Pulumi.{fx.STAGING}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.pop("secretsprovider", None)
    doc.pop("encryptedkey", None)
    path.write_text(yaml.safe_dump(doc))
    env = stack_env(fx.STAGING, root=root)
    assert env["handed_over"] == "false"
    assert (
        env["secrets_provider"]
        == f"awskms://{fx.config(fx.STAGING)['delivery']['secretsKmsAlias']}?region={fx.region(fx.STAGING)}"
    )  # derived from config

    doc["secretsprovider"] = f"awskms://alias/pulumi-secrets-2?region={fx.region(fx.STAGING)}"
    doc["encryptedkey"] = "AQICAHh..."  # what `stack init` writes: the data key, encrypted by KMS
    path.write_text(yaml.safe_dump(doc))
    env = stack_env(fx.STAGING, root=root)
    assert env["handed_over"] == "true"
    assert (
        env["secrets_provider"] == f"awskms://alias/pulumi-secrets-2?region={fx.region(fx.STAGING)}"
    )  # what the CLI will use

    doc.pop("encryptedkey")  # a provider without its data key cannot decrypt anything
    path.write_text(yaml.safe_dump(doc))
    assert stack_env(fx.STAGING, root=root)["handed_over"] == "false"
