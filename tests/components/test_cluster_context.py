"""The ClusterContext contract: every in-cluster component takes the cluster the same way and honours it."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

from blueprint.preview.plan import Plan, Resource
from components.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.cluster_context import ClusterContext
from components.drift import DriftMonitoring, DriftMonitoringArgs
from components.ingress_controller import IngressController, IngressControllerArgs
from components.mlflow import Mlflow, MlflowArgs
from tests.components.harness import StandIns, run_program

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
HELM = "kubernetes:helm.sh/v3:Release"

# Every in-cluster component: its module and class (the AWS-side ones take their own Args only).
IN_CLUSTER = {
    "ci_runners": "CiRunners",
    "circleci_agent": "CircleciAgent",
    "cluster_autoscaler": "ClusterAutoscaler",
    "drift": "DriftMonitoring",
    "gitlab_runner": "GitlabRunner",
    "gpu_stack": "GpuStack",
    "ingress_controller": "IngressController",
    "jenkins": "Jenkins",
    "karpenter": "Karpenter",
    "mlflow": "Mlflow",
    "monitoring": "Monitoring",
    "serving": "Serving",
}
# Names the context owns: an Args field with one of these (or an old alias) would be a second name for it.
CONTEXT_FIELDS = {f.name for f in dataclasses.fields(ClusterContext)}
OLD_ALIASES = {"provider", "node_selector", "cluster", "depends_on", "cluster_cidr", "vpc_cidr"}


def _component(module: str) -> type:
    return getattr(importlib.import_module(f"components.{module}"), IN_CLUSTER[module])


def test_every_component_that_talks_to_the_api_server_is_listed() -> None:
    """A module using a Kubernetes provider or Helm is in-cluster, so it must take the context."""
    uses_cluster = {
        p.stem
        for p in COMPONENTS.glob("*.py")
        if not p.name.startswith("_") and ("helm_release" in p.read_text() or "pulumi_kubernetes" in p.read_text())
    }
    assert uses_cluster - {"cluster", "cluster_context"} == set(IN_CLUSTER)


@pytest.mark.parametrize("module", sorted(IN_CLUSTER))
def test_the_context_is_the_constructor_parameter_after_the_args(module: str) -> None:
    params = list(inspect.signature(_component(module).__init__).parameters.values())
    assert [p.name for p in params[:5]] == ["self", "name", "args", "context", "opts"]
    assert params[3].annotation in ("ClusterContext", ClusterContext)


@pytest.mark.parametrize("module", sorted(IN_CLUSTER))
def test_args_carry_no_second_name_for_what_the_context_holds(module: str) -> None:
    args_type = inspect.signature(_component(module).__init__).parameters["args"].annotation
    args_cls = getattr(importlib.import_module(f"components.{module}"), args_type)
    doubled = {f.name for f in dataclasses.fields(args_cls)} & (CONTEXT_FIELDS | OLD_ALIASES)
    assert doubled == set(), f"{args_type} repeats the cluster context: {sorted(doubled)}"


def test_after_appends_what_releases_must_also_wait_for_and_leaves_the_original_alone() -> None:
    def program() -> None:
        s = StandIns()
        first = aws.sqs.Queue("first")
        later = aws.sqs.Queue("later")
        base = s.context(needs_nodes=[first])
        derived = base.after(later, None)
        assert list(base.needs_nodes) == [first]
        assert list(derived.needs_nodes) == [first, later]
        assert dataclasses.replace(derived, needs_nodes=base.needs_nodes) == base
        with pytest.raises(dataclasses.FrozenInstanceError):
            base.region = "eu-west-1"  # type: ignore[misc]

    run_program(program)


@pytest.fixture(scope="module")
def placed() -> Plan:
    """Four in-cluster components sharing one context with a marker pool selector, tags and a node gate."""

    def program() -> None:
        s = StandIns()
        gate = aws.sqs.Queue("node-gate")
        context = s.context(
            system_node_selector={"platform.ai/pool": "ctx-system"},
            tags={"owner": "ctx-team"},
            needs_nodes=[gate],
            vpc_cidr="10.42.0.0/16",
        )
        IngressController("ingress", IngressControllerArgs(vpc_id="vpc-1"), context)
        ClusterAutoscaler("autoscaler", ClusterAutoscalerArgs(), context)
        DriftMonitoring(
            "drift", DriftMonitoringArgs(artifacts_bucket=s.bucket, artifacts_key=s.key, image="i"), context
        )
        Mlflow(
            "mlflow",
            MlflowArgs(
                identifier="unit-mlflow",
                vpc_id="vpc-1",
                private_subnet_ids=["subnet-a"],
                cluster_security_group_id="sg-1",
                artifacts_bucket=s.bucket,
                artifacts_key=s.key,
                admin_password=pulumi.Output.secret("pw"),
            ),
            context,
        )

    return run_program(program)


def test_every_release_waits_for_the_contexts_nodes_and_runs_on_its_system_pool(placed: Plan) -> None:
    (gate,) = [r.urn for r in placed.resources if r.name == "node-gate"]
    releases = _children(placed, HELM)
    assert len(releases) == 4
    for release in releases:
        assert gate in release.dependencies, release.name
        selectors = [v for k, v in _walk(release.inputs["values"]) if k == "nodeSelector"]
        assert selectors, release.name
        assert all(sel.get("platform.ai/pool") == "ctx-system" for sel in selectors), release.name


def test_irsa_roles_come_from_the_contexts_provider_and_carry_its_tags(placed: Plan) -> None:
    roles = _children(placed, "aws:iam/role:Role")
    assert roles
    for role in roles:
        assert "oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC" in role.inputs["assumeRolePolicy"], role.name
        assert role.inputs["tags"].get("owner") == "ctx-team", role.name


def test_network_policies_admit_the_contexts_vpc_cidr(placed: Plan) -> None:
    policies = _children(placed, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    cidrs = {v for r in policies for k, v in _walk(r.inputs) if k == "cidr"}
    assert "10.42.0.0/16" in cidrs


def _children(plan: Plan, type_: str) -> list[Resource]:
    """Resources of ``type_`` the components made (not the harness's stand-ins)."""
    return [r for r in plan.by_type(type_) if "platform:index:" in (r.parent or "")]


def _walk(value: object) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((k, v))
            out += _walk(v)
    elif isinstance(value, list):
        for v in value:
            out += _walk(v)
    return out
