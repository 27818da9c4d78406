"""The pack as the Pulumi CLI loads it: registration, naming, metadata, config files, exemptions."""

from __future__ import annotations

import json
import re
import runpy
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, Policy, StackValidationPolicy

from ai_platform_policies import CATEGORIES, PACK_NAME, TypedResourcePolicy, config_defaults
from ai_platform_policies._util import GPUS_PER_INSTANCE
from blueprint.preview.policy_eval import load_config_file, resolve
from components.vocabulary import GPU_FAMILIES
from tests.conftest import ROOT
from tests.fixtures import PROJECT
from tests.policy.harness import PACK, POLICIES

ENVS = ("dev", "staging", "prod")
NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+){2,}$")


def test_main_registers_every_policy_without_starting_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_pack(**kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr("pulumi_policy.PolicyPack", fake_pack)
    # The CLI's python host runs `python -m pulumi.policy <addr> policy`, i.e. runpy.run_path on the
    # pack directory, which puts the directory on sys.path and executes its __main__.py.
    runpy.run_path(str(ROOT / "policy"), run_name="__main__")
    assert seen["name"] == PACK_NAME == f"{PROJECT}-guardrails"
    assert seen["policies"] is PACK.ALL_POLICIES
    names = [p.name for p in seen["policies"]]
    assert len(names) == len(set(names)) >= 60
    assert seen["enforcement_level"] is EnforcementLevel.ADVISORY


def test_every_category_module_contributes() -> None:
    assert set(CATEGORIES) == {
        "registry", "cluster", "nodes", "network", "iam", "storage", "databases", "workloads", "monitoring", "ci",
        "cost", "tagging", "secrets", "governance", "karpenter",
    }  # fmt: skip
    assert all(CATEGORIES.values())
    assert sum(len(v) for v in CATEGORIES.values()) == len(PACK.ALL_POLICIES)


@pytest.mark.parametrize("policy", PACK.ALL_POLICIES, ids=lambda p: p.name)
def test_policy_metadata(policy: Policy) -> None:
    assert NAME.match(policy.name), "name must be <service>-<resource>-<what>"
    assert policy.severity is not None
    assert len(policy.description) > 30
    assert policy.description.endswith(".")
    if isinstance(policy, TypedResourcePolicy):
        assert policy.resource_types
        assert all(t.startswith(("aws:", "kubernetes:", "pulumi:")) for t in policy.resource_types)
    else:
        assert isinstance(policy, StackValidationPolicy)


@pytest.mark.parametrize("env", ENVS)
def test_config_file_names_every_policy_with_a_valid_level(env: str) -> None:
    doc = load_config_file(env, ROOT)
    assert doc["all"] == "advisory"
    assert set(doc) - {"all"} == set(POLICIES)
    for name, entry in doc.items():
        level = entry if isinstance(entry, str) else entry["enforcementLevel"]
        assert level in ("mandatory", "advisory", "disabled"), name
        if isinstance(entry, dict):
            schema = POLICIES[name].config_schema
            assert schema is not None, f"{name} has settings but no config schema"
            unknown = set(entry) - {"enforcementLevel"} - set(schema.properties)
            assert not unknown, f"{name}: settings {unknown} are not in its config schema"


@pytest.mark.parametrize("env", ENVS)
def test_exemptions_are_narrow_and_explained(env: str) -> None:
    doc = load_config_file(env, ROOT)
    found = 0
    for name, entry in doc.items():
        if not isinstance(entry, dict):
            continue
        for ex in entry.get("exemptions", []):
            found += 1
            assert ex["namespace"] not in ("default", "serving", "arc-runners"), name
            assert ex["images"]
            assert all(i.count("/") >= 1 for i in ex["images"]), "exempt specific images"
            assert len(ex["reason"]) > 40, f"{name}: write down why"
        for ns in entry.get("privilegedNamespaces", []) + entry.get("systemNamespaces", []):
            assert len(ns["reason"]) > 40
    assert found >= 6
    # Exempting never switches a rule off: pod-security rules stay mandatory in every environment.
    for rule in ("k8s-pod-no-privileged", "k8s-pod-no-host-path", "k8s-pod-no-host-namespaces"):
        assert resolve(POLICIES[rule], doc, config_defaults(POLICIES[rule])).level is EnforcementLevel.MANDATORY


def test_enforcement_follows_the_catalogue_columns() -> None:
    levels = {env: load_config_file(env, ROOT) for env in ENVS}

    def lvl(env: str, name: str) -> str:
        e = levels[env][name]
        return e if isinstance(e, str) else e["enforcementLevel"]

    # A few rows with different columns (catalogue §3): spot M/A/–, PDB –/A/M, immutable tags A/M/M.
    assert [lvl(e, "eks-node-group-gpu-spot") for e in ENVS] == ["mandatory", "advisory", "disabled"]
    assert [lvl(e, "k8s-serving-deployment-pdb") for e in ENVS] == ["disabled", "advisory", "mandatory"]
    assert [lvl(e, "ecr-repository-immutable-tags") for e in ENVS] == ["advisory", "mandatory", "mandatory"]
    assert [lvl(e, "eks-node-group-gpu-instance-allowlist") for e in ENVS] == ["mandatory", "mandatory", "advisory"]


def test_cli_semantics_of_the_config_file() -> None:
    p = POLICIES["eks-node-group-gpu-max-size"]
    defaults = config_defaults(p)
    assert resolve(p, {}, defaults).level is EnforcementLevel.ADVISORY
    assert resolve(p, {"all": "mandatory"}, defaults).level is EnforcementLevel.MANDATORY
    r = resolve(p, {"all": "mandatory", p.name: {"maxNodesPerPool": 9}}, defaults)
    assert (r.level, r.config["maxNodesPerPool"]) == (EnforcementLevel.MANDATORY, 9)
    assert resolve(p, {"all": "mandatory", p.name: "disabled"}, defaults).level is EnforcementLevel.DISABLED


def test_gpu_table_matches_the_config_model() -> None:
    assert {f: dict(v.gpus_by_size) for f, v in GPU_FAMILIES.items()} == {
        f: dict(v) for f, v in GPUS_PER_INSTANCE.items()
    }


def test_config_files_are_plain_json() -> None:
    for env in ENVS:
        json.loads((ROOT / "policy" / "config" / "tiers" / f"{env}.json").read_text())


def test_the_estimator_counts_gpus_per_node_from_the_same_table() -> None:
    """One GPU table in the pack: a Karpenter pool of p4d.24xlarge (8 GPUs each) under a 16-GPU limit is 2 nodes."""
    from types import SimpleNamespace

    from ai_platform_policies import estimate

    pool = SimpleNamespace(
        urn="urn:pool",
        name="gpu",
        resource_type=estimate.NODEPOOL,
        props={
            "spec": {
                "limits": {"nvidia.com/gpu": "16"},
                "template": {
                    "spec": {
                        "requirements": [
                            {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["p4d"]},
                            {"key": "karpenter.k8s.aws/instance-size", "operator": "In", "values": ["24xlarge"]},
                        ]
                    }
                },
            }
        },
    )
    (view,) = estimate.karpenter_pools([pool])
    assert GPUS_PER_INSTANCE["p4d"]["24xlarge"] == 8
    assert view.props["scalingConfig"]["maxSize"] == 2.0
