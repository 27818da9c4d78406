"""The lineage analysis: lists each model Deployment's lineage, flags what an auditor could not answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blueprint.preview.analyses import ANALYSES, lineage
from blueprint.preview.plan import Plan
from components import _lineage
from tests import fixtures as fx
from tests.analyses.helpers import resource
from tests.conftest import plan_for

GOOD = _lineage.lineage_annotations(
    "llama",
    version="7",
    image="1.dkr.ecr.us-west-2.amazonaws.com/vllm@sha256:" + "a" * 64,
    digest="sha256:" + "a" * 64,
    weights_uri="s3://artifacts/models/llama/",
    weights_version_id="3HL4kqtJ",
    mlflow_run_id="f" * 32,
)


def _deployment(name: str, ann: dict[str, Any], template: dict[str, Any] | None = None, model: bool = True) -> Plan:
    labels = {"platform.ai/model": name} if model else {"app": name}
    obj = {
        "metadata": {"name": name, "namespace": "serving", "labels": labels, "annotations": ann},
        "spec": {"template": {"metadata": {"labels": labels, "annotations": ann if template is None else template}}},
    }
    return Plan(
        stack="t",
        project="p",
        resources=[resource("kubernetes:apps/v1:Deployment", name, obj)],
        outputs={},
    )


def _rules(plan: Plan) -> list[str]:
    result = lineage.analyse(plan, Path("."))
    assert all(not f.blocking for f in result.findings)
    return [f.rule for f in result.findings]


def test_registered_and_complete_lineage_is_listed_without_findings() -> None:
    assert "blueprint.preview.analyses.lineage" in ANALYSES
    result = lineage.analyse(_deployment("llama", GOOD), Path("."))
    assert result.findings == []
    assert result.checked == {"model deployments": 1}
    (line,) = result.data["report"]
    assert line.startswith("serving/llama: version 7, image sha256:aaaa")
    assert "@ 3HL4kqtJ" in line
    assert f"mlflow run {'f' * 32}" in line
    assert result.data["models"]["serving/llama"][_lineage.MODEL] == "llama"


def test_missing_annotation_is_reported() -> None:
    ann = {k: v for k, v in GOOD.items() if k != _lineage.IMAGE_DIGEST}
    assert any(f"no {_lineage.IMAGE_DIGEST} annotation" in r for r in _rules(_deployment("llama", ann)))


def test_template_that_disagrees_with_the_deployment_is_reported() -> None:
    rules = _rules(_deployment("llama", GOOD, {**GOOD, _lineage.VERSION: "6"}))
    assert any("pod template annotations differ" in r and _lineage.VERSION in r for r in rules)


def test_unpinned_unversioned_and_unhashed_weights_are_reported() -> None:
    ann = _lineage.lineage_annotations(
        "llama", version=None, image="repo:v1", digest=None, weights_uri="s3://artifacts/models/llama/"
    )
    rules = " ".join(_rules(_deployment("llama", ann)))
    assert "not pinned by digest" in rules
    assert "no model version" in rules
    assert "S3 version id or DVC hash" in rules


def test_non_model_deployments_are_ignored() -> None:
    result = lineage.analyse(_deployment("grafana", {}, model=False), Path("."))
    assert result.checked == {"model deployments": 0}
    assert result.findings == []


def test_prod_lists_every_model_track_and_pins_everything() -> None:
    result = lineage.analyse(plan_for(fx.PROD), Path("."))
    assert result.checked["model deployments"] == 2
    assert result.findings == []


def test_a_canary_finding_names_the_canary_image() -> None:
    ann = {**GOOD, _lineage.IMAGE_DIGEST: _lineage.UNPINNED}
    plan = _deployment("llama-canary", ann)
    plan.resources[0].inputs["metadata"]["labels"].update({"platform.ai/model": "llama", "platform.ai/track": "canary"})
    (finding,) = lineage.analyse(plan, Path(".")).findings
    assert finding.fix.startswith("set canary.image.digest (serving.models.llama ")
