"""Several stacks in one account: each account-wide singleton has exactly one owner (blueprint/singletons.py).

The scenarios copy the project's own stack files into a temporary directory and add a sibling stack in the
same account (and region), so they hold for any fork; the refusal runs from the stack files alone.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from blueprint import cli, singletons
from blueprint.preview import command
from tests.fixtures import PROD, PROJECT, ROOT, STACKS, account, region, unused_region

SINGLE = {s.section: s for s in singletons.SINGLETONS}


def _copy(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for stack in STACKS:
        shutil.copy(ROOT / "stacks" / f"Pulumi.{stack}.yaml", tmp_path / "stacks" / f"Pulumi.{stack}.yaml")
    return tmp_path


def _edit(root: Path, stack: str, new: str | None = None, **sections: dict[str, Any]) -> None:
    """Write ``new`` (or rewrite ``stack``) as ``stack``'s file with ``sections`` merged into its sections."""
    doc = yaml.safe_load((root / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    doc = copy.deepcopy(doc)
    for section, values in sections.items():
        key = f"{PROJECT}:{section}"
        if section in ("accountId", "region"):
            doc["config"][key] = values
            continue
        current = doc["config"].get(key) or {}
        doc["config"][key] = {**current, **values}
    (root / "stacks" / f"Pulumi.{new or stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return _copy(tmp_path)


def test_the_projects_stacks_have_one_owner_per_singleton() -> None:
    assert singletons.singleton_problems(ROOT) == []


def test_two_stacks_claiming_every_singleton_are_refused_naming_both_files_and_the_key(root: Path) -> None:
    _edit(root, PROD, "twin")  # the same account and region, every singleton left on
    problems = singletons.singleton_problems(root)
    assert len(problems) == len(singletons.SINGLETONS), problems
    for s, line in zip(singletons.SINGLETONS, problems, strict=True):
        assert "\n" not in line
        assert f"stacks/Pulumi.{PROD}.yaml and stacks/Pulumi.twin.yaml both create {s.what}" in line
        assert f"set {s.section}.{s.key}: false" in line
        assert f"account {account(PROD)}" in line
        # Never "switch off the deployed owner": the message says to keep it where it already exists.
        assert "keep it in the stack that already created it" in line
        if s.owned_by:
            assert f"{s.section}.{s.owned_by}: <the owner>" in line


def test_a_sibling_that_leaves_the_singletons_to_the_owner_passes(root: Path) -> None:
    _edit(
        root,
        PROD,
        "twin",
        delivery={"createOidcProvider": False},
        audit={"enabled": False, "ownedBy": PROD},
        registry={"createRegistrySettings": False, "registrySettingsOwnedBy": PROD},
    )
    assert singletons.singleton_problems(root) == []


def test_the_registry_settings_are_per_region(root: Path) -> None:
    other = unused_region(account(PROD))  # a region where the account has no stack: the twin owns its settings
    base = {"delivery": {"createOidcProvider": False}, "audit": {"enabled": False, "ownedBy": PROD}}
    _edit(root, PROD, "twin", region=other, **base)  # type: ignore[arg-type]
    assert singletons.singleton_problems(root) == []  # its own region's registry: it owns those settings
    _edit(root, "twin", registry={"createRegistrySettings": False, "registrySettingsOwnedBy": PROD})
    named, none = singletons.singleton_problems(root)
    assert named.startswith(f"stacks/Pulumi.twin.yaml: registry.registrySettingsOwnedBy: {PROD} is in account ")
    assert f"region {region(PROD)}, not account {account(PROD)} region {other}" in named
    assert none.startswith("stacks/Pulumi.twin.yaml: registry.createRegistrySettings is false but no stack of ")


@pytest.mark.parametrize(
    ("section", "settings", "expected"),
    [
        (
            "audit",
            {"enabled": False, "ownedBy": "nowhere"},
            "stacks/Pulumi.twin.yaml: audit.ownedBy: nowhere names no stack (no stacks/Pulumi.nowhere.yaml)",
        ),
        (
            "registry",
            {"createRegistrySettings": False, "registrySettingsOwnedBy": "nowhere"},
            "stacks/Pulumi.twin.yaml: registry.registrySettingsOwnedBy: nowhere names no stack",
        ),
    ],
)
def test_owned_by_must_name_an_existing_stack(root: Path, section: str, settings: dict, expected: str) -> None:
    others = {
        "delivery": {"createOidcProvider": False},
        "audit": {"enabled": False, "ownedBy": PROD},
        "registry": {"createRegistrySettings": False, "registrySettingsOwnedBy": PROD},
    }
    _edit(root, PROD, "twin", **{**others, section: settings})
    assert any(line.startswith(expected) for line in singletons.singleton_problems(root))


def test_owned_by_naming_a_stack_that_does_not_own_it_is_refused(root: Path) -> None:
    leave = {
        "delivery": {"createOidcProvider": False},
        "audit": {"enabled": False, "ownedBy": "twin"},
        "registry": {"createRegistrySettings": False, "registrySettingsOwnedBy": "twin"},
    }
    # Each names the other; prod still owns the OIDC provider, nobody owns the rest.
    _edit(root, PROD, "twin", **leave)  # type: ignore[arg-type]
    _edit(root, "twin", audit={"ownedBy": PROD}, registry={"registrySettingsOwnedBy": PROD})
    _edit(root, PROD, **{**leave, "delivery": {}})
    problems = singletons.singleton_problems(root)
    text = "\n".join(problems)
    assert f"stacks/Pulumi.{PROD}.yaml: audit.ownedBy: twin does not create the audit archive and trail" in text
    assert "stacks/Pulumi.twin.yaml: audit.ownedBy: " + PROD + " does not create" in text
    assert "registry.createRegistrySettings is false but no stack of account" in text
    assert all("\n" not in p for p in problems)


def test_a_non_owner_may_only_use_the_owners_pull_through_rules(root: Path) -> None:
    _edit(
        root,
        PROD,
        "twin",
        delivery={"createOidcProvider": False},
        audit={"enabled": False, "ownedBy": PROD},
        registry={
            "createRegistrySettings": False,
            "registrySettingsOwnedBy": PROD,
            "pullThroughCache": {"ecr-public": {}, "ghcr": {"credentialArn": "x"}},
        },
    )
    [line] = singletons.singleton_problems(root)
    assert f"registry.pullThroughCache uses ghcr, which stacks/Pulumi.{PROD}.yaml" in line


def test_preview_of_one_stack_refuses_before_any_engine_runs(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(root, PROD, "twin")
    monkeypatch.setenv("BLUEPRINT_PROJECT_DIR", str(root))

    def no_engine(*_a: object, **_k: object) -> Callable[..., object]:
        raise AssertionError("the refusal must come from the stack files alone")

    monkeypatch.setattr(command, "_plans", no_engine)
    assert cli.main(["preview", "twin"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"stacks/Pulumi.{PROD}.yaml and stacks/Pulumi.twin.yaml both create the GitHub OIDC provider" in err
    # A stack not involved previews as before (only the stacks named are checked without --all).
    other = next((s for s in STACKS if account(s) != account(PROD)), None)
    if other:
        assert singletons.singleton_problems(root, [other]) == []
    assert cli.main(["preview", "--all", "--quiet"]) == cli.EXIT_ERROR
