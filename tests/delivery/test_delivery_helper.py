"""`python -m blueprint.delivery`: stack facts for the workflows, and the PR comment sections."""

from __future__ import annotations

import pytest

from blueprint.delivery import SECTION_LIMIT, main, pr_section, stack_env
from tests.conftest import ROOT


@pytest.mark.parametrize(("stack", "account"), [("dev", "111111111111"), ("prod", "333333333333")])
def test_env_derives_the_roles_the_stack_creates(stack: str, account: str) -> None:
    env = stack_env(stack, root=ROOT)
    assert env["account_id"] == account
    assert env["deploy_role_arn"] == f"arn:aws:iam::{account}:role/ai-platform-deploy-{stack}"
    assert env["preview_role_arn"] == f"arn:aws:iam::{account}:role/ai-platform-preview-{stack}"
    assert env["backend_url"] == f"s3://example-org-pulumi-state-{stack}?region=us-west-2&awssdk=v2"
    assert env["secrets_provider"] == "awskms://alias/pulumi-secrets?region=us-west-2"


def test_preview_role_variable_is_a_literal_or_a_template() -> None:
    literal = "arn:aws:iam::999999999999:role/shared-preview"
    assert stack_env("staging", literal, root=ROOT)["preview_role_arn"] == literal
    templated = stack_env("staging", "arn:aws:iam::{account}:role/pv-{env}", root=ROOT)
    assert templated["preview_role_arn"] == "arn:aws:iam::222222222222:role/pv-staging"


def test_env_prints_key_value_lines_for_github_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "dev"]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["region"] == "us-west-2"
    assert lines["deploy_role_arn"].endswith(":role/ai-platform-deploy-dev")


def test_unknown_stack_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "qa"]) == 1
    assert "no such stack file" in capsys.readouterr().err


def test_pr_section_keeps_report_text_inside_its_fence() -> None:
    section = pr_section("dev", "ok\n```\n@everyone <b>x</b>\n", 0)
    body = section.split("```text\n", 1)[1].rsplit("\n```", 1)[0]
    assert "```" not in body, "the report must not be able to close the code fence"
    assert section.startswith("<details><summary>✅ <b>dev</b>: passed")


def test_pr_section_marks_failures_open_and_truncates() -> None:
    section = pr_section("prod", "x" * (SECTION_LIMIT * 2), 1)
    assert section.startswith("<details open><summary>❌ <b>prod</b>: failed")
    assert len(section) < SECTION_LIMIT + 500
    assert "truncated" in section
