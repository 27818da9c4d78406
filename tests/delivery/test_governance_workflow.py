"""The deployment-record steps docs/governance.md gives for deploy.yml: schema-valid once merged into
every deploy job, injection-safe, and reading only step ids that exist."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from blueprint.records import main as records_main
from tests.delivery.test_workflows import load

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "governance.md"
BLOCK = re.compile(r"<!-- deploy-record-steps:begin -->\n```yaml\n(.*?)```\n<!-- deploy-record-steps:end -->", re.S)
STEP_REF = re.compile(r"steps\.([A-Za-z0-9_-]+)\.")


def snippet() -> dict[str, Any]:
    match = BLOCK.search(DOC.read_text())
    assert match, "docs/governance.md lost its deploy-record-steps block"
    return yaml.safe_load(match.group(1))


def deploy_jobs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: job for name, job in doc["jobs"].items() if "environment" in job}


def merged_workflow() -> dict[str, Any]:
    """deploy.yml with the documented steps added to each deploy job, as the integrator will add them."""
    doc = load(ROOT / ".github" / "workflows" / "deploy.yml")
    block = snippet()
    for name, job in deploy_jobs(doc).items():
        pulumi = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
        pulumi["id"] = "up"
        job["permissions"] = {**job.get("permissions", {}), **block["permissions"]}
        for step in copy.deepcopy(block["steps"]):
            for var in ("STACK", "ENVIRONMENT"):
                if var in step["env"]:
                    step["env"][var] = job["environment"] if var == "ENVIRONMENT" else name
            job["steps"].append(step)
    return doc


def test_merged_deploy_workflow_validates_against_the_github_schema(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yml"
    doc = merged_workflow()
    doc[True] = doc.pop("on")  # written back as the bare key `on`
    path.write_text(yaml.safe_dump(doc, sort_keys=False).replace("true:", "on:", 1))
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_steps_pass_expressions_through_env_and_read_existing_step_ids() -> None:
    doc = merged_workflow()
    assert deploy_jobs(doc)
    for job in deploy_jobs(doc).values():
        ids = {s["id"] for s in job["steps"] if "id" in s}
        for step in job["steps"][-2:]:
            assert "${{" not in step["run"]
            assert step["if"].startswith("always()"), "the record is written when up fails too"
            refs = set(STEP_REF.findall(step["if"] + " ".join(map(str, step["env"].values()))))
            assert refs <= ids, refs - ids


def test_record_step_arguments_are_accepted_by_the_records_cli() -> None:
    """The flags the documented script passes exist (argparse exits 2 on an unknown flag)."""
    step = snippet()["steps"][0]
    line = next(ln for ln in step["run"].replace("\\\n", " ").splitlines() if "blueprint.records" in ln)
    flags = re.findall(r"(--[a-z-]+)", line)
    assert set(flags) == {"--environment", "--bucket", "--history", "--approvals", "--outcome"}
    code = records_main(
        ["write", "prod", "--environment", "prod", "--history", "", "--outcome", "success", "--dry-run"]
    )
    assert code == 0
