"""The `blueprint preview` command: exit codes, JSON plan, secrets, snapshot diffs, config errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from blueprint.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from blueprint.preview import engine
from blueprint.stackfiles import SECRET_PLACEHOLDER
from infra.config import ConfigError
from tests.fixtures import PROJECT, STACKS, unused_stack_name

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the stack files that a test may edit; the program is still this checkout's."""
    (tmp_path / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for f in (ROOT / "stacks").glob("Pulumi.*.yaml"):
        shutil.copy(f, tmp_path / "stacks" / f.name)
    monkeypatch.setenv("BLUEPRINT_PROJECT_DIR", str(tmp_path))
    return tmp_path


def _edit(project: Path, stack: str, key: str, fn: object) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    fn(doc["config"][f"{PROJECT}:{key}"])  # type: ignore[operator]
    path.write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["preview"], "give one STACK or --all"),
        (["preview", "dev", "--all"], "give one STACK or --all"),
        (
            ["preview", unused_stack_name()],
            f"unknown stack '{unused_stack_name()}'; known stacks: {', '.join(STACKS)}",
        ),
        (["preview", "dev", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["deploy"], "invalid choice: 'deploy'"),
    ],
)
def test_usage_errors_exit_2_with_a_message(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err


def test_json_plan_has_the_documented_shape_and_no_secret(tmp_path: Path) -> None:
    out = tmp_path / "dev.json"
    assert main(["preview", "dev", "--json", str(out), "--quiet"]) == EXIT_OK
    text = out.read_text()
    doc = json.loads(text)
    assert {"stack", "project", "resources", "outputs"} <= set(doc)
    assert doc["stack"] == "dev"
    assert doc["project"] == PROJECT
    keys = {
        "urn",
        "type",
        "name",
        "parent",
        "provider",
        "inputs",
        "dependencies",
        "propertyDependencies",
        "protect",
        "retainOnDelete",
    }
    for r in doc["resources"]:
        assert keys <= set(r), r["urn"]
    vpc = next(r for r in doc["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    assert "$pulumi:providers:aws::aws::" in vpc["provider"], "resources use the explicit provider"
    assert SECRET_PLACEHOLDER not in text, "a secret value leaked into the plan"


def test_secret_config_reaches_resources_only_as_secrets(dev_plan: engine.Plan) -> None:
    """Every input that carries a secure config value is wrapped as a secret (masked in output)."""
    for r in dev_plan.resources:
        assert SECRET_PLACEHOLDER not in json.dumps(r.public()), r.urn


def test_invalid_config_exits_1_names_every_problem_and_registers_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def break_it(pools: dict) -> None:  # type: ignore[type-arg]
        pools["gpu-a10g"]["maxSzie"] = 3
        pools["gpu-a10g"]["minSize"] = -1

    _edit(project, "dev", "nodePools", break_it)
    path = project / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"][f"{PROJECT}:grafanaAdminPassword"] = "hunter2"
    path.write_text(yaml.safe_dump(doc))

    monitors: list[engine.RecordingMonitor] = []
    real = engine.RecordingMonitor

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, mocks: engine.PlatformMocks) -> None:
            super().__init__(mocks)
            monitors.append(self)

    monkeypatch.setattr(engine, "RecordingMonitor", Spy)
    assert main(["preview", "dev"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "stacks/Pulumi.dev.yaml: invalid configuration (3 problems)" in err
    assert f"{PROJECT}:nodePools.gpu-a10g.maxSzie: unknown key" in err
    assert f"{PROJECT}:nodePools.gpu-a10g.minSize" in err
    assert f"{PROJECT}:grafanaAdminPassword: is a secret" in err
    assert "Traceback" not in err
    assert "hunter2" not in err
    assert monitors
    assert monitors[0].records == [], "no resource may be registered when the config is invalid"


def test_run_stack_raises_config_error_for_bad_config(project: Path) -> None:
    _edit(project, "prod", "cluster", lambda c: c.update(endpointPublicAccess=True, publicAccessCidrs=[]))
    with pytest.raises(ConfigError, match=r"cluster\.publicAccessCidrs: a public endpoint needs an explicit allowlist"):
        engine.run_stack("prod")


def test_diff_against_snapshot_shows_creates_deletes_and_updated_paths(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "snapshots").mkdir()
    assert main(["preview", "dev", "--write-snapshots", "--quiet"]) == EXIT_OK
    assert (project / "snapshots" / "dev.json").exists()

    def change(net: dict) -> None:  # type: ignore[type-arg]
        net["flowLogRetentionDays"] = 30
        net["vpcEndpoints"] = False

    _edit(project, "dev", "network", change)
    capsys.readouterr()
    assert main(["preview", "dev", "--diff", "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert (
        f"~ urn:pulumi:dev::{PROJECT}::platform:index:Network$aws:cloudwatch/logGroup:LogGroup::network-flow-logs"
        in out
    )
    assert "retentionInDays" in out
    assert (
        f"- urn:pulumi:dev::{PROJECT}::platform:index:Network$aws:ec2/vpcEndpoint:VpcEndpoint::network-s3-endpoint"
        in out
    )


def test_diff_without_snapshot_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "dev", "--diff", "--quiet"]) == EXIT_ERROR
    assert "no snapshot" in capsys.readouterr().err


def test_human_output_is_plain_without_a_tty(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["preview", "dev"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "\x1b[" not in out, "no ANSI escapes without a TTY or with NO_COLOR"
    assert "aws:ec2/vpc:Vpc network-vpc" in out
    assert "resources to create" in out
