"""iam-role-permissions-boundary beyond its fixture row: one ceiling, and silence without a CI identity."""

from __future__ import annotations

from tests.policy.cases_common import ROLE
from tests.policy.cases_iam import BOUNDARY, CI_ROLE, NODE_TRUST
from tests.policy.harness import R, messages

POLICY = "iam-role-permissions-boundary"


def test_a_role_under_another_boundary_is_reported() -> None:
    other = R(ROLE, {"assumeRolePolicy": NODE_TRUST, "permissionsBoundary": BOUNDARY + "-old"}, "node")
    (msg,) = messages(POLICY, [CI_ROLE, other])
    assert "not the deploy identity's" in msg
    assert BOUNDARY in msg


def test_without_a_ci_identity_roles_need_no_boundary() -> None:
    assert messages(POLICY, [R(ROLE, {"assumeRolePolicy": NODE_TRUST}, "node")]) == []


def test_the_ci_role_itself_needs_the_boundary() -> None:
    bare = R(ROLE, {"assumeRolePolicy": CI_ROLE.props["assumeRolePolicy"]}, "deploy")
    assert any("'deploy' has no permissions boundary" in m for m in messages(POLICY, [bare]))


def test_pull_request_role_with_a_decrypting_attachment_is_reported() -> None:
    from tests.policy.cases_common import ATTACH, IAM_POLICY
    from tests.policy.cases_iam import DECRYPT, gh_trust

    pr = R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:pull_request")}, "preview")
    managed = R(ATTACH, {"policyArn": "arn:aws:iam::aws:policy/PowerUserAccess"}, "att", deps={"role": ["preview"]})
    custom = [
        R(IAM_POLICY, {"policy": DECRYPT}, "keys"),
        R(
            ATTACH,
            {"policyArn": "arn:aws:iam::1:policy/keys"},
            "att2",
            deps={"role": ["preview"], "policyArn": ["keys"]},
        ),
    ]
    readonly = R(ATTACH, {"policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, "att", deps={"role": ["preview"]})
    assert messages("iam-pull-request-role-no-decrypt", [pr, managed])
    assert messages("iam-pull-request-role-no-decrypt", [pr, *custom])
    assert messages("iam-pull-request-role-no-decrypt", [pr, readonly]) == []
