"""Fixture rows of the policies in policy/ai_platform_policies/secrets.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    case,
    container,
    dep,
    deployment,
    pod,
)

case(
    "k8s-container-no-secret-literals",
    dep(
        deployment(
            pod(
                container(
                    args=["--model", "/models/llama", "--max-num-batched-tokens", "8192", "--api-key-file", "/run/k"],
                    env=[{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}],
                )
            )
        )
    ),
    dep(deployment(pod(container(args=["--api-key", "sk-" + "a1" * 16])))),
    "args[1] is the value of --api-key, a credential; take it from a Kubernetes Secret",
    dep(deployment(pod(container(args=None, env=None)))),
    False,
)
