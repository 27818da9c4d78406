"""What a reviewer reads: `blueprint preview` output in a CI log (piped, not a terminal), `--quiet`, and
`--diff` as the PR comment shows it (title line, cost delta, old → new values, dependency-only changes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blueprint.cli import EXIT_OK, main
from blueprint.stackfiles import SECRET_PLACEHOLDER

ROOT = Path(__file__).resolve().parents[2]
STACK = "dev"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project's data (stack files, policy config) whose snapshot a test may edit."""
    root = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    shutil.copytree(ROOT / "policy" / "config", root / "policy" / "config")
    (root / "snapshots").mkdir()
    return root


def _resource(doc: dict[str, Any], urn: str) -> dict[str, Any]:
    return next(r for r in doc["resources"] if r["urn"] == urn)


@pytest.fixture(scope="module")
def edited(project: Path) -> dict[str, Any]:
    """The committed dev snapshot, edited so that against it the current program shows: one create (the
    resource with the longest URN, dropped from the base), one update of a plain value, one update of a
    secret, and one dependency-only update."""
    doc = json.loads((ROOT / "snapshots" / f"{STACK}.json").read_text())
    created = max(doc["resources"], key=lambda r: len(r["urn"]))
    doc["resources"].remove(created)
    logs = next(r for r in doc["resources"] if r["type"] == "aws:cloudwatch/logGroup:LogGroup")
    key = "retentionInDays"
    new_value = int(logs["inputs"][key])
    logs["inputs"][key] = new_value + 1
    secret = next(
        r for r in doc["resources"] if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"].get("stringData")
    )
    secret["inputs"]["stringData"] = {"password": "old-plaintext"}
    deps_only = next(
        r
        for r in doc["resources"]
        if r["dependencies"]
        and r not in (logs, secret)
        and r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    )
    deps_only["dependencies"] = deps_only["dependencies"][1:]
    (project / "snapshots" / f"{STACK}.json").write_text(json.dumps(doc))
    return {"created": created, "logs": logs, "key": key, "new": new_value, "secret": secret, "deps": deps_only}


def _cli(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI as CI runs it: stdout is a pipe, no COLUMNS, no terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TERM")}
    env["BLUEPRINT_PROJECT_DIR"] = str(project)
    return subprocess.run(
        [sys.executable, "-m", "blueprint", "preview", STACK, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture(scope="module")
def piped_diff(project: Path, edited: dict[str, Any]) -> str:
    proc = _cli(project, "--diff", "--no-policy")
    assert proc.returncode == EXIT_OK, proc.stderr
    return proc.stdout


def test_piped_output_keeps_long_names_whole(piped_diff: str, edited: dict[str, Any]) -> None:
    urn = edited["created"]["urn"]
    assert len(urn) > 80
    assert f"  + {urn}\n" in piped_diff, "the longest URN is printed whole on its line"
    # The tree names every resource by type and name, on one line, never cut with an ellipsis.
    created = edited["created"]
    assert f"+ {created['type']} {created['name']}" in piped_diff
    assert "…" not in "".join(line for line in piped_diff.splitlines() if line.lstrip().startswith(("│", "├", "└")))


def test_the_diff_leads_with_a_title_then_the_cost_delta(piped_diff: str, edited: dict[str, Any]) -> None:
    lines = piped_diff.splitlines()
    logs, key = edited["logs"], edited["key"]
    assert lines[0].startswith(f"{STACK}: 1 to create, 2 to update ("), lines[0]
    assert f"{logs['name']}: inputs" not in lines[0]
    assert f"{logs['name']}: {key}" in lines[0] or f"{edited['secret']['name']}: stringData" in lines[0]
    assert lines[1].startswith("cost: idle "), lines[1]
    # The tree and summary come after the changes.
    assert piped_diff.index("resources in the plan") > piped_diff.index(f"  + {edited['created']['urn']}")


def test_updates_show_old_and_new_values_with_secrets_masked(piped_diff: str, edited: dict[str, Any]) -> None:
    logs, key, new = edited["logs"], edited["key"], edited["new"]
    assert f"  ~ {logs['urn']}\n      {key}: {new + 1} → {new}\n" in piped_diff
    secret_block = piped_diff.split(f"  ~ {edited['secret']['urn']}\n", 1)[1].split("\n  ", 1)[0]
    assert secret_block.strip().startswith("stringData:"), secret_block
    assert secret_block.rstrip().endswith("→ [secret]"), secret_block
    assert SECRET_PLACEHOLDER not in piped_diff


def test_dependency_only_changes_are_hidden_unless_asked_for(
    piped_diff: str,
    edited: dict[str, Any],
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deps = edited["deps"]["urn"]
    assert deps not in piped_diff
    assert "(1 dependency-only update(s) hidden" in piped_diff
    monkeypatch.setenv("BLUEPRINT_PROJECT_DIR", str(project))
    assert main(["preview", STACK, "--diff", "--quiet", "--no-policy", "--show-dependency-changes"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"{STACK}: 1 to create, 3 to update ("), out.splitlines()[0]
    assert f"  ~ {deps}\n      (dependencies): [" in out
    assert "hidden" not in out


def test_quiet_prints_the_summary_and_findings_but_no_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", STACK, "--quiet"]) in (EXIT_OK, 1)
    out = capsys.readouterr().out
    assert "aws:ec2/vpc:Vpc network-vpc" not in out, "no tree"
    assert "resources to create" in out
    assert "policy pack " in out
    assert out.count("\nanalyses: ") + out.startswith("analyses: ") == 1
    assert "cost: idle $" in out
    assert "deploy time: cold `pulumi up`" in out
    assert "critical path:" not in out, "estimates: headline only"
    # Analyses without findings print nothing beyond the one summary line.
    for line in out.splitlines():
        if "; 0 finding(s)" in line:
            pytest.fail(f"quiet printed an analysis without findings: {line}")
