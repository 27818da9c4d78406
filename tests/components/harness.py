"""Run a component under the offline engine's mocks with stand-in dependencies, and capture a Plan."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import settings as _settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from blueprint.preview.engine import PlatformMocks, RecordingMonitor
from blueprint.preview.plan import Plan
from components._common import Irsa

REGION, ACCOUNT = "us-west-2", "111111111111"


def run_program(program: Callable[[], None], *, stack: str = "unit") -> Plan:
    """Execute ``program`` (which registers resources) under mocks and return what it registered."""
    pulumi.runtime.set_all_config({}, [])
    _settings.ROOT.set(None)
    mocks = PlatformMocks(REGION, ACCOUNT, stack)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="ai-platform", stack=stack, preview=False, monitor=monitor)
    _settings.SETTINGS.rpc_manager.clear()
    _sync_await(run_pulumi_func(program))
    assert isinstance(monitor, _mocks.MockMonitor)
    return Plan(stack=stack, project="ai-platform", resources=monitor.records, outputs={})


class StandIns:
    """What the cluster, registry, artifacts and monitoring components would hand over."""

    def __init__(self, repositories: tuple[str, ...] = ("vllm", "ci-runner", "model-server")):
        self.k8s_provider = k8s.Provider("k8s", kubeconfig="{}")
        self.irsa = Irsa(
            provider_arn=pulumi.Output.from_input(
                f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/ABC"
            ),
            issuer=pulumi.Output.from_input(f"oidc.eks.{REGION}.amazonaws.com/id/ABC"),
        )
        self.repositories = {r: aws.ecr.Repository(f"repo-{r}", name=r) for r in repositories}
        self.bucket = aws.s3.Bucket("artifacts", bucket="ai-platform-artifacts")
        self.key = aws.kms.Key("artifacts-key")
        self.crds = k8s.helm.v3.Release("crds", chart="prometheus-operator-crds", version="31.0.1")
        self.push_role = aws.iam.Role("ci-push", assume_role_policy="{}")
