"""Every policy, three ways, from the fixture table in cases.py: compliant passes, violating fails
with a message that says what to set, and a missing property is handled (no crash; reported or not
as the row says)."""

from __future__ import annotations

import pytest

from ai_platform_policies import TypedResourcePolicy
from tests.fixtures import PROJECT
from tests.policy.cases import CASES, Case
from tests.policy.cases_common import REPO, REPO_OK, SCANNING
from tests.policy.harness import POLICIES, R, messages, violations

BY_NAME = {c.policy: c for c in CASES}


def test_every_policy_has_a_fixture_row() -> None:
    assert sorted(BY_NAME) == sorted(POLICIES)
    assert len(CASES) == len(BY_NAME)


# Policies that forbid a resource type outright: their compliant row is a stack without it.
FORBIDDING = {"iam-no-users-or-access-keys", "k8s-no-bare-pods"}


def _exercises(c: Case) -> None:
    """The rows really reach the policy: a resource of a type it checks is present."""
    policy = POLICIES[c.policy]
    if isinstance(policy, TypedResourcePolicy):
        rows = (c.bad, c.missing) if c.policy in FORBIDDING else (c.good, c.bad, c.missing)
        for rs in rows:
            assert any(policy.applies_to(r.type) for r in rs), f"{c.policy}: no resource of a checked type"


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.policy)
def test_compliant_passes(c: Case) -> None:
    _exercises(c)
    assert messages(c.policy, c.good, c.settings) == []


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.policy)
def test_violation_is_reported_with_what_to_set(c: Case) -> None:
    found = violations(c.policy, c.bad, c.settings)
    assert found, f"{c.policy} did not fire"
    assert any(c.message in v["message"] for v in found), [v["message"] for v in found]
    assert all(v["enforcement"] == "mandatory" and v["policy"] == c.policy for v in found)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.policy)
def test_missing_property_is_handled(c: Case) -> None:
    found = violations(c.policy, c.missing, c.settings)
    assert not any(v["message"].startswith("can't run policy") for v in found)
    assert bool(found) is c.missing_violates, [v["message"] for v in found]


def test_enhanced_registry_scanning_covers_repositories_without_scan_on_push() -> None:
    repo = R(REPO, {**REPO_OK, "imageScanningConfiguration": {"scanOnPush": False}}, "repo")
    enhanced = R(
        SCANNING,
        {
            "scanType": "ENHANCED",
            "rules": [
                {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}
            ],
        },
        "scan",
    )
    assert messages("ecr-repository-scan-on-push", [repo, enhanced]) == []
    basic = R(SCANNING, {"scanType": "BASIC", "rules": []}, "scan")
    assert messages("ecr-repository-scan-on-push", [repo, basic])


def test_github_trust_accepts_one_repository_contexts_and_refuses_wildcards() -> None:
    from tests.policy.cases_common import ROLE
    from tests.policy.cases_iam import gh_trust

    for sub in ("repo:o/r:pull_request", "repo:o/r:ref:refs/heads/main", "repo:o/r:environment:prod"):
        assert messages("iam-role-github-oidc-trust-pinned", R(ROLE, {"assumeRolePolicy": gh_trust(sub)})) == [], sub
    for sub in ("repo:o/*", "repo:o/r:*", "repo:o/r:ref:refs/heads/*", "repo:*"):
        assert messages("iam-role-github-oidc-trust-pinned", R(ROLE, {"assumeRolePolicy": gh_trust(sub)})), sub


def test_namespace_rules_skip_only_listed_system_namespaces_with_a_reason() -> None:
    from tests.policy.cases_common import ns

    gpu_ns = ns("gpu-system")
    assert messages("k8s-namespace-quota-and-limits", gpu_ns)
    listed = {"systemNamespaces": [{"namespace": "gpu-system", "reason": "node DaemonSets only"}]}
    assert messages("k8s-namespace-quota-and-limits", gpu_ns, listed) == []
    unexplained = {"systemNamespaces": [{"namespace": "gpu-system"}]}
    assert messages("k8s-namespace-quota-and-limits", gpu_ns, unexplained)


def test_min_replicas_skips_only_labelled_exclusions_with_a_reason() -> None:
    from tests.policy.cases_common import dep, gpu_deployment

    props = gpu_deployment(name="llama-canary", replicas=1.0)
    props["metadata"]["labels"]["platform.ai/track"] = "canary"
    canary = dep(props)
    assert messages("k8s-deployment-min-replicas", canary, {"minGpuReplicas": 2})
    why = {"matchLabels": {"platform.ai/track": "canary"}, "reason": "canaries run one replica by design"}
    assert messages("k8s-deployment-min-replicas", canary, {"minGpuReplicas": 2, "exclude": [why]}) == []


def test_unknown_values_become_an_advisory_note_like_the_real_analyzer() -> None:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    from tests.policy.cases_common import REPO

    repo = R(REPO, {**REPO_OK, "imageTagMutability": UNKNOWN_STRING_VALUE})
    found = violations("ecr-repository-immutable-tags", repo)
    assert [(v["enforcement"], v["message"]) for v in found] == [
        (
            "advisory",
            f"can't run policy 'ecr-repository-immutable-tags' from policy pack '{PROJECT}-guardrails' during "
            "preview: string value at .imageTagMutability can't be known during preview",
        )
    ]
