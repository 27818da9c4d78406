"""Project layout: Pulumi.yaml against Pulumi's schema, declared keys, stack files, and the language host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from blueprint.stackfiles import load_stack, stack_names
from infra.config import OPTIONAL_SECRET_KEYS, SECRET_KEYS, ConfigError, PlatformConfig
from infra.config import PROJECT as PROGRAM_PROJECT
from tests import fixtures as fx

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "schemas" / "pulumi-project.schema.json"
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def test_pulumi_yaml_validates_against_pulumis_project_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(PROJECT)


def test_pulumi_yaml_layout() -> None:
    # The program's own constant (physical names, config namespace) is the project's name: `blueprint fork`
    # renames both, and a program that disagrees would read no config.
    assert PROJECT["name"] == PROGRAM_PROJECT == fx.PROJECT
    assert PROJECT["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert PROJECT["main"] == "infra/"
    assert PROJECT["stackConfigDir"] == "stacks"
    assert set(PROJECT["template"]["config"]) <= set(PROJECT["config"])


def test_every_config_key_the_program_reads_is_declared_with_a_description() -> None:
    declared = PROJECT["config"]
    fields = {f.alias or n: f for n, f in PlatformConfig.model_fields.items()}
    assert set(declared) == set(fields)
    for key, decl in declared.items():
        assert decl.get("description"), key
        assert decl.get("secret", False) == (key in SECRET_KEYS), key
        # The CLI requires a value for every declared key without a default.
        optional_secret = key in OPTIONAL_SECRET_KEYS
        assert ("default" in decl) == (not fields[key].is_required() and (key not in SECRET_KEYS or optional_secret)), (
            key
        )
        if optional_secret:
            assert decl["default"] == "", key  # "" is "not set" for the config model


@pytest.mark.parametrize("stack", stack_names(ROOT))
def test_stack_files_hold_secrets_only_as_secure_values(stack: str) -> None:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    assert "environment" not in doc, "ESC environments need Pulumi Cloud; the backend is self-managed"
    for key in SECRET_KEYS:
        value = doc["config"].get(f"{fx.PROJECT}:{key}")
        if value is None and key in OPTIONAL_SECRET_KEYS:
            continue
        assert isinstance(value, dict), f"{key} must be set"
        assert set(value) == {"secure"}, f"{key} must be a secure: value"


def test_stack_loader_marks_secure_values_secret() -> None:
    settings = load_stack(fx.DEV, ROOT)
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{fx.DEV}.yaml").read_text())["config"]
    # dev does not page, so it leaves the optional PagerDuty key unset (Pulumi.yaml default ""); it runs
    # every CI backend, so it sets their optional credentials.
    ns = f"{fx.PROJECT}:"
    assert f"{ns}alertmanagerPagerdutyRoutingKey" not in doc
    expected = {f"{ns}{k}" for k in SECRET_KEYS if k not in OPTIONAL_SECRET_KEYS or f"{ns}{k}" in doc}
    assert set(settings.secret_keys) == expected
    assert settings.config[f"{ns}protectStatefulResources"] == "false"
    assert json.loads(settings.config[f"{ns}network"])["natGateways"] == "single"


def test_stack_loader_refuses_esc_environment_and_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "stacks" / "Pulumi.x.yaml").write_text("environment: [platform/dev]\nconfg: {}\nconfig: {}\n")
    with pytest.raises(ConfigError) as info:
        load_stack("x", tmp_path)
    paths = {p.path for p in info.value.problems}
    assert paths == {"environment", "confg"}
    assert "Pulumi Cloud" in str(info.value)


def test_stack_loader_reports_yaml_errors_with_line(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "stacks" / "Pulumi.x.yaml").write_text("config:\n  a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"^stacks/Pulumi.x.yaml: is not valid YAML at line 3: [^\n]*$"):
        load_stack("x", tmp_path)


def test_program_runs_like_the_language_host_without_the_repo_on_sys_path(tmp_path: Path) -> None:
    """Pulumi runs `runpy.run_path("infra")`: only infra/ is on sys.path, so packages must be installed."""
    script = textwrap.dedent(
        f"""
        import sys
        root = {str(ROOT)!r}
        assert root not in sys.path and "" not in sys.path, sys.path
        from blueprint.preview.engine import run_stack
        plan = run_stack("dev")
        assert root not in [p for p in sys.path if p != root + "/infra"]
        print(len(plan.resources))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BLUEPRINT_PROJECT_DIR")}
    env["BLUEPRINT_PROJECT_DIR"] = str(ROOT)  # stack files from this checkout; code from the install
    proc = subprocess.run(
        [sys.executable, "-P", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip().splitlines()[-1]) > 10
