"""Connectivity analysis: every stack's flows pass its NetworkPolicies; broken policies produce named findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from blueprint.preview.analyses import connectivity
from blueprint.preview.plan import Plan
from components import _contracts
from components.serving import KEDA_METRICS_APISERVER, KEDA_OPERATOR, KEDA_OPERATOR_GRPC_PORT
from tests.analyses import helpers as h
from tests.components.test_serving import model, serve
from tests.conftest import STACKS, plan_for

ROOT = Path(__file__).resolve().parents[2]
GRPC_FLOW = "KEDA metrics apiserver -> operator gRPC"


def test_every_stack_passes_its_network_policies(stack_plan: Plan) -> None:
    result = connectivity.analyse(stack_plan, ROOT)
    assert [f.line() for f in result.findings] == []
    names = {doc["name"] for _, doc in connectivity.flows(stack_plan)} | {
        f["name"] for f in connectivity._monitor_flows(stack_plan)
    }
    assert result.checked["flows"] == len(connectivity._monitor_flows(stack_plan)) + sum(
        1 for _ in connectivity.flows(stack_plan)
    )
    # The flows the issue names, wherever the stack has the workload.
    assert any(n.endswith("-> CoreDNS UDP") for n in names)
    assert "API server -> prometheus-operator admission webhook" in names
    assert "Prometheus -> DCGM exporter" in names
    assert any(n.startswith("Prometheus -> ServiceMonitor serving/") for n in names)
    assert any(n.startswith("ALB -> model ") for n in names)
    assert any(n.endswith("-> S3") for n in names)
    if stack_plan.by_type("kubernetes:keda.sh/v1alpha1:ScaledObject"):
        assert {GRPC_FLOW, "API server -> KEDA metrics apiserver (external.metrics.k8s.io)"} <= names
    assert "API server -> LB controller webhooks" in names
    if stack_plan.by_type("platform:index:CiRunners"):
        assert {"runners -> GitHub", "runners -> ECR endpoints"} <= names


@pytest.fixture(scope="module")
def keda_plan() -> Plan:
    return serve({"llm": model()})


def test_keda_metrics_apiserver_reaches_the_operator(keda_plan: Plan) -> None:
    """Regression (issue 11, defect 2): the keda namespace's default deny dropped gRPC 9666."""
    result = connectivity.analyse(keda_plan, ROOT)
    flows = {doc["name"]: doc for _, doc in connectivity.flows(keda_plan)}
    assert flows[GRPC_FLOW]["dst"] == {"namespace": "keda", "labels": KEDA_OPERATOR}
    assert flows[GRPC_FLOW]["port"] == KEDA_OPERATOR_GRPC_PORT
    # Prometheus is declared by Monitoring, which this component-level plan lacks: only those refs fail.
    assert all("'prometheus'" in f.rule for f in result.findings), [f.line() for f in result.findings]


def test_default_deny_that_drops_9666_is_reported_by_flow_name(keda_plan: Plan) -> None:
    broken = Plan(
        keda_plan.stack,
        keda_plan.project,
        [r for r in keda_plan.resources if r.name != "serving-keda-allow-operator-grpc"],
        {},
    )
    result = connectivity.analyse(broken, ROOT)
    (finding,) = [f for f in result.findings if GRPC_FLOW in f.object]
    assert "Ingress" in finding.rule
    assert "keda/default-deny" in finding.rule
    assert "TCP 9666" in finding.rule
    assert "add an ingress rule from pods keda/{app=keda-operator-metrics-apiserver}" in finding.fix
    assert result.data["blocked"] == [GRPC_FLOW]


# --------------------------------------------------------------------------- semantics
def _one_flow(src: dict, dst: dict, port: int = 8080, port_name: str | None = None) -> list:
    return [_contracts.Flow("f", src, dst, port, port_name=port_name)]


def _blocked(*resources) -> list[str]:
    return connectivity.analyse(h.plan(h.vpc(), *resources), ROOT).data["blocked"]


A = _contracts.pods("a", {"app": "a"})
B = _contracts.pods("b", {"app": "b"})


def test_no_policy_allows_and_each_side_is_checked() -> None:
    flows = _one_flow(A, B)
    assert _blocked(h.component("c", flows=flows)) == []
    deny_egress = h.policy("a", "deny", {"podSelector": {}, "policyTypes": ["Egress"], "egress": []})
    assert _blocked(h.component("c", flows=flows), deny_egress) == ["f"]
    deny_ingress = h.policy("b", "deny", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []})
    assert _blocked(h.component("c", flows=flows), deny_ingress) == ["f"]


def test_pod_selector_alone_means_the_policy_namespace() -> None:
    spec = {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}],
    }
    assert _blocked(h.component("c", flows=_one_flow(A, B)), h.policy("b", "p", spec)) == ["f"]
    spec["ingress"][0]["from"][0]["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": "a"}}
    assert _blocked(h.component("c", flows=_one_flow(A, B)), h.policy("b", "p", spec)) == []


def test_named_ports_match_the_destination_container_port_name() -> None:
    spec = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": "metrics"}]}]}
    pol = h.policy("b", "p", spec)
    assert _blocked(h.component("c", flows=_one_flow(A, B, port_name="metrics")), pol) == []
    assert _blocked(h.component("c", flows=_one_flow(A, B, port_name="http")), pol) == ["f"]


def test_ip_block_covers_pods_in_the_vpc_but_except_carves_out() -> None:
    """The VPC CNI agent matches ipBlocks on addresses, pod IPs included (pods draw VPC addresses)."""
    rule = {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}
    pol = h.policy("a", "p", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]})
    assert _blocked(h.component("c", flows=_one_flow(A, B)), pol) == []
    rule["to"][0]["ipBlock"]["except"] = ["10.0.128.0/17"]
    assert _blocked(h.component("c", flows=_one_flow(A, B)), pol) == ["f"]
    # The internet, minus the instance metadata service.
    web = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}],
    }
    flows = [_contracts.Flow("web", A, _contracts.cidr(_contracts.INTERNET), 443)]
    flows.append(_contracts.Flow("imds", A, _contracts.cidr("169.254.169.254/32"), 80))
    assert _blocked(h.component("c", flows=flows), h.policy("a", "w", web)) == ["imds"]


def test_api_server_traffic_from_the_vpc_cidr_needs_an_ip_block() -> None:
    flows = [_contracts.Flow("apiserver", _contracts.vpc(), B, 9443)]
    from_ns = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": {}}]}]}
    assert _blocked(h.component("c", flows=flows), h.policy("b", "p", from_ns)) == ["apiserver"]
    from_vpc = {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16"}}], "ports": [{"port": 9443}]}],
    }
    assert _blocked(h.component("c", flows=flows), h.policy("b", "p", from_vpc)) == []


def test_an_unknown_peer_is_a_finding() -> None:
    flows = [_contracts.Flow("x", _contracts.ref("nobody"), B, 80)]
    result = connectivity.analyse(h.plan(h.vpc(), h.component("c", flows=flows)), ROOT)
    (finding,) = result.findings
    assert "'nobody'" in finding.rule


def test_keda_policy_constants_match_the_chart_labels() -> None:
    # kedacore/charts v2.20.2 keda/templates/{manager,metrics-server}/deployment.yaml pod labels.
    assert KEDA_OPERATOR == {"app": "keda-operator"}
    assert KEDA_METRICS_APISERVER == {"app": "keda-operator-metrics-apiserver"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_default_deny_namespace_has_declared_flows(stack: str) -> None:
    """A component that fences its namespace must say what crosses the fence, or nothing is checked there."""
    plan = plan_for(stack)
    fenced = {
        r.inputs["metadata"]["namespace"]
        for r in plan.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["spec"].get("podSelector") in ({}, None)
        and not r.inputs["spec"].get("ingress")
        and not r.inputs["spec"].get("egress")
    }
    declared: set[str] = set()
    for r in plan.resources:
        for f in r.inputs.get(_contracts.FLOWS_KEY) or []:
            for end in (f["src"], f["dst"]):
                if "namespace" in end:
                    declared.add(end["namespace"])
    assert fenced, f"{stack}: no default-deny namespaces found; the check would be empty"
    assert fenced <= declared, f"{stack}: default-deny namespaces with no declared flows: {sorted(fenced - declared)}"
