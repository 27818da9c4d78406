"""Deploy-path analysis: every CI job that runs Pulumi against a stack can reach that stack's cluster API.

A ``pulumi up``, ``preview`` or ``refresh`` of a stack with Kubernetes resources talks to the cluster's API
endpoint (the Kubernetes provider reads and applies objects; ``--refresh`` reads every one). The endpoint is
reachable from:

- inside the VPC, when the private endpoint is on and the cluster security group admits the caller on 443;
- anywhere, only when the public endpoint is on *and* its allowlist contains ``0.0.0.0/0``. GitHub-hosted
  runners draw their addresses from all of Azure's ranges, so no office allowlist contains them.

A job "runs Pulumi with credentials for a stack" when it assumes the stack's role through the ``aws-stack``
action (``with.stack``) and runs ``pulumi/actions`` with ``command`` up/update/preview/refresh/destroy or a
``pulumi up|preview|refresh|destroy`` command line. Its ``runs-on`` then has to be:

- ``codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}`` where ``<project>`` is a CodeBuild
  project of this plan with a ``vpcConfig`` in the cluster's VPC whose security group the cluster security
  group admits on 443 (``components/deploy_runner.py``); or
- a GitHub-hosted label, if the public endpoint admits ``0.0.0.0/0``.

``matrix.stack`` is expanded, so a matrix job is checked once per stack it lists; a matrix computed at run
time (``${{ fromJSON(...) }}``) may hold any stack, so it is checked for every stack file.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from blueprint.preview.analyses import AnalysisResult, Finding
from blueprint.preview.plan import Plan

NAME = "deploy-path"
PULUMI_COMMANDS = {"up", "update", "preview", "refresh", "destroy"}
_PULUMI_RUN = re.compile(r"\bpulumi\s+(up|update|preview|refresh|destroy)\b")
_CODEBUILD = re.compile(r"^codebuild-(.+)-\$\{\{\s*github\.run_id\s*\}\}-\$\{\{\s*github\.run_attempt\s*\}\}$")
_GITHUB_HOSTED = re.compile(r"^(ubuntu|windows|macos)-[\w.-]+$")
_MATRIX_STACK = re.compile(r"\$\{\{\s*matrix\.stack\s*\}\}")
HTTPS = 443.0


@dataclass(frozen=True)
class Endpoint:
    """How the stack's cluster API endpoint can be reached."""

    private: bool
    public: bool
    public_cidrs: tuple[str, ...]
    security_group: str
    vpc: str


@dataclass(frozen=True)
class Job:
    """One workflow job instance (one matrix leg) that runs Pulumi with a stack's credentials."""

    workflow: str
    job: str
    runs_on: tuple[str, ...]

    def label(self) -> str:
        return f".github/workflows/{self.workflow} job {self.job}"


def analyse(plan: Plan, root: Path) -> AnalysisResult:
    """Check every credentialed Pulumi job of ``plan.stack`` against how its cluster endpoint is reachable."""
    result = AnalysisResult(NAME)
    endpoint = _endpoint(plan)
    jobs = list(credentialed_jobs(root, plan.stack))
    result.checked = {"workflow jobs": len(jobs)}
    if endpoint is None or not any(r.type.startswith("kubernetes:") for r in plan.resources):
        return result  # nothing in this plan talks to a cluster API
    runners = in_vpc_runners(plan, endpoint)
    for job in jobs:
        problem = _unreachable(job, endpoint, runners)
        if problem:
            rule, fix = problem
            result.findings.append(Finding(NAME, job.label(), rule, fix))
    return result


def _endpoint(plan: Plan) -> Endpoint | None:
    clusters = plan.by_type("aws:eks/cluster:Cluster")
    if len(clusters) != 1:
        return None
    vpc = clusters[0].inputs.get("vpcConfig") or {}
    out = clusters[0].outputs.get("vpcConfig") or clusters[0].outputs.get("vpc_config") or {}
    subnets = set(vpc.get("subnetIds") or [])
    vpc_id = next(
        (s.outputs.get("vpcId") or s.inputs.get("vpcId") for s in _subnets(plan) if s.outputs.get("id") in subnets), ""
    )
    return Endpoint(
        private=vpc.get("endpointPrivateAccess", True) is not False,
        public=vpc.get("endpointPublicAccess", True) is not False,
        # EKS's default allowlist is 0.0.0.0/0 when the public endpoint is on and none is given.
        public_cidrs=tuple(vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]),
        security_group=str(out.get("clusterSecurityGroupId") or out.get("cluster_security_group_id") or ""),
        vpc=str(vpc_id or ""),
    )


def _subnets(plan: Plan) -> list[Any]:
    return plan.by_type("aws:ec2/subnet:Subnet")


def in_vpc_runners(plan: Plan, endpoint: Endpoint) -> dict[str, str]:
    """CodeBuild project name -> why it cannot reach the endpoint ("" when it can)."""
    admitted = {
        r.inputs.get("referencedSecurityGroupId")
        for r in plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs.get("securityGroupId") == endpoint.security_group
        and r.inputs.get("ipProtocol") in ("tcp", "-1")
        and (r.inputs.get("ipProtocol") == "-1" or r.inputs.get("fromPort", 0) <= HTTPS <= r.inputs.get("toPort", 0))
    }
    runners: dict[str, str] = {}
    for project in plan.by_type("aws:codebuild/project:Project"):
        name = str(project.inputs.get("name") or project.name)
        vpc = project.inputs.get("vpcConfig") or {}
        if not endpoint.private:
            runners[name] = "the cluster's private endpoint is off"
        elif not vpc:
            runners[name] = "the CodeBuild project has no vpcConfig, so its builds run outside the VPC"
        elif endpoint.vpc and vpc.get("vpcId") != endpoint.vpc:
            runners[name] = f"its builds run in {vpc.get('vpcId')}, not in the cluster's VPC {endpoint.vpc}"
        elif not admitted & set(vpc.get("securityGroupIds") or []):
            runners[name] = "the cluster security group admits none of its security groups on 443"
        else:
            runners[name] = ""
    return runners


def _unreachable(job: Job, endpoint: Endpoint, runners: dict[str, str]) -> tuple[str, str] | None:
    """(rule, fix) when the job's runner cannot reach the endpoint, else None."""
    fix = (
        "run the job on the stack's in-VPC runner: `runs-on: codebuild-<project>-${{ github.run_id }}-"
        "${{ github.run_attempt }}` with the project components/deploy_runner.py creates "
        "(delivery.deployRunner in stacks/Pulumi.<stack>.yaml; ADR 0008)"
    )
    open_to_all = endpoint.public and "0.0.0.0/0" in endpoint.public_cidrs
    labels = " ".join(job.runs_on) or "(no runs-on)"
    match = _CODEBUILD.match(job.runs_on[0]) if job.runs_on else None
    if match:
        why = runners.get(match.group(1))
        if why is None:
            return f"runs on CodeBuild project {match.group(1)!r}, which this stack does not create.", fix
        if why and not open_to_all:
            return f"runs on CodeBuild project {match.group(1)!r}, which cannot reach the API endpoint: {why}.", fix
        return None
    if all(_GITHUB_HOSTED.match(label) for label in job.runs_on) and job.runs_on:
        if open_to_all:
            return None
        where = f"public only to {', '.join(endpoint.public_cidrs)}" if endpoint.public else "private-only"
        return f"runs on GitHub-hosted {labels}, but the cluster API endpoint is {where}.", fix
    if open_to_all:
        return None
    return f"runs on {labels}, which is not known to reach the cluster's API endpoint.", fix


def credentialed_jobs(root: Path, stack: str) -> Iterator[Job]:
    """Every job instance in ``.github/workflows`` that runs Pulumi with ``stack``'s credentials."""
    for path in sorted((root / ".github" / "workflows").glob("*.y*ml")):
        doc = _load(path, path.stat().st_mtime_ns)
        for job_id, job in (doc.get("jobs") or {}).items():
            if not isinstance(job, dict) or "steps" not in job:
                continue
            matrix = ((job.get("strategy") or {}).get("matrix") or {}).get("stack")
            legs: list[str | None] = [None]
            if isinstance(matrix, list):
                legs = [str(s) for s in matrix]
            elif isinstance(matrix, str) and "${{" in matrix:
                legs = [p.name[len("Pulumi.") : -len(".yaml")] for p in sorted((root / "stacks").glob("Pulumi.*.yaml"))]
            for leg in legs:
                inst = _expand(job, leg) if leg else job
                if _assumes(inst, stack) and _runs_pulumi(inst):
                    runs_on = inst.get("runs-on") or []
                    labels = (runs_on,) if isinstance(runs_on, str) else tuple(str(x) for x in runs_on)
                    yield Job(path.name, f"{job_id} ({leg})" if leg else job_id, labels)


@functools.lru_cache(maxsize=64)
def _load(path: Path, mtime_ns: int) -> dict[str, Any]:
    """A workflow file, parsed once per process (every stack of ``preview --all`` reads the same files)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader) or {}  # noqa: S506 - a safe loader


def _expand(value: Any, stack: str) -> Any:
    if isinstance(value, str):
        return _MATRIX_STACK.sub(stack, value)
    if isinstance(value, dict):
        return {k: _expand(v, stack) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, stack) for v in value]
    return value


def _assumes(job: dict[str, Any], stack: str) -> bool:
    return any(
        s.get("uses") == "./.github/actions/aws-stack" and str((s.get("with") or {}).get("stack")) == stack
        for s in job["steps"]
    )


def _runs_pulumi(job: dict[str, Any]) -> bool:
    for step in job["steps"]:
        action = str(step.get("uses", "")).startswith("pulumi/actions@")
        if action and str((step.get("with") or {}).get("command", "")) in PULUMI_COMMANDS:
            return True
        if _PULUMI_RUN.search(str(step.get("run", ""))):
            return True
    return False
