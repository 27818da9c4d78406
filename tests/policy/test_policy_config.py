"""Policy config: tier file + optional stack file + derived registry/region, merged by one function.

Each error is one line naming the file and the key, exit 2, no traceback, before any stack runs. The example
data (stacks, tiers, accounts) comes from tests/fixtures.py; the projects here are temporary copies of
``Pulumi.yaml``, ``stacks/`` and ``policy/config/`` (the program and the pack are this checkout's).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from blueprint.cli import EXIT_USAGE, main
from blueprint.preview.policy_config import DERIVED_KEYS, LEVELS, REGION_POLICY, REGISTRY_POLICY, dump, merge, merged
from tests.fixtures import ACCOUNTS, DEV, FOREIGN_ACCOUNT, PROJECT, STACKS, account, region, tier
from tests.policy.cases_common import PROVIDER, container, dep, deployment, pod
from tests.policy.harness import R, messages

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policy").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copytree(ROOT / "policy" / "config", tmp_path / "policy" / "config")
    monkeypatch.setenv("BLUEPRINT_PROJECT_DIR", str(tmp_path))
    return tmp_path


def _tier_file(root: Path, stack: str = DEV) -> Path:
    return root / "policy" / "config" / "tiers" / f"{tier(stack)}.json"


def _stack_file(root: Path, stack: str = DEV) -> Path:
    path = root / "policy" / "config" / "stacks" / f"{stack}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _without_derived(entry: Any) -> Any:
    if isinstance(entry, str):
        return entry
    rest = {k: v for k, v in entry.items() if k not in DERIVED_KEYS}
    return rest["enforcementLevel"] if set(rest) == {"enforcementLevel"} else rest


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USAGE, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


# --------------------------------------------------------------------------- layout
def test_every_stack_has_a_tier_file_and_every_stack_file_a_stack() -> None:
    for stack in STACKS:
        cfg = merged(stack, ROOT)
        assert cfg.tier_file == f"policy/config/tiers/{tier(stack)}.json"
        assert (ROOT / cfg.tier_file).is_file()
    for path in (ROOT / "policy" / "config" / "stacks").glob("*.json"):
        assert path.stem in STACKS


def test_config_files_are_sorted_comment_free_json_and_name_no_account() -> None:
    """One layout (``dump``) so merges of other branches' level changes stay line-local."""
    files = sorted((ROOT / "policy" / "config").rglob("*.json"))
    assert files
    for path in files:
        text = path.read_text()
        assert text == dump(json.loads(text)), f"{path}: not in the layout `dump` writes"
        for acct in ACCOUNTS:  # the stack's own registry is derived, never listed
            assert acct not in text, f"{path} names account {acct}"
    assert not list((ROOT / "policy" / "config").glob("*.json")), "only tiers/ and stacks/ hold config"


# --------------------------------------------------------------------------- merge
def test_stack_file_overrides_the_tier_level_and_settings_key_by_key(project: Path) -> None:
    tier_doc = json.loads(_tier_file(project).read_text())
    name, entry = next((k, v) for k, v in sorted(tier_doc.items()) if isinstance(v, dict) and len(v) > 2)
    settings = sorted(k for k in entry if k != "enforcementLevel")
    changed, kept = settings[0], settings[1]
    level = next(lv for lv in ("advisory", "mandatory") if lv != entry.get("enforcementLevel"))
    plain = next(k for k, v in sorted(tier_doc.items()) if isinstance(v, str) and k != "all")
    override = {name: {"enforcementLevel": level, changed: ["replaced"]}, plain: "disabled"}
    _stack_file(project).write_text(dump(override))

    doc = merged(DEV, project).doc
    assert doc[name]["enforcementLevel"] == level
    assert doc[name][changed] == ["replaced"]  # replaced, not appended
    assert doc[name][kept] == entry[kept]  # the tier's other settings still apply
    assert doc[plain] == "disabled"
    untouched = {k for k in tier_doc if k not in (name, plain)}
    assert {k: _without_derived(doc[k]) for k in untouched} == {k: tier_doc[k] for k in untouched}
    assert merged(DEV, project).files == [f"policy/config/tiers/{tier(DEV)}.json", f"policy/config/stacks/{DEV}.json"]
    # What `blueprint preview` prints before the stack's policy report: both files applied.
    assert merged(DEV, project).describe() == (
        f"policy config: policy/config/tiers/{tier(DEV)}.json (tier {tier(DEV)}) + policy/config/stacks/{DEV}.json"
    )


def test_a_level_alone_keeps_the_tier_settings() -> None:
    tier_doc = {"p": {"enforcementLevel": "mandatory", "max": 2}, "q": "advisory"}
    assert merge(tier_doc, {"p": "advisory", "q": {"max": 1}}) == {
        "p": {"enforcementLevel": "advisory", "max": 2},
        "q": {"enforcementLevel": "advisory", "max": 1},
    }


def test_the_stack_registry_and_region_are_derived_from_the_stack_file() -> None:
    for stack in STACKS:
        cfg = merged(stack, ROOT)
        registry = cfg.doc[REGISTRY_POLICY]
        assert registry["stackRegistry"] == f"{account(stack)}.dkr.ecr.{region(stack)}.amazonaws.com"
        assert cfg.doc[REGION_POLICY]["stackRegion"] == region(stack)
        assert registry["configFiles"] == {"stack": cfg.stack_file, "tier": cfg.tier_file}


def test_every_policy_that_declares_config_files_gets_them() -> None:
    from ai_platform_policies import ALL_POLICIES

    naming = [p.name for p in ALL_POLICIES if p.config_schema and "configFiles" in p.config_schema.properties]
    assert {REGISTRY_POLICY, REGION_POLICY, "eks-node-group-gpu-instance-allowlist"} <= set(naming)
    for stack in STACKS:
        cfg = merged(stack, ROOT)
        for name in naming:
            assert cfg.doc[name]["configFiles"] == {"stack": cfg.stack_file, "tier": cfg.tier_file}, name


def test_every_merged_config_validates_against_the_schemas_the_cli_checks() -> None:
    """The CLI validates each policy's settings against its schema (pulumi pkg/resource/analyzer/config.go
    ``validatePolicyConfig``: ``{"type": "object", "properties": ...}``), derived settings included."""
    import jsonschema

    from ai_platform_policies import ALL_POLICIES

    for stack in STACKS:
        doc = merged(stack, ROOT).doc
        for policy in ALL_POLICIES:
            entry = doc.get(policy.name)
            if policy.config_schema is None or not isinstance(entry, dict):
                continue
            schema = {"type": "object", "properties": policy.config_schema.properties}
            settings = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            jsonschema.validate(settings, schema)
            assert set(settings) <= set(policy.config_schema.properties), (stack, policy.name)


def test_policy_config_command_writes_the_merged_file(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / f"{DEV}.json"
    assert main(["policy-config", DEV, "--output", str(out)]) == 0
    assert out.read_text() == merged(DEV, project).text()
    assert json.loads(out.read_text())["all"] in LEVELS


# --------------------------------------------------------------------------- errors
def test_invalid_json_names_the_file_line_and_column(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tier_file(project).write_text('{\n  "all": "advisory",\n  "kms-key-rotation-enabled" "mandatory"\n}\n')
    err = _one_line_error(capsys, ["policy-config", DEV])
    assert f"policy/config/tiers/{tier(DEV)}.json: invalid JSON at line 3 column 30" in err


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"kms-key-rotation-enabled": "mandatroy"}, "kms-key-rotation-enabled"),
        ({REGISTRY_POLICY: {"enforcementLevel": "Mandatory"}}, f"{REGISTRY_POLICY}.enforcementLevel"),
        ({"all": "strict"}, "all"),
    ],
)
def test_an_enforcement_level_outside_the_sdk_set_names_the_key(
    project: Path, capsys: pytest.CaptureFixture[str], override: dict[str, Any], key: str
) -> None:
    _stack_file(project).write_text(dump(override))
    err = _one_line_error(capsys, ["policy-config", DEV])
    assert f"policy/config/stacks/{DEV}.json: {key}: " in err
    assert "advisory, mandatory, remediate, disabled" in err


def test_an_unknown_policy_name_is_refused_with_a_suggestion(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _stack_file(project).write_text(dump({"kms-key-rotation-enable": "mandatory"}))
    err = _one_line_error(capsys, ["policy-config", DEV])
    assert f"policy/config/stacks/{DEV}.json: kms-key-rotation-enable: no policy of that name" in err
    assert "did you mean kms-key-rotation-enabled?" in err


def test_a_derived_setting_cannot_be_set_by_hand(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _stack_file(project).write_text(dump({REGISTRY_POLICY: {"stackRegistry": "registry.example"}}))
    err = _one_line_error(capsys, ["policy-config", DEV])
    assert f"{REGISTRY_POLICY}.stackRegistry: derived from the stack file" in err


def test_a_stack_file_without_a_stack_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ghost = next(f"{DEV}-{n}" for n in range(100) if f"{DEV}-{n}" not in STACKS)
    _stack_file(project, ghost).write_text(dump({}))
    err = _one_line_error(capsys, ["policy-config", DEV])
    assert f"policy/config/stacks/{ghost}.json: no stack '{ghost}' (no stacks/Pulumi.{ghost}.yaml)" in err


def test_a_stack_whose_tier_has_no_file_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tier_file(project).unlink()
    err = _one_line_error(capsys, ["policy-config", DEV])
    assert (
        f"stacks/Pulumi.{DEV}.yaml: environment: tier '{tier(DEV)}' has no policy/config/tiers/{tier(DEV)}.json" in err
    )


def test_the_preview_refuses_a_bad_config_before_running_any_stack(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from blueprint.preview import command

    monkeypatch.setattr(command, "_plans", lambda *a, **k: pytest.fail("a stack ran"))
    _stack_file(project).write_text(dump({"kms-key-rotation-enabled": "warn"}))
    err = _one_line_error(capsys, ["preview", "--all", "--quiet"])
    assert f"policy/config/stacks/{DEV}.json: kms-key-rotation-enabled: " in err


# --------------------------------------------------------------------------- derivation
def _move(root: Path, stack: str, new_account: str) -> None:
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    old = str(doc["config"][f"{PROJECT}:accountId"])
    path.write_text(path.read_text().replace(old, new_account))


def _new_account() -> str:
    return next(a for a in (f"{n:012d}" for n in range(int(FOREIGN_ACCOUNT) - 1, 0, -1)) if a not in ACCOUNTS)


def test_a_stack_moved_to_a_new_account_pulls_from_its_own_registry_only(project: Path) -> None:
    new = _new_account()
    before = {p: p.read_bytes() for p in (project / "policy" / "config").rglob("*.json")}
    _move(project, DEV, new)
    cfg = merged(DEV, project)
    settings = {k: v for k, v in cfg.doc[REGISTRY_POLICY].items() if k != "enforcementLevel"}
    own = f"{new}.dkr.ecr.{region(DEV)}.amazonaws.com/vllm:1.0"
    outsider = f"{FOREIGN_ACCOUNT}.dkr.ecr.{region(DEV)}.amazonaws.com/vllm:1.0"
    assert messages(REGISTRY_POLICY, dep(deployment(pod(container(image=own)))), settings) == []
    (msg,) = messages(REGISTRY_POLICY, dep(deployment(pod(container(image=outsider)))), settings)
    # The fix is named in the files this stack's config comes from, never another stack's.
    assert f"policy/config/stacks/{DEV}.json (this stack only)" in msg
    assert f"policy/config/tiers/{tier(DEV)}.json (every stack of the tier)" in msg
    assert {p: p.read_bytes() for p in (project / "policy" / "config").rglob("*.json")} == before


def test_the_stack_region_is_allowed_without_being_listed(project: Path) -> None:
    cfg = merged(DEV, project)
    settings = {k: v for k, v in cfg.doc[REGION_POLICY].items() if k != "enforcementLevel"}
    elsewhere = {**settings, "allowedRegions": []}
    assert messages(REGION_POLICY, R(PROVIDER, {"region": region(DEV)}), elsewhere) == []
    (msg,) = messages(REGION_POLICY, R(PROVIDER, {"region": "ap-south-1"}), elsewhere)
    assert f"policy/config/stacks/{DEV}.json" in msg


def test_the_preview_of_a_moved_stack_names_the_files_and_has_no_mandatory_violation(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _move(project, DEV, _new_account())
    code = main(["preview", DEV, "--quiet"])
    out = capsys.readouterr().out
    assert (
        f"policy config: policy/config/tiers/{tier(DEV)}.json (tier {tier(DEV)}) + no policy/config/stacks/{DEV}.json"
        in out
    )
    assert ": 0 mandatory" in out, out[-3000:]
    assert REGISTRY_POLICY not in out
    assert REGION_POLICY not in out
    assert code == 0, out[-3000:]


def test_policy_config_of_an_unknown_stack_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from blueprint.cli import EXIT_USAGE, main

    name = next(n for n in ("no-such-stack", "no-such-stack-2") if n not in STACKS)
    assert main(["policy-config", name]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"unknown stack {name!r}" in err
    assert "\n" not in err.strip()
