"""The issue's "Done when", end to end, in a temporary copy: fork, new accounts, two added stacks,
regenerated snapshots and docs, then a representative part of the suite *inside the copy* passes.

This is the test that keeps the rest of the suite honest: a test that pins the example's data
(accounts, org, project, the three stack names) fails here rather than in a fork.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import fixtures as fx
from tests.upkeep.conftest import NEW_PROJECT, NEW_REPOSITORY, copy_repository, run_cli, stack_config

# Parts of the suite that read the stacks, the workflows, the snapshots and the policy configs, and the tests
# that name stacks, roles or regions (a user's fork broke these: roles looked up by tier instead of stack, the
# README's `qa` used as the unknown stack, a copy placed in the region of a real stack, an example account
# used as "a new account").
SUBSET = (
    "tests/stacks",
    "tests/test_snapshots.py",
    "tests/delivery/test_workflows.py",
    "tests/policy/test_policies.py",
    "tests/components/test_iam_escalation.py",
    "tests/components/test_deploy_identity.py",
    "tests/test_cli.py::test_usage_errors_exit_2_with_a_message",
    "tests/ops/test_errors.py::test_usage_errors_exit_2_on_one_line",
    "tests/delivery/test_delivery_helper.py",
    # Not the language-host test: it runs the venv's installed package, which is this checkout's, not the copy's.
    "tests/test_project.py::test_pulumi_yaml_layout",
    "tests/test_project.py::test_stack_files_hold_secrets_only_as_secure_values",
    "tests/test_project.py::test_stack_loader_marks_secure_values_secret",
    "tests/upkeep/test_shared_account.py",
    "tests/upkeep/test_stack_add.py::test_dry_run_lists_the_files_and_writes_nothing",
)


def _accounts(root: Path) -> dict[str, str]:
    """Each stack's account id."""
    out = {}
    for path in sorted((root / "stacks").glob("Pulumi.*.yaml")):
        stack = path.name[7:-5]
        config = stack_config(root, stack)
        out[stack] = str(next(v for k, v in config.items() if k.endswith(":accountId")))
    return out


def _tier(root: Path, stack: str) -> str:
    config = stack_config(root, stack)
    return str(next(v for k, v in config.items() if k.endswith(":environment")))


def _move_accounts(root: Path) -> dict[str, str]:
    """A new account id per account, in the stack files only: the policy config derives the stack's registry
    (blueprint/preview/policy_config.py), so moving accounts needs no policy-config edit."""
    old = sorted(set(_accounts(root).values()))
    table = {a: f"{700000000000 + 111111 * (i + 1)}" for i, a in enumerate(old)}
    pattern = re.compile(rf"(?<!\d)({'|'.join(old)})(?!\d)")
    for path in (root / "policy" / "config").rglob("*.json"):
        assert not pattern.search(path.read_text()), f"{path} names an account"
    for path in (root / "stacks").glob("Pulumi.*.yaml"):
        text = path.read_text()
        path.write_text(pattern.sub(lambda m: table[m.group(1)], text))
    return table


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_repository(tmp_path_factory.mktemp("fork-scenario"))
    proc = run_cli(root, "fork", "--project", NEW_PROJECT, "--github-repository", NEW_REPOSITORY)
    assert proc.returncode == 0, proc.stderr
    _move_accounts(root)
    by_tier: dict[str, list[str]] = {}
    for stack in _accounts(root):
        by_tier.setdefault(_tier(root, stack), []).append(stack)
    prod = by_tier["prod"][0]
    # The README's own example names (`qa`, `prod-eu`), as a user follows it: stack names that are not tiers,
    # a staging-tier stack in a new account, and a prod-tier stack sharing prod's account in eu-central-1 (the
    # region the tests' own copies preferred before they learned to pick a free one).
    qa, prod_eu = fx.unused_stack_name("qa"), fx.unused_stack_name("prod-eu")
    adds = {
        qa: ["--from", by_tier["staging"][0], "--tier", "staging", "--account", "766655554444"],
        prod_eu: ["--from", prod, "--tier", "prod", "--account", _accounts(root)[prod]],
    }
    regions = {qa: "eu-west-1", prod_eu: fx.unused_region(fx.account(fx.PROD), "eu-central-1")}
    for name, args in adds.items():
        proc = run_cli(root, "stack", "add", name, *args, "--region", regions[name], "--no-snapshot")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = run_cli(root, "preview", "--all", "--write-snapshots", "--quiet")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(root), "BLUEPRINT_PROJECT_DIR": str(root)}
    docs = subprocess.run(
        [sys.executable, "-m", "blueprint", "docs"], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert docs.returncode == 0, docs.stderr[-3000:]
    return root


def test_the_suite_holds_in_a_forked_copy_with_new_accounts_and_added_stacks(scenario: Path) -> None:
    root = scenario
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BLUEPRINT_DEBUG")}
    # policy/ too: the pack's package is renamed by the fork, and this venv's editable install maps the old name.
    env.update(PYTHONPATH=f"{root}{os.pathsep}{root / 'policy'}", BLUEPRINT_PROJECT_DIR=str(root), NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-n", "2", "-p", "no:cacheprovider", *SUBSET],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary, summary
    assert "failed" not in summary, summary
