"""Tier guardrails live in the policy pack, not in the config: one home per rule.

The config refuses what cannot work (a subnet that does not fit, a role of another stack); what a tier
requires (prod: private endpoint, several AZs, NAT per AZ, durable and protected stateful resources, Object Lock; staging and prod:
immutable tags, model lineage) is a policy whose level the tier's policy config sets. So a prod-tier stack
that breaks every one of them still parses, and its preview fails on the pack's mandatory violations.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from tests.fixtures import PROJECT, stacks_of_tier

# Each mutation of the stack file -> the policy that must refuse it (mandatory in prod).
GUARDRAILS: dict[str, str] = {
    "cluster.endpointPublicAccess": "eks-cluster-public-endpoint-restricted",
    "network.availabilityZones": "eks-node-group-multi-az",
    "network.natGateways": "ec2-nat-gateway-count",
    "registry.imageTagMutability": "ecr-repository-immutable-tags",
    "mlflow.dbMultiAz": "rds-instance-durability",
    "mlflow.dbBackupRetentionDays": "rds-instance-backup-retention",
    "audit.objectLock": "governance-archive-object-lock",
    "serving.models.<name>.lineage": "governance-model-lineage",
    "protectStatefulResources": "stateful-resources-protected",
}


def _break_every_guardrail(config: dict[str, Any]) -> dict[str, Any]:
    def section(key: str) -> dict[str, Any]:
        return dict(json.loads(config[f"{PROJECT}:{key}"]))

    cluster = section("cluster") | {"endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]}
    network = section("network")
    network |= {"availabilityZones": network["availabilityZones"][:2], "natGateways": "single"}
    registry = section("registry") | {"imageTagMutability": "MUTABLE"}
    mlflow = section("mlflow") | {"dbMultiAz": False, "dbDeletionProtection": False, "dbBackupRetentionDays": 3}
    audit = section("audit") | {"objectLock": None}
    serving = section("serving")
    serving["models"] = {n: {k: v for k, v in m.items() if k != "lineage"} for n, m in serving["models"].items()}
    changed = {"cluster": cluster, "network": network, "registry": registry, "mlflow": mlflow}
    changed |= {"audit": {k: v for k, v in audit.items() if v is not None}, "serving": serving}
    unprotected = {f"{PROJECT}:protectStatefulResources": "false"}
    return config | {f"{PROJECT}:{k}": json.dumps(v) for k, v in changed.items()} | unprotected


@pytest.mark.parametrize("stack", stacks_of_tier("prod")[:1])
def test_prod_guardrails_are_mandatory_policies_not_config_errors(stack: str) -> None:
    from blueprint.preview.engine import run_stack
    from blueprint.preview.policy_eval import evaluate_plan
    from blueprint.stackfiles import load_stack

    settings = load_stack(stack)
    # The config accepts the stack: run_stack would raise ConfigError otherwise.
    plan = run_stack(stack, dataclasses.replace(settings, config=_break_every_guardrail(dict(settings.config))))
    found = {(v["policy"], v["enforcement"]) for v in evaluate_plan(plan)["violations"]}
    missing = {key: policy for key, policy in GUARDRAILS.items() if (policy, "mandatory") not in found}
    assert not missing, f"tier guardrails not enforced by the pack (mandatory): {missing}"
