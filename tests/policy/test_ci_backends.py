"""The CI-backend policies beyond their fixture rows: each backend's credential, exposure and token checks."""

from __future__ import annotations

from tests.policy.cases_ci_backends import (
    CIRCLECI_VALUES,
    JENKINS_VALUES,
    agent,
    jenkins,
    job_spec,
    job_template,
)
from tests.policy.cases_common import deep, without
from tests.policy.harness import messages


def test_jenkins_password_in_values_or_generated_is_refused() -> None:
    pw = messages("ci-backend-secrets-by-reference", jenkins(deep(JENKINS_VALUES, "controller.admin.password", "p")))
    assert any("controller.admin.existingSecret" in m for m in pw)
    generated = jenkins(without(JENKINS_VALUES, "controller.admin.existingSecret"))
    assert any("would generate a password" in m for m in messages("ci-backend-secrets-by-reference", generated))


def test_circleci_tokens_in_values_are_refused() -> None:
    inline = agent(deep(CIRCLECI_VALUES, "agent.resourceClasses", {"org/cpu": {"token": "t"}}))
    assert any("agent.customSecret" in m for m in messages("ci-backend-secrets-by-reference", inline))
    assert messages("ci-backend-secrets-by-reference", agent(without(CIRCLECI_VALUES, "agent.customSecret")))


def test_jenkins_ingress_is_refused() -> None:
    found = messages("ci-jenkins-not-exposed", jenkins(deep(JENKINS_VALUES, "controller.ingress.enabled", True)))
    assert any("Ingress/Route" in m for m in found)


def test_job_templates_mount_no_api_token_and_unlabelled_templates_are_not_ours() -> None:
    tokened = without(job_spec(), "automountServiceAccountToken")
    assert any("API token" in m for m in messages("ci-job-template-bounded", job_template(tokened)))
    assert messages("ci-job-template-bounded", job_template(tokened, labelled=False)) == []
    no_disk = without(job_spec(), "containers.0.resources.limits.ephemeral-storage")
    assert any("limits.ephemeral-storage" in m for m in messages("ci-job-template-bounded", job_template(no_disk)))
