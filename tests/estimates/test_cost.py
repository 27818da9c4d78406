"""The cost estimate: hand-computed figures on a small synthetic plan, and invariants over the stacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ai_platform_policies import estimate as est
from blueprint.preview.analyses import cost
from blueprint.preview.plan import Plan
from tests.policy.harness import R, plan_of

ROOT = Path(__file__).resolve().parents[2]

# A made-up region with round prices, so every figure below can be checked by hand.
TABLE: dict[str, Any] = {
    "region": "test-1",
    "date": "2026-01-01",
    "hoursPerMonth": 730,
    "instances": {"m.large": {"usdPerHour": 0.10, "gpus": 0}, "g.xlarge": {"usdPerHour": 1.00, "gpus": 1}},
    "prices": {
        "eks.cluster.standard.hour": 0.10,
        "eks.cluster.extended.hour": 0.60,
        "ec2.natGateway.hour": 0.05,
        "ec2.natGateway.gb": 0.05,
        "ec2.publicIpv4.hour": 0.005,
        "vpc.interfaceEndpoint.hour": 0.01,
        "vpc.interfaceEndpoint.gb": 0.01,
        "ebs.gp3.gbMonth": 0.08,
        "ebs.gp3.iopsMonth": 0.005,
        "ebs.gp3.mibpsMonth": 0.04,
        "elb.application.hour": 0.0225,
        "elb.application.lcuHour": 0.008,
        "elb.network.hour": 0.0225,
        "elb.network.lcuHour": 0.006,
        "kms.key.month": 1.0,
        "logs.ingest.gb": 0.50,
        "logs.storage.gbMonth": 0.03,
        "s3.standard.gbMonth": 0.023,
    },
    "spot": {"discountByFamily": {"g": 0.6}, "defaultDiscount": 0.0},
}
GPU_LABELS = {"platform.ai/pool": "gpu", "platform.ai/accelerator": "nvidia"}


def _lt(size: float) -> dict[str, Any]:
    return {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": size, "volumeType": "gp3"}}]}


def _ng(types: list[str], capacity: str, lo: float, hi: float, labels: dict[str, str]) -> dict[str, Any]:
    scaling = {"minSize": lo, "maxSize": hi, "desiredSize": lo}
    return {"instanceTypes": types, "capacityType": capacity, "scalingConfig": scaling, "labels": labels}


def _model(lo: float, hi: float) -> list[R]:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "platform.ai/accelerator", "operator": "In", "values": ["nvidia"]}]}
                ]
            }
        }
    }
    container = {"name": "server", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    dep = {
        "metadata": {"name": "m", "namespace": "serving"},
        "spec": {"template": {"spec": {"containers": [container], "affinity": affinity}}},
    }
    scaled = {
        "metadata": {"name": "m", "namespace": "serving"},
        "spec": {"scaleTargetRef": {"name": "m"}, "minReplicaCount": lo, "maxReplicaCount": hi},
    }
    return [
        R("kubernetes:apps/v1:Deployment", dep, "m"),
        R("kubernetes:keda.sh/v1alpha1:ScaledObject", scaled, "m-scaledobject"),
    ]


def synthetic(gpu_max: float = 2.0, model_max: float = 2.0) -> Plan:
    """2 system nodes (2-4), a Spot GPU pool (0-gpu_max) one model replica needs at idle, NAT, EIP, KMS, ECR."""
    return plan_of(
        [
            R("pulumi:providers:aws", {"region": "test-1"}, "aws"),
            R("aws:eks/cluster:Cluster", {"version": "1.35", "upgradePolicy": {"supportType": "STANDARD"}}, "eks"),
            R("aws:ec2/launchTemplate:LaunchTemplate", _lt(50.0), "system-lt"),
            R(
                "aws:eks/nodeGroup:NodeGroup",
                _ng(["m.large"], "ON_DEMAND", 2, 4, {}),
                "system",
                depends_on=["system-lt"],
            ),
            R("aws:ec2/launchTemplate:LaunchTemplate", _lt(100.0), "gpu-lt"),
            R(
                "aws:eks/nodeGroup:NodeGroup",
                _ng(["g.xlarge"], "SPOT", 0, gpu_max, GPU_LABELS),
                "gpu",
                depends_on=["gpu-lt"],
            ),
            *_model(1.0, model_max),
            R("aws:ec2/natGateway:NatGateway", {"connectivityType": "public"}, "nat"),
            R("aws:ec2/eip:Eip", {"domain": "vpc"}, "eip"),
            R("aws:kms/key:Key", {"enableKeyRotation": True}, "key"),
            R("aws:ecr/repository:Repository", {"name": "vllm"}, "repo"),
            R("aws:iam/role:Role", {"name": "r"}, "role"),
        ]
    )


@pytest.fixture
def priced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(est, "load_prices", lambda region, directory=est.PRICES_DIR: TABLE)
    monkeypatch.setattr(cost, "caps_config", lambda plan, root: {"assumptions": {"natProcessedGbPerMonth": 100}})


def _items(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {i["urn"].rsplit("::", 1)[-1]: (i["monthlyIdle"], i["monthlyCeiling"]) for i in data["items"]}


@pytest.mark.usefixtures("priced")
def test_hand_computed_synthetic_plan() -> None:
    data = cost.analyse(synthetic(), ROOT).data
    assert _items(data) == {
        "eks": (73.0, 73.0),  # 0.10 x 730
        "system": (146.0, 292.0),  # 2 (minSize) and 4 (maxSize) x 0.10 x 730
        "system-lt": (8.0, 16.0),  # 50 GiB x 0.08 per node
        "gpu": (292.0, 584.0),  # Spot 1.00 x (1 - 0.6) x 730: 1 node for minReplicas 1 (minSize is 0), 2 at maxSize
        "gpu-lt": (8.0, 16.0),  # 100 GiB x 0.08 per node
        "nat": (41.5, 41.5),  # 0.05 x 730 + 100 GB x 0.05
        "eip": (3.65, 3.65),  # 0.005 x 730
        "key": (1.0, 1.0),
    }
    assert data["monthly"] == {"idle": 573.15, "ceiling": 1027.15}
    assert data["currency"] == "USD"
    assert data["priceTable"] == {"region": "test-1", "date": "2026-01-01"}
    # The ECR repository costs money the plan cannot tell: listed, never $0. IAM is free: neither.
    assert [(u["urn"].rsplit("::", 1)[-1], u["type"]) for u in data["unpriced"]] == [
        ("repo", "aws:ecr/repository:Repository")
    ]


@pytest.mark.usefixtures("priced")
def test_raising_a_gpu_pool_max_raises_only_the_ceiling() -> None:
    low, high = (cost.analyse(synthetic(gpu_max=m), ROOT).data["monthly"] for m in (2.0, 4.0))
    assert high["idle"] == low["idle"]
    assert round(high["ceiling"] - low["ceiling"], 2) == 2 * (292.0 + 8.0)


@pytest.mark.usefixtures("priced")
def test_a_model_that_cannot_fit_its_pools_at_maximum_is_reported() -> None:
    assert cost.analyse(synthetic(model_max=2.0), ROOT).findings == []
    (finding,) = cost.analyse(synthetic(model_max=5.0), ROOT).findings
    assert "maxReplicas 5 need 5 GPU(s)" in finding.rule
    assert "at most 2" in finding.rule
    assert not finding.blocking


def test_unknown_instance_type_is_unpriced_not_zero() -> None:
    plan = synthetic()
    for r in plan.resources:
        if r.name == "system":
            r.inputs = {**r.inputs, "instanceTypes": ["x9.huge"]}
    e = est.estimate(cost.resources(plan), TABLE)
    assert not any(i.urn.endswith("::system") for i in e.items)
    assert any(u["urn"].endswith("::system") and "x9.huge" in u["reason"] for u in e.unpriced)


def test_every_stack_estimate_is_consistent(stack_plan: Plan) -> None:
    data = cost.analyse(stack_plan, ROOT).data
    assert data["monthly"]["ceiling"] >= data["monthly"]["idle"] > 0
    assert round(sum(i["monthlyIdle"] for i in data["items"]), 2) == pytest.approx(data["monthly"]["idle"], abs=0.05)
    for i in data["items"]:
        assert i["monthlyCeiling"] >= i["monthlyIdle"] >= 0, i
        assert i["basis"]
        assert i["component"]
    priced = {i["urn"] for i in data["items"]} | {u["urn"] for u in data["unpriced"]}
    # Every node group, NAT gateway and KMS key of the plan is priced (or listed as unpriced).
    for r in stack_plan.resources:
        if r.type in ("aws:eks/nodeGroup:NodeGroup", "aws:ec2/natGateway:NatGateway", "aws:kms/key:Key"):
            assert r.urn in priced, r.urn


def test_price_table_is_dated_and_sourced() -> None:
    for path in sorted(est.PRICES_DIR.glob("*.json")):
        table = est.load_prices(path.stem)
        assert table["region"] == path.stem
        assert len(table["date"]) == 10
        assert "Price List API" in table["source"]
        assert table["currency"] == "USD"
        assert set(table["queries"]) == set(table["prices"]), "every price has the query that refreshes it"
        assert table["spot"]["source"]
        for itype, entry in table["instances"].items():
            assert entry["usdPerHour"] > 0, itype


def test_missing_price_table_names_the_refresh_command() -> None:
    with pytest.raises(est.PriceTableError, match="blueprint prices refresh --region xx-nowhere-1"):
        est.load_prices("xx-nowhere-1")


@pytest.mark.usefixtures("priced")
def test_warm_gpu_runners_count_at_idle() -> None:
    plan = synthetic()
    for r in plan.resources:
        if r.name == "m-scaledobject":
            r.inputs = {**r.inputs, "spec": {**r.inputs["spec"], "minReplicaCount": 0.0}}
    assert _items(cost.analyse(plan, ROOT).data)["gpu"][0] == 0.0
    container = {"name": "runner", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    values = {
        "minRunners": 1.0,
        "maxRunners": 2.0,
        "template": {"spec": {"containers": [container], "nodeSelector": {"platform.ai/accelerator": "nvidia"}}},
    }
    runners = plan_of(
        [
            R(
                "kubernetes:helm.sh/v3:Release",
                {"chart": "oci://ghcr.io/x/gha-runner-scale-set", "values": values},
                "gpu-runners",
            )
        ]
    )
    with_runners = Plan("test", "ai-platform", plan.resources + runners.resources, {})
    assert _items(cost.analyse(with_runners, ROOT).data)["gpu"][0] == 292.0  # one warm GPU runner keeps one Spot node


def test_the_pack_estimator_needs_only_the_standard_library() -> None:
    """The Pulumi CLI runs the pack alone (its own venv, no blueprint or infra): the estimator must not import them."""
    import ast
    import sys

    # estimate.py and the sibling modules it imports relatively (_fleet, _pricing), transitively.
    todo, seen, modules = [Path(est.__file__)], set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module:
                todo.append(path.parent / f"{n.module}.py")
            elif isinstance(n, ast.ImportFrom):
                modules.add(n.module or "")
            elif isinstance(n, ast.Import):
                modules |= {a.name for a in n.names}
    assert {p.name for p in seen} >= {"estimate.py", "_fleet.py", "_pricing.py"}
    assert all(m.split(".")[0] in sys.stdlib_module_names or m == "__future__" for m in modules), modules
    assert (est.PRICES_DIR / "us-west-2.json").is_file(), "the table ships inside the pack directory"


def _in_region(region: str) -> Any:
    plan = synthetic()
    for r in plan.resources:
        if r.type == "pulumi:providers:aws":
            r.inputs = {"region": region}
    return plan


def test_a_region_without_a_price_table_is_priced_approximately_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost, "caps_config", lambda plan, root: {})
    result = cost.analyse(_in_region("xx-nowhere-1"), ROOT)
    (finding,) = [f for f in result.findings if f.object == "region xx-nowhere-1"]
    assert not finding.blocking, "a stack added in a new region still previews offline"
    assert "priced with the us-west-2 table" in finding.rule
    assert "blueprint prices refresh --region xx-nowhere-1" in finding.fix
    assert result.data["priceTable"]["region"] == "us-west-2", "the basis is stated, never hidden"
    assert result.data["monthly"]["ceiling"] > 0


def test_without_any_price_table_the_preview_fails_with_the_refresh_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(region: str, directory: Any = est.PRICES_DIR) -> Any:
        raise est.PriceTableError(f"no price table for region {region!r}")

    monkeypatch.setattr(est, "load_prices_for", missing)
    result = cost.analyse(_in_region("xx-nowhere-1"), ROOT)
    (finding,) = result.findings
    assert finding.blocking
    assert "blueprint prices refresh --region xx-nowhere-1" in finding.fix
    assert result.data == {}
