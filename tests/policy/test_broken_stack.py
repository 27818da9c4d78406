"""A deliberately broken prod stack produces exactly the expected violations, and nothing else changes.

Where the config model allows the mistake it is made in config (a GPU pool over budget); where
the model or a component refuses it (a public prod endpoint is a config error, the registry always
encrypts with KMS, node pools always taint GPU pools), the captured resource inputs are mutated
instead — that is what a hand-edited component or a bypassed validator would send to the engine,
which is exactly what the pack is there to catch.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from blueprint.preview.engine import run_stack
from blueprint.preview.plan import Plan
from blueprint.preview.policy_eval import evaluate_plan
from blueprint.stackfiles import load_stack
from infra.config import ConfigError
from tests import fixtures as fx
from tests.conftest import ROOT, plan_for
from tests.fixtures import PROJECT

CLUSTER = "aws:eks/cluster:Cluster"
REPO = "aws:ecr/repository:Repository"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def _over_budget_plan() -> Plan:
    settings = load_stack(fx.PROD, ROOT)
    pools = json.loads(settings.config[f"{PROJECT}:nodePools"])
    pools["gpu-a10g"]["maxSize"] = 20
    # The node-group policies are the subject: prod's GPU pools as managed node groups.
    for pool in pools.values():
        pool.pop("karpenter", None)
    config = {
        **settings.config,
        f"{PROJECT}:nodePools": json.dumps(pools),
        f"{PROJECT}:nodeProvisioner": "managed-node-groups",
    }
    return run_stack("prod", dataclasses.replace(settings, config=config))


def _mutate(plan: Plan) -> Plan:
    resources = []
    for r in plan.resources:
        inputs = copy.deepcopy(r.inputs)
        if r.type == CLUSTER:
            inputs["vpcConfig"]["endpointPublicAccess"] = True
        elif r.type == REPO and inputs.get("name") == "vllm":
            inputs["encryptionConfigurations"] = [{"encryptionType": "AES256"}]
        elif r.type == NODE_GROUP and inputs.get("labels", {}).get("platform.ai/pool") == "gpu-a10g":
            inputs["taints"] = []
        resources.append(dataclasses.replace(r, inputs=inputs))
    return dataclasses.replace(plan, resources=resources)


def _found(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(v["policy"], v["enforcement"], v["urn"].rsplit("::", 1)[-1]) for v in report["violations"]}


def test_public_prod_endpoint_is_left_to_the_pack(raw_config: Callable[[str], dict[str, Any]]) -> None:
    """Which tiers may expose the API is a tier guardrail: the config accepts it with an allowlist and the pack
    refuses it (eks-cluster-public-endpoint-restricted, mandatory in prod; tests/stacks/test_tier_guardrails.py)."""
    from infra.config import parse_config

    raw = raw_config(fx.PROD)
    secrets = [k for k, v in raw.items() if isinstance(v, dict) and "secure" in v]
    raw.update(dict.fromkeys(secrets, "offline-secret"))
    raw["cluster"]["endpointPublicAccess"] = True
    raw["cluster"]["publicAccessCidrs"] = ["203.0.113.0/24"]
    assert parse_config(raw, secret_keys=secrets, source="prod").cluster.endpoint_public_access
    raw["cluster"]["publicAccessCidrs"] = []
    with pytest.raises(ConfigError, match="explicit allowlist"):
        parse_config(raw, secret_keys=secrets, source="prod")


def test_broken_prod_stack_reports_exactly_the_expected_violations() -> None:
    baseline = _found(evaluate_plan(plan_for(fx.PROD), root=ROOT))
    broken_plan = _mutate(_over_budget_plan())
    report = evaluate_plan(broken_plan, root=ROOT)
    new = _found(report) - baseline
    a10g = next(r for r in broken_plan.by_type(NODE_GROUP) if r.inputs["labels"]["platform.ai/pool"] == "gpu-a10g").name
    cluster = broken_plan.by_type(CLUSTER)[0].name
    vllm = next(r for r in broken_plan.by_type(REPO) if r.inputs["name"] == "vllm").name
    assert new == {
        ("eks-cluster-public-endpoint-restricted", "mandatory", cluster),
        ("ecr-repository-kms-encryption", "mandatory", vllm),
        ("eks-node-group-gpu-taint", "mandatory", a10g),
        ("eks-gpu-taint-toleration-consistency", "mandatory", a10g),
        # prod's GPU budget is advisory (catalogue COST-02: prod A); dev and staging make it mandatory.
        ("eks-node-group-gpu-max-size", "advisory", a10g),
        ("eks-gpu-capacity-budget", "advisory", ""),
        # 20 on-demand g5.2xlarge at ceiling take the estimate far over prod's monthly cap (mandatory).
        ("cost-monthly-caps", "mandatory", ""),
    }
    assert report["mandatory"] >= 4
    messages = {v["policy"]: v["message"] for v in report["violations"]}
    assert (
        "set cluster.endpointPublicAccess: false in stacks/Pulumi.<stack>.yaml"
        in messages["eks-cluster-public-endpoint-restricted"]
    )
    assert "can grow to 20 nodes" in messages["eks-node-group-gpu-max-size"]
    assert "24 nodes in total, above the budget of 16" in messages["eks-gpu-capacity-budget"]
    assert "biggest line items: gpu-a10g-ng (gpu-a10g)" in messages["cost-monthly-caps"]
