"""``blueprint stack add``: a new stack in a copy of the repository previews cleanly and is wired into CI.

Source stacks are picked by tier from whatever stacks exist; new names, accounts and regions are
this test's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from blueprint.stackfiles import stack_sort_key
from blueprint.upkeep.stack_add import ACCOUNT_SINGLETONS, SECRET_PLACEHOLDER
from tests.fixtures import unused_account, unused_region, unused_stack_name
from tests.upkeep.conftest import copy_repository, run_cli, stack_config, tree

# Names, an account and a region no stack of the checkout uses: a fork may already have a `uat` stack or an
# account the README spells.
UAT, APAC, NEW_ACCOUNT = unused_stack_name("uat"), unused_stack_name("prod-apac"), unused_account()

TIERS = ("dev", "staging", "prod")


def ns_of(config: dict[str, Any]) -> str:
    return next(k.split(":")[0] for k in config if k.endswith(":environment"))


def stacks_by_tier(root: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted((root / "stacks").glob("Pulumi.*.yaml")):
        config = stack_config(root, path.name[7:-5])
        out.setdefault(str(config[f"{ns_of(config)}:environment"]), []).append(path.name[7:-5])
    return out


def get(root: Path, stack: str, key: str) -> Any:
    config = stack_config(root, stack)
    return config.get(f"{ns_of(config)}:{key}")


def workflows(root: Path) -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted((root / ".github" / "workflows").glob("*.yml"))}


def deploy_chain(root: Path, stacks: set[str]) -> list[str]:
    """Environments of the jobs that run in a stack's GitHub Environment, in `needs` order."""
    for doc in workflows(root).values():
        jobs = {j: s for j, s in doc["jobs"].items() if s.get("environment") in stacks}
        order: list[str] = []
        while len(order) < len(jobs):
            ready = [j for j, s in jobs.items() if j not in order and set(s.get("needs", [])) & set(jobs) <= set(order)]
            assert len(ready) == 1, f"deploy jobs must form one chain: {ready}"
            order.append(ready[0])
        if order:
            return [jobs[j]["environment"] for j in order]
    return []


@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    """A copy with two stacks added: a staging-tier one in a new account, a prod-tier one in prod's account."""
    root = copy_repository(tmp_path_factory.mktemp("stack-add"))
    tiers = stacks_by_tier(root)
    prod = tiers["prod"][0]
    specs = {
        UAT: {"from": tiers["staging"][0], "tier": "staging", "account": NEW_ACCOUNT, "region": "eu-west-1"},
        APAC: {
            "from": prod,
            "tier": "prod",
            "account": str(get(root, prod, "accountId")),
            "region": unused_region(str(get(root, prod, "accountId")), "ap-southeast-2"),
        },
    }
    for name, s in specs.items():
        args = ["--from", s["from"], "--tier", s["tier"], "--account", s["account"], "--region", s["region"]]
        proc = run_cli(root, "stack", "add", name, *args)
        # Exit 0 includes the new stack's offline preview (with the policy pack) passing.
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return root, specs


def test_the_stack_file_has_the_new_tier_account_region_and_zones(added: tuple[Path, dict]) -> None:
    root, specs = added
    for name, s in specs.items():
        assert get(root, name, "environment") == s["tier"]
        assert get(root, name, "accountId") == s["account"]
        assert get(root, name, "region") == s["region"]
        zones = get(root, name, "network")["availabilityZones"]
        assert len(zones) == len(get(root, s["from"], "network")["availabilityZones"])
        assert all(z.startswith(s["region"]) and len(z) == len(s["region"]) + 1 for z in zones)
        text = (root / "stacks" / f"Pulumi.{name}.yaml").read_text()
        source_account = str(get(root, s["from"], "accountId"))
        if source_account != s["account"]:
            assert source_account not in text
        for value in stack_config(root, name).values():
            if isinstance(value, dict) and set(value) == {"secure"}:
                assert value["secure"] == SECRET_PLACEHOLDER


def test_a_second_stack_in_an_account_does_not_claim_the_account_singletons(added: tuple[Path, dict]) -> None:
    root, specs = added
    for name, s in specs.items():
        others = [p.name[7:-5] for p in (root / "stacks").glob("Pulumi.*.yaml") if p.name[7:-5] != name]
        shared = any(str(get(root, o, "accountId")) == s["account"] for o in others)
        for section, key in ACCOUNT_SINGLETONS:
            value = (get(root, name, section) or {}).get(key)
            if shared:  # both default to on: the copy must say off
                assert value is False, f"{name}: {section}.{key}"


def test_policy_config_is_the_tier_file_plus_an_override_only_where_the_stack_differs(added: tuple[Path, dict]) -> None:
    from blueprint.preview.policy_config import REGION_POLICY, REGISTRY_POLICY, merged
    from blueprint.upkeep.stack_add import _AUDIT_IN_OWNER

    root, specs = added
    config = root / "policy" / "config"
    for name, s in specs.items():
        cfg = merged(name, root)
        assert cfg.tier_file == f"policy/config/tiers/{s['tier']}.json"
        # The registry and region are derived from the stack file: no policy config names them.
        assert cfg.doc[REGISTRY_POLICY]["stackRegistry"] == f"{s['account']}.dkr.ecr.{s['region']}.amazonaws.com"
        assert cfg.doc[REGION_POLICY]["stackRegion"] == s["region"]
        override = config / "stacks" / f"{name}.json"
        stacks = [p.name[7:-5] for p in (root / "stacks").glob("Pulumi.*.yaml")]
        shared = any(str(get(root, o, "accountId")) == s["account"] for o in stacks if o != name)
        assert override.is_file() == shared, f"{name}: an override only where the stack differs from its tier"
        if shared:  # the account's audit lives in its owner's plan: those policies are advisory here
            doc = json.loads(override.read_text())
            assert set(doc) == set(_AUDIT_IN_OWNER)
            assert {v if isinstance(v, str) else v["enforcementLevel"] for v in doc.values()} == {"advisory"}
    for path in config.rglob("*.json"):
        assert all(s["account"] not in path.read_text() for s in specs.values()), path


def test_every_stack_matrix_and_the_deploy_chain_include_the_new_stacks_in_tier_order(added: tuple[Path, dict]) -> None:
    root, specs = added
    stacks = {p.name[7:-5] for p in (root / "stacks").glob("Pulumi.*.yaml")}
    matrices = [
        job["strategy"]["matrix"]["stack"]
        for doc in workflows(root).values()
        for job in doc["jobs"].values()
        if isinstance(((job.get("strategy") or {}).get("matrix") or {}).get("stack"), list)
    ]
    assert matrices
    for matrix in matrices:
        assert set(specs) <= set(matrix)
        assert matrix == sorted(matrix, key=stack_sort_key)  # the order of `stack_names`
    chain = deploy_chain(root, stacks)
    assert set(specs) <= set(chain)
    ranks = [TIERS.index(str(get(root, s, "environment"))) for s in chain]
    assert ranks == sorted(ranks), chain  # dev before staging before prod
    for name, s in specs.items():
        assert chain.index(name) > chain.index(s["from"])


def test_every_job_a_workflow_needs_exists_and_each_new_stack_has_its_own_preflight(added: tuple[Path, dict]) -> None:
    # GitHub rejects a workflow whose job needs an unknown job; the schema does not check that.
    root, specs = added
    for wf, doc in workflows(root).items():
        for job_id, job in doc["jobs"].items():
            needs = job.get("needs", [])
            for need in [needs] if isinstance(needs, str) else needs:
                assert need in doc["jobs"], f"{wf}:{job_id} needs unknown job {need}"
    deploy = next(
        doc for doc in workflows(root).values() if any(j.get("environment") in specs for j in doc["jobs"].values())
    )
    for name in specs:
        preflight = deploy["jobs"][f"preflight-{name}"]
        assert {s.get("env", {}).get("STACK") for s in preflight["steps"]} >= {name}
        assert deploy["jobs"][name]["if"] == f"needs.preflight-{name}.outputs.ready == 'true'"


def test_edited_workflows_still_validate_against_the_github_schema(added: tuple[Path, dict]) -> None:
    root, _ = added
    files = [str(p) for p in sorted((root / ".github" / "workflows").glob("*.yml"))]
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_snapshots_are_written_and_current(added: tuple[Path, dict]) -> None:
    root, specs = added
    for name in specs:
        assert (root / "snapshots" / f"{name}.json").is_file()
        proc = run_cli(root, "preview", name, "--diff", "--quiet")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert f"{name}: no changes against the snapshot" in proc.stdout


# --------------------------------------------------------------------------- refusals
@pytest.fixture(scope="module")
def small_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repository(tmp_path_factory.mktemp("stack-add-errors"))


def _args(root: Path, **over: str) -> list[str]:
    source = stacks_by_tier(root)["staging"][0]
    base = {"name": UAT, "from": source, "tier": "staging", "account": NEW_ACCOUNT, "region": "eu-west-1"}
    base.update(over)
    out = ["stack", "add", base["name"], "--from", base["from"], "--tier", base["tier"]]
    out += ["--account", base["account"], "--region", base["region"], "--no-snapshot"]
    return out


def _run_here(root: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The CLI in this process (cheaper than a subprocess for refusals, which never reach the preview)."""
    from blueprint.cli import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLUEPRINT_PROJECT_DIR", str(root))
        code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"name": "UAT"}, "lowercase"),
        ({"name": "uat_1"}, "lowercase"),
        ({"name": "u" * 30}, "artifact bucket prefix"),
        ({"from": "no-such-stack"}, "no such stack"),
        ({"account": "12345"}, "12 digits"),
        ({"region": "mars-north"}, "not an AWS region"),
        ({"region": "xx-nowhere-9"}, "--availability-zones"),
        ({"tier": "qa"}, "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    small_copy: Path, over: dict[str, str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree(small_copy)
    code, _, err = _run_here(small_copy, _args(small_copy, **over), capsys)
    assert code == 2, err
    assert fragment in err
    assert len(err.strip().splitlines()) == 1, err
    assert tree(small_copy) == before


def test_an_existing_stack_is_not_overwritten(small_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = stacks_by_tier(small_copy)["dev"][0]
    before = tree(small_copy)
    code, _, err = _run_here(small_copy, _args(small_copy, name=existing), capsys)
    assert code == 2
    assert "already exists" in err
    assert tree(small_copy) == before


def test_dry_run_lists_the_files_and_writes_nothing(small_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(small_copy)
    code, out, err = _run_here(small_copy, [*_args(small_copy), "--dry-run"], capsys)
    assert code == 0, err
    assert f"would write stacks/Pulumi.{UAT}.yaml" in out
    assert "policy/config" not in out  # a new account, the tier's config as it is: no override to write
    assert tree(small_copy) == before
