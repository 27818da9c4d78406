"""Run a component under the offline engine's mocks with stand-in dependencies, and capture a Plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

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
from components.cluster_context import ClusterContext

REGION, ACCOUNT = "us-west-2", "111111111111"
SYSTEM_NODES = {"platform.ai/pool": "system"}


def stand_in_irsa(permissions_boundary: str | None = None) -> Irsa:
    """An OIDC provider of a cluster that does not exist."""
    return Irsa(
        provider_arn=pulumi.Output.from_input(
            f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/ABC"
        ),
        issuer=pulumi.Output.from_input(f"oidc.eks.{REGION}.amazonaws.com/id/ABC"),
        permissions_boundary=permissions_boundary,
    )


def stand_in_context(k8s_provider: pulumi.ProviderResource, **overrides: Any) -> ClusterContext:
    """A :class:`ClusterContext` for a cluster that does not exist; ``overrides`` replace its fields."""
    context = ClusterContext(
        cluster_name="unit-cluster",
        eks_name=pulumi.Output.from_input("unit-cluster"),
        kubernetes_version="1.35",
        k8s_provider=k8s_provider,
        irsa=stand_in_irsa(),
        region=REGION,
        account_id=ACCOUNT,
        vpc_cidr="10.0.0.0/16",
        storage_class_name="gp3-encrypted",
        system_node_selector=SYSTEM_NODES,
        tags={"owner": "unit-team"},
    )
    return dataclasses.replace(context, **overrides)


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
        self.irsa = stand_in_irsa()
        self.repositories = {r: aws.ecr.Repository(f"repo-{r}", name=r) for r in repositories}
        self.bucket = aws.s3.Bucket("artifacts", bucket="ai-platform-artifacts")
        self.key = aws.kms.Key("artifacts-key")
        self.crds = k8s.helm.v3.Release("crds", chart="prometheus-operator-crds", version="31.0.1")
        self.push_role = aws.iam.Role("ci-push", assume_role_policy="{}")

    def context(self, **overrides: Any) -> ClusterContext:
        """The cluster these stand-ins belong to, as an in-cluster component receives it."""
        return stand_in_context(self.k8s_provider, irsa=overrides.pop("irsa", self.irsa), **overrides)
