"""Fixture rows of the CI-backend policies (policy/ai_platform_policies/ci.py), registered into CASES."""

from __future__ import annotations

from typing import Any

from tests.policy.cases_common import case, deep, release, without
from tests.policy.harness import R

POD_TEMPLATE = "kubernetes:core/v1:PodTemplate"
GITLAB_VALUES = {"gitlabUrl": "https://gitlab.com/", "runners": {"secret": "gitlab-runner-cpu", "config": "x"}}
JENKINS_VALUES = {
    "controller": {
        "admin": {"createSecret": False, "existingSecret": "jenkins-admin"},
        "serviceType": "ClusterIP",
        "ingress": {"enabled": False},
    }
}
CIRCLECI_VALUES = {"agent": {"customSecret": "tokens", "resourceClasses": {"org/cpu": {"spec": {}}}}}


def gitlab(values: dict[str, Any]) -> R:
    return release(
        "gitlab-runner", values, name="gitlab-runner-cpu", ns="gitlab-runner", repo="https://charts.gitlab.io"
    )


def jenkins(values: dict[str, Any]) -> R:
    return release("jenkins", values, name="jenkins", ns="jenkins", repo="https://charts.jenkins.io")


def agent(values: dict[str, Any]) -> R:
    return release("container-agent", values, name="container-agent", ns="circleci")


case(
    "ci-backend-secrets-by-reference",
    [gitlab(GITLAB_VALUES), jenkins(JENKINS_VALUES), agent(CIRCLECI_VALUES)],
    gitlab({**GITLAB_VALUES, "runnerToken": "glrt-abc"}),
    "has its token in the Helm values: reference runners.secret",
    gitlab(without(GITLAB_VALUES, "runners.secret")),
    True,
)
case(
    "ci-jenkins-not-exposed",
    jenkins(JENKINS_VALUES),
    jenkins(deep(JENKINS_VALUES, "controller.serviceType", "LoadBalancer")),
    "sets controller.serviceType: LoadBalancer: keep ClusterIP",
    jenkins(without(JENKINS_VALUES, "controller.serviceType", "controller.ingress")),
    False,
)
AMOUNTS = {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "50Gi"}
GPU_AMOUNTS = {**AMOUNTS, "nvidia.com/gpu": "1"}
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def job_template(spec: dict[str, Any], labelled: bool = True) -> R:
    labels = {"platform.ai/ci-job-profile": "gitlab.cpu"} if labelled else {}
    props = {
        "metadata": {"name": "gitlab-cpu", "namespace": "gitlab-jobs", "labels": labels},
        "template": {"spec": spec},
    }
    return R(POD_TEMPLATE, props, "gitlab-cpu")


def job_spec(amounts: dict[str, str] = AMOUNTS, **over: Any) -> dict[str, Any]:
    c = {"name": "build", "image": "ubuntu:24.04", "resources": {"requests": dict(amounts), "limits": dict(amounts)}}
    return {"automountServiceAccountToken": False, "containers": [c], **over}


case(
    "ci-job-template-bounded",
    [job_template(job_spec()), job_template(job_spec(GPU_AMOUNTS, tolerations=[TOLERATION]))],
    job_template(job_spec(tolerations=[TOLERATION])),
    "tolerates the GPU taint without requesting nvidia.com/gpu",
    job_template(without(job_spec(), "containers.0.resources")),
    True,
)
