"""The DvcRemote component: the remote URL and a role scoped to dvc/, trusted by exact GitHub subjects."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from blueprint.preview.plan import Plan
from components.dvc_remote import DvcRemote, DvcRemoteArgs, dvc_trust_policy
from tests.components.harness import ACCOUNT, REGION, StandIns, run_program

PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
SUBJECTS = ["repo:example-org/ml-data:ref:refs/heads/main"]


def dvc_plan(**over: Any) -> tuple[Plan, dict[str, Any]]:
    out: dict[str, Any] = {}

    def program() -> None:
        s = StandIns()
        args = DvcRemoteArgs(
            artifacts_bucket=s.bucket,
            artifacts_key=s.key,
            region=REGION,
            role_name="ai-platform-dvc-unit",
            github_provider_arn=PROVIDER,
            github_subjects=SUBJECTS,
        )
        dvc = DvcRemote("dvc", replace(args, **over))
        dvc.remote_url.apply(lambda u: out.setdefault("url", u))

    return run_program(program), out


def _inputs(plan: Plan, type_: str) -> dict[str, Any]:
    (r,) = [r for r in plan.resources if r.type == type_ and r.name.startswith("dvc")]
    return r.inputs


def test_remote_url_and_prefix_scoped_policy() -> None:
    plan, out = dvc_plan()
    assert out["url"] == "s3://ai-platform-artifacts/dvc"
    stmts = {s["Sid"]: s for s in json.loads(_inputs(plan, "aws:iam/rolePolicy:RolePolicy")["policy"])["Statement"]}
    assert stmts["DvcObjects"]["Resource"] == ["arn:aws:s3:::ai-platform-artifacts/dvc/*"]
    assert stmts["ListDvc"]["Condition"]["StringLike"]["s3:prefix"] == ["dvc/", "dvc/*"]
    assert stmts["BucketKeyViaS3"]["Condition"]["StringEquals"]["kms:ViaService"] == f"s3.{REGION}.amazonaws.com"


def test_trusts_github_oidc_with_exact_subjects_and_named_roles() -> None:
    sso = f"arn:aws:iam::{ACCOUNT}:role/data-scientists"
    plan, _ = dvc_plan(principal_arns=[sso])
    trust = json.loads(_inputs(plan, "aws:iam/role:Role")["assumeRolePolicy"])
    oidc, roles = trust["Statement"]
    assert oidc["Principal"] == {"Federated": PROVIDER}
    assert oidc["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == SUBJECTS[0]
    assert oidc["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert roles == {"Effect": "Allow", "Principal": {"AWS": [sso]}, "Action": "sts:AssumeRole"}


def test_a_trust_that_admits_nobody_or_wildcards_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a GitHub OIDC provider or principal ARNs"):
        dvc_trust_policy(None, [], [])
    with pytest.raises(Exception, match="exact"):
        dvc_trust_policy(PROVIDER, ["repo:example-org/*"], [])
