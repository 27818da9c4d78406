"""Fixture rows of the policies in policy/ai_platform_policies/ci.py, registered into CASES."""

from __future__ import annotations

from typing import Any

from tests.policy.cases_common import (
    RELEASE,
    case,
    deep,
    merged,
    release,
    without,
)
from tests.policy.harness import R

RUNNER_SPEC = {
    "containers": [
        {
            "name": "runner",
            "image": "111111111111.dkr.ecr.us-west-2.amazonaws.com/ci-runner@sha256:" + "b" * 64,
            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
        }
    ]
}
RUNNER_VALUES = {
    "githubConfigUrl": "https://github.com/example-org",
    "githubConfigSecret": "arc-github-app",
    "minRunners": 0.0,
    "maxRunners": 5.0,
    "containerMode": {"type": "kubernetes"},
    "template": {"spec": RUNNER_SPEC},
}


def scale_set(values: dict[str, Any], ns_: str = "arc-runners") -> R:
    r = release(
        "oci://ghcr.io/actions/actions-runner-controller-charts/gha-runner-scale-set",
        values,
        name="cpu-runners",
        ns=ns_,
    )
    return R(RELEASE, without(r.props, "repositoryOpts"), "cpu-runners")


case(
    "ci-runner-github-app-auth",
    scale_set(RUNNER_VALUES),
    scale_set(merged(RUNNER_VALUES, githubConfigSecret={"github_token": "ghp_x"})),
    "use the GitHub App",
    scale_set(without(RUNNER_VALUES, "githubConfigSecret")),
    True,
    requireScaleToZero=True,
)
case(
    "ci-runner-no-dind",
    scale_set(RUNNER_VALUES),
    scale_set(deep(RUNNER_VALUES, "containerMode.type", "dind")),
    "set ciRunners.scaleSets.<name>.containerMode: kubernetes",
    scale_set(without(RUNNER_VALUES, "containerMode")),
    False,
)
case(
    "ci-runner-isolated",
    scale_set(RUNNER_VALUES),
    scale_set(RUNNER_VALUES, "serving"),
    "set ciRunners.namespace to a dedicated namespace",
    scale_set(without(RUNNER_VALUES, "template")),
    True,
)
