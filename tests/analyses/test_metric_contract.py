"""Metric-contract analysis: autoscaler and alert queries select series their producers emit, with those labels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from blueprint.preview.analyses import metric_contract
from blueprint.preview.plan import Plan
from components import _contracts
from components.model_spec import CanarySettings, ModelAutoscaling, ModelImage
from components.serving import server_args, vllm_metrics
from tests import fixtures as fx
from tests.analyses import helpers as h
from tests.components.test_serving import model, serve
from tests.test_config import RawFactory, problems

ROOT = Path(__file__).resolve().parents[2]
QUERY = 'sum(vllm:num_requests_waiting{model_name="$model"})'


def _container_args(plan: Plan, name: str) -> list[str]:
    dep = plan.get("kubernetes:apps/v1:Deployment", f"serving-{name}")
    return dep.inputs["spec"]["template"]["spec"]["containers"][0]["args"]


def test_every_stack_meets_its_metric_contracts(stack_plan: Plan) -> None:
    result = metric_contract.analyse(stack_plan, ROOT)
    assert [f.line() for f in result.findings] == []
    rules = sum(
        len(g["rules"])
        for r in stack_plan.by_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        for g in r.inputs["spec"]["groups"]
    )
    scaled = len(stack_plan.by_type("kubernetes:keda.sh/v1alpha1:ScaledObject"))
    assert result.checked["queries"] == rules + scaled
    assert rules > 0


def test_vllm_is_served_under_its_model_key_so_the_keda_query_matches() -> None:
    """Regression (issue 11, defect 3): model_name defaulted to the --model path, the query used the key."""
    m = model(server="vllm", autoscaling=replace(model().autoscaling, query=QUERY))
    plan = serve({"llm": m})
    args = _container_args(plan, "llm")
    assert args[-2:] == ["--served-model-name", "llm"]
    assert metric_contract.analyse(plan, ROOT).findings == []


def test_each_track_scales_on_its_own_series() -> None:
    q = 'sum(vllm:num_requests_waiting{model_name="$model", platform_ai_track="$track"})'
    m = model(server="vllm", canary=CanarySettings(image=ModelImage(repository="vllm", tag="v2"), weight=10))
    plan = serve({"llm": replace(m, autoscaling=replace(m.autoscaling, query=q))})
    queries = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]["triggers"][0]["metadata"]["query"]
        for r in plan.by_type("kubernetes:keda.sh/v1alpha1:ScaledObject")
    }
    assert queries["llm-canary"] == 'sum(vllm:num_requests_waiting{model_name="llm", platform_ai_track="canary"})'
    assert metric_contract.analyse(plan, ROOT).findings == []
    wrong = q.replace("$track", "blue")
    plan = serve({"llm": replace(m, autoscaling=replace(m.autoscaling, query=wrong))})
    objects = sorted(f.object.split(":")[0] for f in metric_contract.analyse(plan, ROOT).findings)
    assert objects == ["ScaledObject serving/llm trigger 0", "ScaledObject serving/llm-canary trigger 0"]


def test_served_name_left_at_the_model_path_is_reported() -> None:
    # What vLLM does without the flag: model_name = the --model value.
    m = model(server="vllm", args=("--model", "/models/llm", "--served-model-name", "/models/llm"))
    m = replace(m, autoscaling=replace(m.autoscaling, query=QUERY))
    plan = serve({"llm": m})
    findings = metric_contract.analyse(plan, ROOT).findings
    assert {f.object.split(":")[0] for f in findings} == {"ScaledObject serving/llm trigger 0"}
    assert "model_name='llm'" in findings[0].rule
    assert "/models/llm" in findings[0].rule


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('sum(vllm:num_requests_waiting{tenant="a"})', "has no label 'tenant'"),
        ("sum(vllm:num_requests_queued)", "vllm:num_requests_queued is not emitted"),
        ("sum by (tenant) (vllm:num_requests_waiting)", "by (tenant)"),
        ("sum(vllm:num_requests_waiting) by (", "does not parse"),
    ],
)
def test_query_on_what_the_server_does_not_emit_is_reported(query: str, expected: str) -> None:
    m = model(server="vllm")
    plan = serve({"llm": replace(m, autoscaling=replace(m.autoscaling, query=query))})
    (finding,) = metric_contract.analyse(plan, ROOT).findings
    assert expected in finding.rule
    assert finding.object.startswith("ScaledObject serving/llm trigger 0")


def test_other_servers_are_checked_against_their_declared_metrics() -> None:
    q = 'sum(tgi_queue_size{model="$model"})'
    declared = model(server="tgi", metrics={"tgi_queue_size": ()})
    plan = serve({"llm": replace(declared, autoscaling=replace(declared.autoscaling, query=q))})
    assert metric_contract.analyse(plan, ROOT).findings == []
    undeclared = model(server="tgi")
    plan = serve({"llm": replace(undeclared, autoscaling=replace(undeclared.autoscaling, query=q))})
    (finding,) = metric_contract.analyse(plan, ROOT).findings
    assert "tgi_queue_size is not emitted by the workload it scales" in finding.rule


def test_alert_grouping_and_joins_need_the_labels() -> None:
    series = _contracts.Series("exporter", {"up_total": ("a",), "other": ("a", "b")})
    rule = {
        "metadata": {"name": "r", "namespace": "monitoring"},
        "spec": {
            "groups": [
                {
                    "name": "g",
                    "rules": [
                        {"alert": "Ok", "expr": "sum by (a) (rate(up_total[5m])) > 0"},
                        {"alert": "Joined", "expr": "up_total * on (a) group_left (b) other"},
                        {"alert": "Relabelled", "expr": 'sum by (c) (label_replace(up_total, "c", "$1", "a", "(.*)"))'},
                        {"alert": "BadBy", "expr": "sum by (b) (up_total)"},
                        {"alert": "BadOn", "expr": "up_total * on (b) other"},
                    ],
                }
            ]
        },
    }
    plan = h.plan(
        h.component("c", metrics=[series]),
        h.resource("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "rule", rule),
    )
    result = metric_contract.analyse(plan, ROOT)
    assert sorted(f.object.split(":")[0].rsplit(" ", 1)[-1] for f in result.findings) == ["BadBy", "BadOn"]
    assert result.checked == {"queries": 5, "metric contracts": 1}


def test_vllm_contract_names_come_from_its_prometheus_logger() -> None:
    m = vllm_metrics()
    # vllm/v1/metrics/loggers.py: gauges, counters (+_total), histograms (+_bucket with le).
    assert m["vllm:num_requests_waiting"] == ("model_name", "engine")
    assert "le" in m["vllm:e2e_request_latency_seconds_bucket"]
    assert "vllm:generation_tokens_total" in m
    assert server_args("x", model(server="custom")) == ["--model", "/models/llm"]


def test_config_requires_the_served_name_to_be_the_key(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    llama = raw["serving"]["models"]["llama-3-8b"]
    llama["args"] = [*llama["args"], "--served-model-name", "llama"]
    llama["metrics"] = {"x": []}
    found = problems(raw)
    assert "--served-model-name must be the model key 'llama-3-8b'" in found["serving.models.llama-3-8b.args"]
    assert "built in" in found["serving.models.llama-3-8b.metrics"]
    raw = raw_config(fx.DEV)
    raw["serving"]["models"]["llama-3-8b"]["server"] = "tgi"
    assert "must declare the metrics it emits" in problems(raw)["serving.models.llama-3-8b.metrics"]


def test_a_model_that_scales_to_zero_on_its_own_metrics_never_comes_back() -> None:
    """At zero replicas a query on the pods' own series is empty; KEDA reads 0 and never activates."""
    query = 'sum(vllm:num_requests_waiting{model_name="$model"})'
    auto = ModelAutoscaling(type="keda", query=query, threshold=5)
    zero = serve({"llm": model(server="vllm", min_replicas=0, autoscaling=auto)}, allow_scale_to_zero=True)
    (finding,) = metric_contract.scale_from_zero_findings(zero)
    assert finding.object == "ScaledObject serving/llm"
    assert "never scales the model up again" in finding.rule
    assert finding.blocking
    assert "minReplicas >= 1" in finding.fix
    one = serve({"llm": model(server="vllm", min_replicas=1, autoscaling=auto)})
    assert metric_contract.scale_from_zero_findings(one) == []
