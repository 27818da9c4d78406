"""GPU cold start and cold-deploy critical path: hand-computed examples and invariants over the stacks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from ai_platform_policies import estimate as est
from blueprint.preview.analyses import cold_start, deploy_time
from blueprint.preview.analyses import durations as dur
from blueprint.preview.analyses.cost import resources
from blueprint.preview.plan import Plan
from tests.estimates.test_cost import TABLE, synthetic
from tests.policy.harness import R, plan_of

ROOT = Path(__file__).resolve().parents[2]


def _gpu_model(plan: Plan) -> tuple[Any, Any, list[Any]]:
    res = resources(plan)
    (w,) = est.gpu_workloads(res)
    dep = next(r for r in res if r.urn == w.urn)
    return w, dep, res


def _with(plan: Plan, name: str, **inputs: Any) -> Plan:
    for r in plan.resources:
        if r.name == name:
            r.inputs = {**r.inputs, **inputs}
    return plan


def test_cold_start_from_zero_nodes_hand_computed() -> None:
    plan = synthetic()
    _with(plan, "gpu-lt", blockDeviceMappings=[{"ebs": {"volumeSize": 100.0, "throughput": 250.0}}])
    plan.resources.append(
        plan_of([R("kubernetes:helm.sh/v3:Release", {"chart": "cluster-autoscaler"}, "ca")]).resources[0]
    )
    dep = next(r for r in plan.resources if r.name == "m")
    spec = dep.inputs["spec"]["template"]["spec"]
    spec["initContainers"] = [{"name": "fetch-model", "args": ["s3", "sync", "s3://b/m/", "/models/m"]}]
    spec["containers"][0]["startupProbe"] = {"periodSeconds": 10.0, "failureThreshold": 30.0}
    w, d, res = _gpu_model(plan)
    cs = cold_start.cold_start(w, d, res, TABLE, (10.0, 20.0))
    assert cs["parts"] == {
        "activation": 30,  # KEDA's default pollingInterval (the synthetic ScaledObject sets none)
        "nodeProvisioning": 40 + 150,  # cluster-autoscaler reaction + g-family boot
        "devicePlugin": 90,
        "imagePull": 5 + 10 * 38,  # floor + 10 GiB plain
        "weightsCopy": round(20 * 1024 / 250),  # 20 GiB at the launch template's 250 MiB/s
        "weightsLoad": 20,  # 20 GiB at 1 GiB/s
        "serverInit": 60,
    }
    assert cs["seconds"] == 30 + 190 + 90 + 385 + 82 + 20 + 60
    assert cs["budgetSeconds"] == 300  # 30 x 10 s
    assert cs["probeCoveredSeconds"] == 80  # only load and init run after the server starts
    assert cs["deployTimeoutSeconds"] == dur.DEPLOYMENT_AWAIT_SECONDS
    assert cs["paths"]["pull"] == "plain"
    assert cs["paths"]["load"] == "copy-then-start"


def test_warm_pool_skips_provisioning_and_snapshot_means_cached_pull() -> None:
    plan = synthetic()
    _with(plan, "gpu", scalingConfig={"minSize": 1.0, "maxSize": 2.0})
    _with(plan, "gpu-lt", blockDeviceMappings=[{"ebs": {"volumeSize": 100.0, "snapshotId": "snap-1"}}])
    w, d, res = _gpu_model(plan)
    cs = cold_start.cold_start(w, d, res, TABLE, (10.0, None))
    assert "nodeProvisioning" not in cs["parts"]
    assert "devicePlugin" not in cs["parts"]
    assert cs["parts"]["imagePull"] == dur.IMAGE_PULL_FLOOR.seconds
    # Weights baked into the image need no declared size; a missing image size is reported.
    assert cs["paths"]["load"] == "in-image"
    assert cs["undeclared"] == []
    assert cold_start.cold_start(w, d, res, TABLE, (None, None))["undeclared"] == ["imageSizeGiB"]


def test_findings_when_probe_budget_and_deploy_await_are_exceeded() -> None:
    w, _, _ = _gpu_model(synthetic())
    cs = {
        "seconds": 900, "probeCoveredSeconds": 400, "budgetSeconds": 300.0, "deployTimeoutSeconds": 600.0,
        "parts": {"imagePull": 500}, "paths": {"provisioner": "cluster-autoscaler"}, "undeclared": [],
    }  # fmt: skip
    rules = [f.rule for f in cold_start._findings(cs, w)]
    assert any("startup probe allows 300 s" in r for r in rules)
    assert any("waits 600 s" in r and "first `pulumi up`" in r for r in rules)


def test_every_gpu_model_has_a_cold_start_within_its_parts(stack_plan: Plan) -> None:
    models = cold_start.analyse(stack_plan, ROOT).data["models"]
    gpu_deployments = [
        r
        for r in stack_plan.by_type("kubernetes:apps/v1:Deployment")
        # Warm-spare placeholders (components/serving.py) hold GPUs but are no model.
        if "nvidia.com/gpu" in str(r.inputs) and cold_start.SPARE_LABEL not in r.inputs["metadata"]["labels"]
    ]
    assert len(models) == len(gpu_deployments) > 0
    for m in models:
        assert abs(m["seconds"] - sum(m["parts"].values())) <= len(m["parts"])  # rounding only
        dep = next(r for r in gpu_deployments if r.inputs["metadata"]["name"] == m["model"])
        probe = dep.inputs["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        assert m["budgetSeconds"] == probe["failureThreshold"] * probe["periodSeconds"]
        assert m["undeclared"] == [], "the stacks declare imageSizeGiB and weightsSizeGiB"


# --------------------------------------------------------------------------- deploy time
def _chain_plan(extra_dep: bool) -> Plan:
    """cluster (600 s) <- nodes (240 s) <- addon (60 s); kps (420 s) needs only the cluster's data."""
    return plan_of(
        [
            R("aws:eks/cluster:Cluster", {}, "eks"),
            R("aws:eks/nodeGroup:NodeGroup", {"clusterName": "x"}, "nodes", deps={"clusterName": ["eks"]}),
            R("aws:eks/addon:Addon", {}, "coredns", depends_on=["nodes"]),
            R(
                "kubernetes:helm.sh/v3:Release",
                {"chart": "kube-prometheus-stack"},
                "kps",
                deps={"namespace": ["eks"]},
                depends_on=["nodes"] if extra_dep else [],
            ),
        ]
    )


def _names(urns: list[str]) -> list[str]:
    return [u.rsplit("::", 1)[-1] for u in urns]


def test_critical_path_hand_computed() -> None:
    g = deploy_time.build(_chain_plan(False), {}, {})
    total, chain = deploy_time.critical_path(g)
    assert total == 600 + 420  # cluster then the chart, in parallel with nodes + coredns (900 s)
    assert _names(chain) == ["eks", "kps"]


def test_a_data_free_depends_on_that_lengthens_the_path_is_flagged() -> None:
    plan = _chain_plan(True)
    g = deploy_time.build(plan, {}, {})
    total, chain = deploy_time.critical_path(g)
    assert (total, _names(chain)) == (600 + 240 + 420, ["eks", "nodes", "kps"])
    ((u, v, gain),) = deploy_time.needless_edges(plan, g, total)
    assert _names([u, v]) == ["kps", "nodes"]
    assert gain == 240


def test_gpu_deployment_waits_for_its_cold_start_and_the_provisioner() -> None:
    plan = synthetic()
    res = resources(plan)
    dep = next(r for r in plan.resources if r.name == "m")
    waits = deploy_time.implicit_waits(plan, res)
    assert [u.rsplit("::", 1)[-1] for u in waits[dep.urn]] == ["gpu"]
    g = deploy_time.build(plan, {dep.urn: 700.0}, waits)
    total, chain = deploy_time.critical_path(g)
    assert _names(chain)[-1] == "m"
    assert total == 2 + 240 + 700


def test_every_stack_has_a_critical_path(stack_plan: Plan) -> None:
    data = deploy_time.analyse(stack_plan, ROOT).data
    chain = data["criticalPath"]
    assert chain
    assert data["coldMinutes"] * 60 >= dur.BY_TYPE["aws:eks/cluster:Cluster"].seconds
    assert any(u.endswith("::cluster-eks") for u in chain), "every cold deploy waits for the control plane"
    assert math.isclose(sum(s["minutes"] for s in data["steps"]), data["coldMinutes"], abs_tol=0.1 * len(chain))


@pytest.mark.parametrize("table", [dur.BY_TYPE, dur.BY_CHART, dur.NODE_READY, dur.PROVISIONER_REACTION])
def test_every_duration_has_a_source(table: dict[str, dur.Duration]) -> None:
    for key, d in table.items():
        assert d.seconds >= 0, key
        assert len(d.source) > 10, key
