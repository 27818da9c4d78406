"""Several stacks in one account: ``blueprint stack add`` hands the account's singletons to their owner, and no
two stacks create a resource with the same physical name.

The plans come from the engine (physical names as the program sets them); the prod-tier copy in prod's account
but another region is the issue's ``prod-eu`` scenario, made in a temporary copy of the repository.
"""

from __future__ import annotations

import shutil
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from blueprint import singletons
from blueprint.preview.engine import run_stack
from blueprint.stackfiles import load_stack
from blueprint.upkeep.stack_add import Request, plan
from tests.conftest import plan_for
from tests.fixtures import PROD, PROJECT, ROOT, STACKS, account, region, unused_region, unused_stack_name
from tests.k8s_layer import stack_config
from tests.upkeep.conftest import copy_repository, run_cli

OTHER_REGION = unused_region(account(PROD))  # a region where prod's account has no stack yet
COPY = unused_stack_name("prod-eu")  # the name, unless a fork already has that stack


def _section(text: str, section: str) -> dict[str, Any]:
    config = (yaml.safe_load(text) or {}).get("config") or {}
    return config.get(f"{PROJECT}:{section}") or {}


def _added(name: str, region_name: str, acct: str | None = None) -> str:
    """The stack file ``stack add NAME --from PROD --tier prod`` would write (nothing is written)."""
    req = Request(name=name, source=PROD, tier="prod", account=acct or account(PROD), region=region_name)
    out, _, _ = plan(ROOT, req)
    return out.files[f"stacks/Pulumi.{name}.yaml"]


def test_a_second_stack_in_the_same_account_and_region_leaves_the_registry_settings_to_their_owner() -> None:
    registry = _section(_added("prod-twin", region(PROD)), "registry")
    assert registry["createRegistrySettings"] is False
    assert registry["registrySettingsOwnedBy"] == PROD


def test_a_stack_in_another_region_of_the_account_owns_that_regions_registry_settings() -> None:
    text = _added("prod-far", OTHER_REGION)
    registry = _section(text, "registry")
    assert registry.get("createRegistrySettings", True) is True
    assert "registrySettingsOwnedBy" not in registry
    # The account-wide ones are still the first stack's.
    assert _section(text, "delivery")["createOidcProvider"] is False
    assert _section(text, "audit")["enabled"] is False


def test_the_written_stacks_pass_the_cross_stack_check(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    for stack in STACKS:
        shutil.copy(ROOT / "stacks" / f"Pulumi.{stack}.yaml", tmp_path / "stacks")
    for name, where in (("prod-twin", region(PROD)), ("prod-far", OTHER_REGION)):
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text(_added(name, where))
    assert singletons.singleton_problems(tmp_path) == []


# --------------------------------------------------------------------------- physical names
def _facts(plan_: Any, stack: str, root: Path = ROOT) -> tuple[str, str, Any]:
    facts = singletons.read_stacks(root)[stack]
    return facts.account, facts.region, plan_.resources


def test_no_two_committed_stacks_share_a_physical_name() -> None:
    plans = {s: _facts(plan_for(s), s) for s in STACKS}
    for a, b in combinations(STACKS, 2):
        assert singletons.physical_name_clashes({a: plans[a], b: plans[b]}) == []


@pytest.fixture(scope="module")
def prod_eu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_repository(tmp_path_factory.mktemp("prod-eu"))
    args = ["--from", PROD, "--tier", "prod", "--account", account(PROD), "--region", OTHER_REGION]
    proc = run_cli(root, "stack", "add", COPY, *args, "--no-snapshot")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root


def test_prod_and_a_prod_tier_copy_in_its_account_create_no_two_resources_with_one_physical_name(
    prod_eu: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLUEPRINT_PROJECT_DIR", str(prod_eu))
    plans = {s: _facts(run_stack(s, load_stack(s, prod_eu)), s, prod_eu) for s in (PROD, COPY)}
    assert plans[COPY][0] == plans[PROD][0]  # one account
    names = {s: singletons.physical_names(p[2], p[0], p[1]) for s, p in plans.items()}
    assert names[PROD]  # the table matches the plan's types
    assert names[COPY]
    assert singletons.physical_name_clashes(plans) == []
    # The copy owns nothing account-wide, and its own region's registry settings.
    created = {r.type for r in plans[COPY][2] if r.inputs}
    assert "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration" in created
    assert not [
        r
        for r in plans[COPY][2]
        if r.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider" and "token.actions" in str(r.inputs)
    ]


def _res(type_: str, logical: str, **inputs: Any) -> SimpleNamespace:
    return SimpleNamespace(type=type_, name=logical, inputs=inputs, custom=True)


@pytest.mark.parametrize(
    ("resource", "same_account_other_region", "other_account"),
    [
        (_res("aws:ecr/repository:Repository", "registry-vllm", name="vllm"), False, False),
        (_res("aws:iam/role:Role", "delivery-deploy-role", name="x-deploy"), True, False),
        (_res("aws:s3/bucket:Bucket", "b", bucket="one-bucket"), True, True),
        (_res("aws:cloudwatch/logGroup:LogGroup", "logs", name="/aws/vpc/network/flow-logs"), False, False),
        (_res("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration", "scan"), False, False),
    ],
)
def test_the_clash_check_knows_each_names_scope(
    resource: SimpleNamespace, same_account_other_region: bool, other_account: bool
) -> None:
    a = ("111122223333", "us-east-1", [resource])
    assert singletons.physical_name_clashes({"a": a, "b": a}), "same account and region"
    [line] = singletons.physical_name_clashes({"a": a, "b": ("111122223333", "eu-west-1", [resource])}) or [""]
    assert bool(line) is same_account_other_region
    [line] = singletons.physical_name_clashes({"a": a, "b": ("444455556666", "us-east-1", [resource])}) or [""]
    assert bool(line) is other_account
    if singletons.PHYSICAL_NAMES[resource.type][0]:
        auto = _res(resource.type, resource.name)  # no name input: the provider adds a random suffix
        assert singletons.physical_name_clashes({"a": ("1", "r", [auto]), "b": ("1", "r", [auto])}) == []


# Named within a parent the stack owns (a VPC, a cluster): never shared between stacks.
_WITHIN_A_STACKS_PARENT = {"aws:ec2/securityGroup:SecurityGroup", "aws:eks/nodeGroup:NodeGroup"}


def test_the_cross_stack_table_reads_the_same_name_input_as_the_engine_and_the_pack() -> None:
    """Three tables by purpose (the mocks' auto-naming, the pack's per-stack uniqueness, this cross-stack
    check with each name's scope); the pack cannot import the program, so a test keeps them equal."""
    from ai_platform_policies.tagging import NAME_KEYS
    from blueprint.preview.aws_names import NAME_KEYS as _NAME_INPUT

    for table in (NAME_KEYS, _NAME_INPUT):
        for type_, key in table.items():
            if type_ in _WITHIN_A_STACKS_PARENT:
                continue
            assert singletons.PHYSICAL_NAMES.get(type_, ("(missing)",))[0] == key, type_


def test_a_stack_without_the_registry_settings_previews_without_mandatory_or_blocking_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pack and the analyses do not demand the registry-level resources from a stack that leaves them to
    their owner (its repositories scan on push; its nodes keep an ECR read-only role)."""
    from blueprint.preview.analyses import blocking
    from blueprint.preview.command import preview_plan

    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copytree(ROOT / "policy" / "config", tmp_path / "policy" / "config")
    req = Request(name="prod-twin", source=PROD, tier="prod", account=account(PROD), region=region(PROD))
    out, _, _ = plan(ROOT, req)
    for rel, text in out.files.items():
        if rel.startswith(("stacks/", "policy/config/")):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text)
    monkeypatch.setenv("BLUEPRINT_PROJECT_DIR", str(tmp_path))
    twin = preview_plan("prod-twin")
    assert not twin.by_type("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration")
    assert not twin.by_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    assert twin.policy is not None
    assert twin.policy.get("mandatory") == 0, twin.policy
    assert twin.analyses is not None
    assert not blocking(twin.analyses)
    # The note says which outputs to list in the owner's pullThroughPrincipalArns: every node role the twin
    # exports (the managed pools' and, with Karpenter, Karpenter's), by its output name.
    [note] = [n for n in out.notes if n.startswith("registry:")]
    role_outputs = [k for k in twin.outputs if k == "nodeRoleArn" or k.endswith("NodeRoleArn")]
    assert "nodeRoleArn" in role_outputs
    assert ("karpenterNodeRoleArn" in role_outputs) is (stack_config(PROD).node_provisioner == "karpenter")
    assert all(k in note for k in role_outputs), (role_outputs, note)
