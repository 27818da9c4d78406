"""The deployment-record steps of deploy.yml (docs/governance.md): in every deploy job, after `up` whatever its
outcome, injection-safe, reading only step ids that exist; and what their scripts do against stand-ins for
the Pulumi CLI, the GitHub API and the records module."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from blueprint.cli import main as blueprint_main
from tests.delivery.test_workflows import STACKS, load

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / ".github" / "scripts" / "deploy-record.sh"
STATUS = ROOT / ".github" / "scripts" / "deploy-status.sh"
STEP_REF = re.compile(r"steps\.([A-Za-z0-9_-]+)\.")


def deploy_jobs() -> dict[str, dict[str, Any]]:
    doc = load(ROOT / ".github" / "workflows" / "deploy.yml")
    return {name: job for name, job in doc["jobs"].items() if "environment" in job}


def test_every_deploy_job_records_its_deployment_after_up() -> None:
    jobs = deploy_jobs()
    assert set(jobs) == set(STACKS)
    for name, job in jobs.items():
        perms = job["permissions"]
        assert perms["actions"] == "read", name  # GET …/actions/runs/{run_id}/approvals
        assert perms["deployments"] == "write", name  # POST …/deployments/{id}/statuses
        steps = job["steps"]
        ids = {s["id"] for s in steps if "id" in s}
        up = next(i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("pulumi/actions@"))
        assert steps[up]["id"] == "up"
        record, status = steps[-2:]
        assert record["id"] == "record"
        assert record["run"] == ".github/scripts/deploy-record.sh"
        assert status["run"] == ".github/scripts/deploy-status.sh"
        assert record["env"]["STACK"] == name
        assert record["env"]["ENVIRONMENT"] == status["env"]["ENVIRONMENT"] == job["environment"]
        # Written when `up` fails too, but not when the job never got the deploy role's credentials.
        assert record["if"] == "always() && steps.aws.outcome == 'success'"
        assert status["if"] == "always() && steps.record.outputs.record != ''"
        for step in (record, status):
            assert step["env"]["OUTCOME"] == "${{ steps.up.outcome }}"
            refs = set(STEP_REF.findall(step["if"] + " ".join(map(str, step["env"].values()))))
            assert refs <= ids, refs - ids


def test_record_script_arguments_are_accepted_by_the_records_cli() -> None:
    """The flags the script passes exist (argparse exits 2 on an unknown flag)."""
    text = RECORD.read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if "blueprint records write" in ln)
    flags = re.findall(r"(--[a-z-]+)", line)
    assert set(flags) == {"--environment", "--bucket", "--history", "--approvals", "--outcome"}
    code = blueprint_main(
        ["records", "write", "prod", "--environment", "prod", "--history", "", "--outcome", "success", "--dry-run"]
    )
    assert code == 0


def fake_tools(tmp_path: Path, outputs: dict[str, str] | None, curl_fails: bool = False) -> tuple[Path, Path]:
    """A checkout with a stand-in `.venv/bin/blueprint`, and a PATH with stand-ins for `pulumi` and `curl`."""
    work, bin_ = tmp_path / "checkout", tmp_path / "bin"
    (work / ".venv" / "bin").mkdir(parents=True)
    bin_.mkdir()
    log = tmp_path / "calls"
    scripts = {
        work
        / ".venv"
        / "bin"
        / "blueprint": f'echo "blueprint $*" >> {log}\necho "record=s3://archive-1/deployments/prod/x.json"',
        bin_ / "pulumi": (
            f'echo "pulumi $*" >> {log}\n'
            'case "$*" in *"stack output"*) '
            + (f"echo '{json.dumps(outputs)}'" if outputs is not None else "echo 'error: no backend' >&2; exit 255")
            + ";; *\"stack history\"*) echo '[]';; esac"
        ),
        bin_ / "curl": f'echo "curl $*" >> {log}\n'
        + (
            "exit 22"
            if curl_fails
            else 'case "$*" in *"/deployments?"*|*"-G"*) echo \'[{"id": 77}]\';; *) echo \'[]\';; esac'
        ),
    }
    for path, body in scripts.items():
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return work, bin_


def run(script: Path, work: Path, bin_: Path, tmp_path: Path, env: dict[str, str]) -> tuple[int, str, str]:
    out = tmp_path / "github_output"
    out.write_text("")
    proc = subprocess.run(
        [str(script)],
        cwd=work,
        env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(out), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr, out.read_text()


RECORD_ENV = {
    "STACK": "prod",
    "ENVIRONMENT": "prod",
    "OUTCOME": "failure",
    "BACKEND_URL": "s3://state?region=us-west-2&awssdk=v2",
    "GH_TOKEN": "t",
    "REPO": "acme/infra",
    "RUN_ID": "99",
}


def test_the_owner_of_the_archive_writes_a_record_even_when_up_failed(tmp_path: Path) -> None:
    work, bin_ = fake_tools(tmp_path, {"auditArchiveBucket": "archive-1", "artifactBucket": "a"})
    rc, log, output = run(RECORD, work, bin_, tmp_path, {**RECORD_ENV, "RUNNER_TEMP": str(tmp_path)})
    assert rc == 0, log
    calls = (tmp_path / "calls").read_text()
    assert "actions/runs/99/approvals" in calls
    record = next(ln for ln in calls.splitlines() if ln.startswith("blueprint "))
    assert "blueprint records write prod --environment prod --bucket archive-1" in record
    assert "--outcome failure" in record
    assert output == "record=s3://archive-1/deployments/prod/x.json\n"


def test_a_stack_without_its_own_archive_skips_the_record_with_a_notice(tmp_path: Path) -> None:
    work, bin_ = fake_tools(tmp_path, {"artifactBucket": "a"})  # audit.enabled: false exports no archive
    rc, log, output = run(RECORD, work, bin_, tmp_path, {**RECORD_ENV, "RUNNER_TEMP": str(tmp_path)})
    assert rc == 0, log
    assert "::notice title=prod: no deployment record::" in log
    assert "blueprint" not in (tmp_path / "calls").read_text()
    assert output == ""  # so the status step does not run


def test_an_unreadable_backend_fails_the_record_step(tmp_path: Path) -> None:
    work, bin_ = fake_tools(tmp_path, None)
    rc, log, output = run(RECORD, work, bin_, tmp_path, {**RECORD_ENV, "RUNNER_TEMP": str(tmp_path)})
    assert rc != 0
    assert "notice" not in log
    assert output == ""


def test_unreadable_approvals_are_a_warning_not_a_lost_record(tmp_path: Path) -> None:
    work, bin_ = fake_tools(tmp_path, {"auditArchiveBucket": "archive-1"}, curl_fails=True)
    rc, log, output = run(RECORD, work, bin_, tmp_path, {**RECORD_ENV, "RUNNER_TEMP": str(tmp_path)})
    assert rc == 0, log
    assert "::warning title=prod: approvals not read::" in log
    assert output.startswith("record=")


@pytest.mark.parametrize(
    ("outcome", "state"), [("success", "success"), ("failure", "failure"), ("cancelled", "failure")]
)
def test_status_step_posts_the_record_key_to_the_jobs_deployment(outcome: str, state: str, tmp_path: Path) -> None:
    work, bin_ = fake_tools(tmp_path, {})
    env = {
        "ENVIRONMENT": "prod",
        "OUTCOME": outcome,
        "RECORD": "s3://archive-1/deployments/prod/2026/03/03/x.json",
        "GH_TOKEN": "t",
        "REPO": "acme/infra",
        "SHA": "0123456789abcdef",
        "RUN_URL": "https://github.com/acme/infra/actions/runs/99",
        "GITHUB_API_URL": "https://api.github.com",
    }
    rc, log, _ = run(STATUS, work, bin_, tmp_path, env)
    assert rc == 0, log
    get, post = (tmp_path / "calls").read_text().splitlines()
    assert "https://api.github.com/repos/acme/infra/deployments" in get
    assert "environment=prod" in get
    assert "sha=0123456789abcdef" in get
    assert "https://api.github.com/repos/acme/infra/deployments/77/statuses" in post
    body = json.loads(post.split(" -d ", 1)[1])
    assert body == {
        "state": state,
        "environment": "prod",
        "log_url": env["RUN_URL"],
        "description": "record deployments/prod/2026/03/03/x.json",
    }
