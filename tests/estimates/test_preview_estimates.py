"""The estimates through `blueprint preview`: the JSON's `estimates` object, the cost delta that leads
`--diff` (and so the PR comment), and the monthly caps failing the preview with the line items named."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ai_platform_policies import estimate as est
from blueprint.cli import EXIT_ERROR, main
from blueprint.preview import report
from blueprint.preview.plan import Plan
from tests.fixtures import PROJECT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Editable copies of the dev stack file and its policy config; the program is this checkout's."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "policy" / "config" / "tiers").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "stacks" / "Pulumi.dev.yaml", tmp_path / "stacks" / "Pulumi.dev.yaml")
    shutil.copy(
        ROOT / "policy" / "config" / "tiers" / "dev.json", tmp_path / "policy" / "config" / "tiers" / "dev.json"
    )
    monkeypatch.setenv("BLUEPRINT_PROJECT_DIR", str(tmp_path))
    return tmp_path


def _set_pool_max(project: Path, pool: str, size: int) -> None:
    path = project / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"][f"{PROJECT}:nodePools"][pool]["maxSize"] = size
    path.write_text(yaml.safe_dump(doc))


def _set_caps(project: Path, **caps: float) -> None:
    path = project / "policy" / "config" / "tiers" / "dev.json"
    doc = json.loads(path.read_text())
    doc["cost-monthly-caps"].update(caps)
    path.write_text(json.dumps(doc))


def test_plan_json_carries_the_three_estimates(tmp_path: Path) -> None:
    out = tmp_path / "dev.json"
    main(["preview", "dev", "--quiet", "--no-policy", "--json", str(out)])
    doc = json.loads(out.read_text())
    cost, deploy, cold = (doc["estimates"][k] for k in ("cost", "deployTime", "coldStart"))
    assert cost["currency"] == "USD"
    assert set(cost["monthly"]) == {"idle", "ceiling"}
    assert set(cost["items"][0]) == {"urn", "type", "component", "monthlyIdle", "monthlyCeiling", "basis"}
    assert isinstance(cost["unpriced"], list)
    assert set(cost["priceTable"]) == {"region", "date"}
    assert deploy["coldMinutes"] > 0
    assert all(u.startswith("urn:pulumi:dev::") for u in deploy["criticalPath"])
    assert {"model", "seconds", "budgetSeconds", "parts"} <= set(cold[0])
    assert "data" not in doc["analyses"]["cost"], "the numbers are stored once, under estimates"


def test_raising_a_gpu_pool_max_leads_the_diff_with_the_ceiling_delta(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["preview", "dev", "--quiet", "--no-policy", "--write-snapshots"])
    _set_pool_max(project, "gpu-a10g", 4)
    _set_caps(project, maxMonthlyCeiling=1500)
    capsys.readouterr()
    code = main(["preview", "dev", "--diff", "--quiet"])
    text = capsys.readouterr().out
    # Hand-computed from the committed table: 2 more Spot g5.2xlarge (the pool's dearest type) at the
    # documented discount, 730 h, plus their 200 GiB gp3 root volumes.
    t = est.load_prices("us-west-2")
    node = t["instances"]["g5.2xlarge"]["usdPerHour"] * (1 - t["spot"]["discountByFamily"]["g5"]) * 730
    delta = 2 * node + 2 * 200 * t["prices"]["ebs.gp3.gbMonth"]
    # The diff's title line leads (the PR comment's title), the cost delta right under it.
    first = text.splitlines()[1]
    assert first.startswith(f"cost: idle +$0/month, ceiling +${delta:,.0f}/month (gpu-a10g maxSize 2 → 4"), first
    # The ceiling cap fails the preview and names the biggest line items.
    assert code == EXIT_ERROR
    cap_lines = [line for line in text.splitlines() if "cost-monthly-caps" in line]
    assert cap_lines
    assert "exceeds this environment's cap of $1,500/month" in cap_lines[0]
    assert "gpu-a10g-ng (gpu-a10g)" in cap_lines[0]
    assert "gpu-l4-ng (gpu-l4)" in cap_lines[0]
    # The PR comment fences this output whole (preview-comment.yml), so the delta leads its text too.


def test_an_unchanged_stack_has_a_zero_delta() -> None:
    doc = json.loads((ROOT / "snapshots" / "dev.json").read_text())
    if "estimates" not in doc:
        pytest.skip("snapshots predate the estimates; `make snapshots` adds them")
    assert report.cost_delta(doc, doc) == "cost: idle +$0/month, ceiling +$0/month"


def test_cost_delta_names_a_created_resource() -> None:
    def doc(items: list[dict[str, Any]]) -> dict[str, Any]:
        idle = sum(i["monthlyIdle"] for i in items)
        ceiling = sum(i["monthlyCeiling"] for i in items)
        return {"resources": [], "estimates": {"cost": {"monthly": {"idle": idle, "ceiling": ceiling}, "items": items}}}

    nat = {
        "urn": "urn:pulumi:dev::p::aws:ec2/natGateway:NatGateway::network-nat-b",
        "monthlyIdle": 34.35,
        "monthlyCeiling": 34.35,
    }
    assert report.cost_delta(doc([]), doc([nat])) == "cost: idle +$34/month, ceiling +$34/month (+ network-nat-b)"


def test_every_stack_reports_its_estimates(stack_plan: Plan) -> None:
    from blueprint.preview.analyses import run_all

    plan = dataclasses.replace(stack_plan, analyses=run_all(stack_plan, ROOT))  # the shared plan stays as it is
    assert set(plan.estimates()) == {"cost", "deployTime", "coldStart"}
