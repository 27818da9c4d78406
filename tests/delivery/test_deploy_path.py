"""The deploy-path analysis: every job that runs Pulumi with a stack's credentials can reach its cluster API."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from blueprint.preview.analyses import ANALYSES, run_all
from blueprint.preview.analyses.deploy_path import NAME, analyse, credentialed_jobs
from blueprint.preview.plan import Plan
from infra.config import runner_project_name
from tests import fixtures as fx
from tests.conftest import ROOT, STACKS, plan_for
from tests.fixtures import PROJECT

CHECKOUT = {"uses": "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"}


def write_workflow(root: Path, jobs: dict[str, Any]) -> Path:
    """A project root whose only workflow holds ``jobs``."""
    wf = root / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "deploy.yml").write_text(yaml.safe_dump({"name": "deploy", "on": {"push": {}}, "jobs": jobs}))
    return root


def up_job(runs_on: Any, stack: str = "${{ matrix.stack }}", matrix: list[str] | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {
        "runs-on": runs_on,
        "steps": [
            CHECKOUT,
            {"uses": "./.github/actions/aws-stack", "with": {"stack": stack, "role": "deploy"}},
            {"uses": "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d", "with": {"command": "up"}},
        ],
    }
    if matrix:
        job["strategy"] = {"matrix": {"stack": matrix}}
    return job


def with_cluster(plan: Plan, **vpc: Any) -> Plan:
    """A copy of ``plan`` whose EKS cluster has other endpoint settings."""
    clone = copy.deepcopy(plan)
    (cluster,) = clone.by_type("aws:eks/cluster:Cluster")
    cluster.inputs["vpcConfig"] = {**cluster.inputs["vpcConfig"], **vpc}
    return clone


def test_the_analysis_is_registered_and_runs_in_the_preview() -> None:
    assert "blueprint.preview.analyses.deploy_path" in ANALYSES
    assert NAME in run_all(plan_for(STACKS[0]), ROOT)


@pytest.mark.parametrize("stack", STACKS)
def test_every_committed_stack_has_no_deploy_path_finding(stack: str) -> None:
    result = analyse(plan_for(stack), ROOT)
    assert result.findings == []
    # deploy, drift and the credentialed preview each run Pulumi for every stack.
    assert result.checked["workflow jobs"] == 3
    assert {j.workflow for j in credentialed_jobs(ROOT, stack)} == {"deploy.yml", "drift.yml", "preview.yml"}


def test_a_private_cluster_deployed_from_ubuntu_latest_is_a_finding(tmp_path: Path) -> None:
    plan = with_cluster(plan_for(fx.PROD), endpointPublicAccess=False)
    root = write_workflow(tmp_path, {"deploy": up_job("ubuntu-latest", stack=fx.PROD)})
    (finding,) = analyse(plan, root).findings
    assert finding.analysis == "deploy-path"
    assert finding.object == ".github/workflows/deploy.yml job deploy"
    assert "GitHub-hosted ubuntu-latest" in finding.rule
    assert "private-only" in finding.rule
    assert "codebuild-<project>" in finding.fix
    assert finding.blocking


def test_an_office_allowlist_does_not_admit_github_hosted_runners(tmp_path: Path) -> None:
    root = write_workflow(tmp_path, {"up": up_job("ubuntu-24.04", matrix=[fx.DEV])})
    (finding,) = analyse(plan_for(fx.DEV), root).findings
    assert finding.object == f".github/workflows/deploy.yml job up ({fx.DEV})"
    assert "public only to 203.0.113.0/24" in finding.rule


def test_a_public_endpoint_open_to_everyone_is_reachable_from_github_hosted_runners(tmp_path: Path) -> None:
    plan = with_cluster(plan_for(fx.DEV), endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
    root = write_workflow(tmp_path, {"up": up_job("ubuntu-latest", matrix=[fx.DEV])})
    assert analyse(plan, root).findings == []


def test_the_stacks_own_codebuild_runner_reaches_a_private_endpoint(tmp_path: Path) -> None:
    label = f"codebuild-{runner_project_name(fx.PROD)}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
    root = write_workflow(tmp_path, {"up": up_job(label, stack=fx.PROD)})
    assert analyse(plan_for(fx.PROD), root).findings == []
    # Another stack's runner lives in another account and VPC.
    other = label.replace(f"-{fx.PROD}-", f"-{fx.STAGING}-")
    root2 = write_workflow(tmp_path / "b", {"up": up_job(other, stack=fx.PROD)})
    (finding,) = analyse(plan_for(fx.PROD), root2).findings
    assert "which this stack does not create" in finding.rule


def test_a_runner_the_cluster_security_group_does_not_admit_is_a_finding(tmp_path: Path) -> None:
    plan = copy.deepcopy(plan_for(fx.STAGING))
    plan.resources = [
        r for r in plan.resources if r.type != "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    ]
    label = f"codebuild-{runner_project_name(fx.STAGING)}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
    root = write_workflow(tmp_path, {"up": up_job(label, stack=fx.STAGING)})
    (finding,) = analyse(plan, root).findings
    assert "admits none of its security groups on 443" in finding.rule


def test_jobs_without_credentials_or_pulumi_are_not_checked(tmp_path: Path) -> None:
    offline = {"runs-on": "ubuntu-latest", "steps": [CHECKOUT, {"run": "make preview STACK=prod"}]}
    preflight = up_job("ubuntu-latest", stack=fx.PROD)
    preflight["steps"][-1] = {"run": ".venv/bin/blueprint preflight prod"}
    drift = up_job("ubuntu-latest", stack=fx.PROD)
    drift["steps"][-1] = {"run": "pulumi preview --stack prod --refresh --expect-no-changes"}
    root = write_workflow(tmp_path, {"offline": offline, "preflight": preflight, "drift": drift})
    result = analyse(plan_for(fx.PROD), root)
    assert result.checked["workflow jobs"] == 1
    assert [f.object for f in result.findings] == [".github/workflows/deploy.yml job drift"]


def test_the_committed_workflows_before_this_design_would_fail(tmp_path: Path) -> None:
    # The workflows every job of which ran on ubuntu-24.04: the regression the analysis exists for.
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")  # run-time matrices may hold any stack
    for path in (tmp_path / ".github" / "workflows").glob("*.yml"):
        text = path.read_text()
        for stack_expr in ("${{ matrix.stack }}", *STACKS):
            label = f"codebuild-{PROJECT}-deployer-{stack_expr}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
            text = text.replace(label, "ubuntu-24.04")
        path.write_text(text)
    assert [len(analyse(plan_for(s), tmp_path).findings) for s in STACKS] == [3] * len(STACKS)
