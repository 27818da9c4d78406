"""The GitHub workflows: schema-valid, pinned, least-privilege, fork-safe, and deploying in the README's order."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from blueprint.stackfiles import stack_names
from tests.fixtures import TIERS, tier

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
STACKS = stack_names(ROOT)
SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+){0,2}\s*$")

# Every write scope a job holds, and why. A new write grant fails this test until it is justified here.
ALLOWED_WRITES: dict[tuple[str, str], set[str]] = {
    ("preview.yml", "cloud"): {"id-token", "pull-requests"},  # OIDC preview role; pulumi/actions PR comment
    ("preview-comment.yml", "comment"): {"pull-requests"},  # the one offline-preview comment
    **{("deploy.yml", f"preflight-{s}"): {"id-token"} for s in STACKS},  # OIDC preview role (read-only)
    # OIDC deploy role of that stack; the deployment record's status on the job's GitHub deployment.
    **{("deploy.yml", s): {"id-token", "deployments"} for s in STACKS},
    ("drift.yml", "detect"): {"id-token"},  # OIDC preview role (read-only)
    ("drift.yml", "report"): {"issues"},  # the one drift issue
}


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def workflow(name: str) -> dict[str, Any]:
    return load(ROOT / ".github" / "workflows" / name)


def steps_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in doc:
        return list(doc["runs"].get("steps", []))
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def all_files() -> list[Path]:
    return WORKFLOWS + ACTIONS


def test_there_are_workflows_for_every_job_the_issue_names() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "preview.yml", "deploy.yml", "drift.yml"} <= names


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", WORKFLOWS),
        ("vendor.github-actions", ACTIONS),
        ("custom.github-workflows-require-timeout", WORKFLOWS),
        ("vendor.dependabot", [ROOT / ".github" / "dependabot.yml"]),
    ],
)
def test_files_validate_against_the_github_schemas(schema: str, files: list[Path]) -> None:
    # check-jsonschema ships these schemas (vendored from SchemaStore), so this runs offline.
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_third_party_action_is_pinned_to_a_commit_with_its_version(path: Path) -> None:
    lines = path.read_text().splitlines()
    uses_lines = [ln for ln in lines if re.match(r"^\s*(-\s+)?uses:", ln)]
    assert uses_lines, "no uses: found; the parser is wrong"
    for line in uses_lines:
        ref = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        if ref.startswith("./"):
            assert (ROOT / ref / "action.yml").is_file(), f"local action {ref} does not exist"
            continue
        assert SHA_PIN.match(ref), f"{path.name}: {ref} is not pinned to a full 40-hex commit SHA"
        assert VERSION_COMMENT.search(line), f"{path.name}: {ref} needs its version in a comment (# vX.Y.Z)"


def test_the_same_action_is_pinned_to_the_same_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in all_files():
        for step in steps_of(load(path)):
            uses = step.get("uses", "")
            if "@" in uses:
                name, sha = uses.split("@")
                pins.setdefault(name, set()).add(sha)
    assert pins
    assert {k: v for k, v in pins.items() if len(v) > 1} == {}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_read_only_at_the_top_and_granted_per_job(path: Path) -> None:
    doc = load(path)
    assert "write-all" not in path.read_text()
    assert "read-all" not in path.read_text()
    top = doc.get("permissions")
    assert isinstance(top, dict), "set top-level permissions explicitly ({} or contents: read)"
    assert all(v in ("read", "none") for v in top.values()), f"top-level permissions must be read-only: {top}"
    for job_id, job in doc["jobs"].items():
        perms = job.get("permissions", top)
        assert isinstance(perms, dict), f"{job_id}: permissions must be a mapping of scopes"
        writes = {scope for scope, level in perms.items() if level == "write"}
        assert writes <= ALLOWED_WRITES.get((path.name, job_id), set()), f"{job_id}: unexpected write scopes {writes}"


def _web_identity(step: dict[str, Any]) -> bool:
    """A step that hands a GitHub OIDC token to boto3 (AssumeRoleWithWebIdentity from the environment)."""
    return {"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} <= set(step.get("env") or {})


def test_only_jobs_that_assume_an_aws_role_get_an_oidc_token() -> None:
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            oidc = job.get("permissions", {}).get("id-token") == "write"
            assumes = any(
                s.get("uses") == "./.github/actions/aws-stack" or _web_identity(s) for s in job.get("steps", [])
            )
            assert oidc == assumes, f"{path.name}:{job_id}: id-token: write iff the job assumes an AWS role"


def test_no_long_lived_aws_keys() -> None:
    for path in all_files():
        text = path.read_text()
        for needle in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
            assert needle not in text, f"{path.name} uses {needle}; authenticate with OIDC (aws-stack action)"
    roles = [s for p in ACTIONS for s in steps_of(load(p)) if "configure-aws-credentials" in s.get("uses", "")]
    assert roles
    assert all("role-to-assume" in s["with"] for s in roles)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_privileged_triggers_never_check_out_pr_code(path: Path) -> None:
    doc = load(path)
    triggers = doc["on"] if isinstance(doc["on"], dict) else dict.fromkeys(doc["on"])
    if not {"pull_request_target", "workflow_run"} & set(triggers):
        return
    for step in steps_of(doc):
        assert "actions/checkout" not in step.get("uses", ""), f"{path.name} checks out code under a privileged trigger"
        assert "./" not in step.get("uses", ""), "a local action would run code from the checkout"


def test_pull_request_target_is_not_used() -> None:
    for path in WORKFLOWS:
        assert "pull_request_target" not in load(path)["on"], path.name


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_untrusted_expressions_inside_run_scripts(path: Path) -> None:
    # Template injection: a PR title or branch name in `run:` becomes shell code. Pass through env instead.
    for step in steps_of(load(path)):
        script = step.get("run", "") + step.get("with", {}).get("script", "")
        assert "${{" not in script, f"{path.name}: pass expressions to scripts through env: ({step.get('name')})"


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_checkout_does_not_persist_the_token(path: Path) -> None:
    for step in steps_of(load(path)):
        if "actions/checkout" in step.get("uses", ""):
            assert step.get("with", {}).get("persist-credentials") is False


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_has_a_timeout(path: Path) -> None:
    for job_id, job in load(path)["jobs"].items():
        assert 0 < job.get("timeout-minutes", 0) <= 180, f"{path.name}:{job_id}"


def _pulumi_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    return step


def deploy_order() -> list[str]:
    """The deploy jobs of deploy.yml in `needs` order, each needing exactly its own preflight and the previous deploy."""
    jobs = workflow("deploy.yml")["jobs"]
    deploys = {j: spec for j, spec in jobs.items() if not j.startswith("preflight-")}
    order: list[str] = []
    while len(order) < len(deploys):
        ready = [
            j for j, spec in deploys.items() if j not in order and set(spec["needs"]) == {f"preflight-{j}", *order[-1:]}
        ]
        assert len(ready) == 1, f"deploy jobs must form one chain after {order}; candidates: {ready}"
        order.append(ready[0])
    return order


def test_each_stack_deploys_after_its_own_preflight_and_the_previous_stack_only() -> None:
    # Issue 19 #4: a fail-fast preflight matrix made dev wait for staging's and prod's accounts.
    order = deploy_order()
    assert sorted(order) == sorted(STACKS)  # every stack deploys, once
    ranks = [TIERS.index(tier(s)) for s in order]
    assert ranks == sorted(ranks), f"a stack deploys before a stack of a lower tier: {order}"
    jobs = workflow("deploy.yml")["jobs"]
    assert set(jobs) == {*STACKS, *(f"preflight-{s}" for s in STACKS)}
    for stack in STACKS:
        pre = jobs[f"preflight-{stack}"]
        assert "needs" not in pre, "a preflight waits for nothing: another account must never block it"
        assert "strategy" not in pre
        # ready only when preflight ran and passed; a stack not handed over or not bootstrapped is skipped.
        assert pre["outputs"]["ready"] == "${{ steps.preflight.outputs.ready || 'false' }}"
        assert jobs[stack]["if"] == f"needs.preflight-{stack}.outputs.ready == 'true'"
        assert not any(s.get("uses") == "./.github/actions/aws-stack" for s in pre["steps"]), (
            "configure-aws-credentials fails on a missing OIDC provider or role before preflight can answer exit 3"
        )
        gate, token, preflight = (next(s for s in pre["steps"] if s.get("id") == "gate"), *pre["steps"][-2:])
        assert gate["env"] == {"STACK": stack, "PREVIEW_ROLE_ARN": "${{ vars.AWS_PREVIEW_ROLE_ARN }}"}
        assert '--preview-role-arn "$PREVIEW_ROLE_ARN"' in gate["run"]
        assert "audience=sts.amazonaws.com" in token["run"]
        assert '> "$RUNNER_TEMP/oidc-token"' in token["run"]
        assert preflight["id"] == "preflight"
        assert preflight["run"] == ".github/scripts/preflight.sh"
        assert preflight["env"]["STACK"] == stack
        assert preflight["env"]["AWS_ROLE_ARN"] == "${{ steps.gate.outputs.preview_role_arn }}"
        assert preflight["env"]["AWS_WEB_IDENTITY_TOKEN_FILE"] == "${{ runner.temp }}/oidc-token"
        for step in (token, preflight):
            assert step["if"] == "steps.gate.outputs.handed_over == 'true'"


@pytest.mark.parametrize(
    ("code", "ready", "job_rc", "notice"),
    [(0, "true", 0, False), (3, "false", 0, True), (1, None, 1, False), (2, None, 2, False)],
)
def test_preflight_step_turns_exit_3_into_a_skip_and_fails_on_anything_else(
    code: int, ready: str | None, job_rc: int, notice: bool, tmp_path: Path
) -> None:
    # blueprint/ops/preflight.py: 0 ready, 1 failure, 2 usage error, 3 not bootstrapped (EXIT_NOT_BOOTSTRAPPED).
    from blueprint.ops.preflight import EXIT_NOT_BOOTSTRAPPED

    assert EXIT_NOT_BOOTSTRAPPED == 3
    work = tmp_path / "checkout"
    (work / ".venv" / "bin").mkdir(parents=True)
    fake = work / ".venv" / "bin" / "blueprint"
    fake.write_text(f'#!/bin/sh\necho "$@ $AWS_ROLE_ARN $AWS_WEB_IDENTITY_TOKEN_FILE" > args\nexit {code}\n')
    fake.chmod(0o755)
    out = tmp_path / "github_output"
    out.write_text("")
    step = workflow("deploy.yml")["jobs"]["preflight-prod"]["steps"][-1]
    env = {
        "STACK": "prod",
        "AWS_ROLE_ARN": "arn:aws:iam::111111111111:role/preview",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "token"),
        "GITHUB_OUTPUT": str(out),
    }
    proc = subprocess.run(
        [str(ROOT / step["run"])], cwd=work, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    assert proc.returncode == job_rc, proc.stdout + proc.stderr
    assert (work / "args").read_text().split() == ["preflight", "prod", env["AWS_ROLE_ARN"], str(tmp_path / "token")]
    assert out.read_text() == (f"ready={ready}\n" if ready else "")
    assert ("::notice title=prod skipped::" in proc.stdout) is notice


def run_step(script: str, env: dict[str, str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run a workflow step's bash script from the repository root, as the runner would; returns (proc, GITHUB_OUTPUT)."""
    out = tmp_path / "github_output"
    out.write_text("")
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=ROOT,
        env={**os.environ, **env, "GITHUB_OUTPUT": str(out)},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc, out.read_text()


@pytest.mark.parametrize("handed_over", [True, False])
def test_preflight_gate_skips_a_stack_that_is_not_handed_over_with_a_notice(handed_over: bool, tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("needs the project's .venv (make .venv/.runtime)")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", project / "stacks")
    stack_file = project / "stacks" / "Pulumi.staging.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    for key in ("secretsprovider", "encryptedkey"):
        doc.pop(key, None)
    if handed_over:
        doc.update(secretsprovider="awskms://alias/pulumi-secrets?region=us-west-2", encryptedkey="AQICAHh...")
    stack_file.write_text(yaml.safe_dump(doc))
    gate = next(s for s in workflow("deploy.yml")["jobs"]["preflight-staging"]["steps"] if s.get("id") == "gate")
    env = {**gate["env"], "PREVIEW_ROLE_ARN": "", "BLUEPRINT_PROJECT_DIR": str(project)}  # variable unset
    proc, output = run_step(gate["run"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    facts = dict(line.split("=", 1) for line in output.splitlines())
    assert facts["handed_over"] == ("true" if handed_over else "false")
    assert facts["preview_role_arn"].startswith("arn:aws:iam::")  # the role preflight assumes with the token
    assert ("::notice title=staging skipped::" in proc.stdout) is not handed_over


@pytest.mark.parametrize("stack", STACKS)
def test_each_deploy_job_runs_in_its_environment_alone_with_the_policy_pack(stack: str) -> None:
    job = workflow("deploy.yml")["jobs"][stack]
    assert job["environment"] == stack  # the deploy role trusts only environment:<stack>
    assert job["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}
    aws = next(s for s in job["steps"] if s.get("uses") == "./.github/actions/aws-stack")
    assert aws["with"]["role"] == "deploy"
    assert aws["with"]["stack"] == stack
    up = _pulumi_step(job)["with"]
    assert up["command"] == "up"
    assert up["stack-name"] == stack
    assert up["policyPacks"] == "policy"
    assert up["policyPackConfigs"] == f"out/policy-config/{stack}.json"  # tests/delivery/test_policy_config_wiring.py
    # pulumi/actions passes `secrets-provider` only to LocalWorkspaceOptions, which matters only when it
    # creates a stack (`upsert`; pulumi/actions src/main.ts at v7.0.0). The provider comes from the
    # committed stack file, so neither input may appear: they would suggest otherwise.
    assert "secrets-provider" not in up
    assert "upsert" not in up


def credentialed_pulumi_jobs() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(workflow, job id, stack, job with matrix.stack expanded) for every job leg that runs Pulumi with credentials."""
    from blueprint.preview.analyses.deploy_path import _assumes, _expand, _runs_pulumi

    found = []
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            legs = job.get("strategy", {}).get("matrix", {}).get("stack") or [None]
            if isinstance(legs, str):  # computed at run time: may be any stack
                legs = STACKS
            for leg in legs:
                inst = _expand(job, leg) if leg else job
                for stack in STACKS:
                    if "steps" in inst and _assumes(inst, stack) and _runs_pulumi(inst):
                        found.append((path.name, job_id, stack, inst))
    return found


def test_one_concurrency_group_per_stack_across_deploy_drift_and_credentialed_preview() -> None:
    # Issue 19 #6: a drift refresh reading state in the middle of an `up` reports phantom drift.
    jobs = credentialed_pulumi_jobs()
    assert {wf for wf, *_ in jobs} == {"deploy.yml", "drift.yml", "preview.yml"}
    for wf, job_id, stack, job in jobs:
        assert job.get("concurrency") == {"group": f"pulumi-{stack}", "cancel-in-progress": False}, (wf, job_id, stack)
    for path in WORKFLOWS:
        top = load(path).get("concurrency")
        if top and path.name != "preview.yml":  # preview's per-PR group only cancels a superseded offline run
            assert not str(top["group"]).startswith("pulumi-"), path.name


def test_every_policy_pack_run_builds_the_pack_venv_first() -> None:
    # The CLI starts a local Python pack as <pack>/<virtualenv>/bin/python -u -m pulumi.policy and never
    # installs it (pulumi sdk/python/cmd/pulumi-language-python/main.go, RunPlugin: the analyzer branch
    # runs `tc.Command("-u", "-m", "pulumi.policy", ...)` with the pack's toolchain; only `pulumi install`
    # or `pulumi policy new` fill the venv). So every job that passes a pack must build policy/venv before.
    uses_pack = 0
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            for i, step in enumerate(job.get("steps", [])):
                if "policyPacks" in step.get("with", {}) or "--policy-pack" in step.get("run", ""):
                    uses_pack += 1
                    before = job["steps"][:i]
                    setup = [s for s in before if s.get("uses") == "./.github/actions/setup"]
                    assert setup, f"{path.name}:{job_id} runs the pack without the setup action"
                    assert setup[-1].get("with", {}).get("policy-pack") == "true", f"{path.name}:{job_id}"
    assert uses_pack >= 3
    action = load(ROOT / ".github" / "actions" / "setup" / "action.yml")
    (step,) = [s for s in action["runs"]["steps"] if "policy-venv" in s.get("run", "")]
    assert step["if"] == "inputs.policy-pack == 'true'"
    assert re.search(r"^policy-venv:", (ROOT / "Makefile").read_text(), re.M)


def test_no_job_waits_for_the_runner_of_a_stack_that_is_not_handed_over() -> None:
    # A stack's CodeBuild project exists only after its cloud-layer `up`; a job labelled for a missing
    # project is never picked up and waits until GitHub drops it. So every job on a CodeBuild runner is
    # reached only through a GitHub-hosted gate that lists the handed-over stacks.
    on_codebuild = 0
    for path in WORKFLOWS:
        jobs = load(path)["jobs"]
        for job_id, job in jobs.items():
            if not str(job.get("runs-on", "")).startswith("codebuild-"):
                continue
            on_codebuild += 1
            matrix = job.get("strategy", {}).get("matrix", {}).get("stack")
            if matrix is not None:
                assert matrix == "${{ fromJSON(needs.stacks.outputs.ready) }}", (path.name, job_id)
                gate = jobs["stacks"]
                assert gate["runs-on"].startswith("ubuntu-")
                assert gate["steps"][-1]["run"].startswith(".venv/bin/blueprint delivery stacks")
                assert job["if"] == "needs.stacks.outputs.ready != '[]'"
            else:
                assert job["if"] == f"needs.preflight-{job_id}.outputs.ready == 'true'", (path.name, job_id)
                assert jobs[f"preflight-{job_id}"]["runs-on"].startswith("ubuntu-")
    assert on_codebuild == len(STACKS) + 2


def test_the_stacks_gate_lists_only_handed_over_stacks(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("needs the project's .venv (make .venv/.runtime)")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", project / "stacks")
    for stack in STACKS:
        path = project / "stacks" / f"Pulumi.{stack}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc.pop("secretsprovider", None)
        doc.pop("encryptedkey", None)
        if stack == STACKS[0]:
            doc.update(secretsprovider="awskms://alias/pulumi-secrets?region=us-west-2", encryptedkey="AQICAHh...")
        path.write_text(yaml.safe_dump(doc))
    step = workflow("drift.yml")["jobs"]["stacks"]["steps"][-1]
    proc, output = run_step(step["run"], {"BLUEPRINT_PROJECT_DIR": str(project)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    facts = dict(line.split("=", 1) for line in output.splitlines())
    assert json.loads(facts["ready"]) == [STACKS[0]]
    assert json.loads(facts["all"]) == STACKS


def test_credentials_on_the_codebuild_runner_still_come_from_github_oidc() -> None:
    # On CodeBuild the build container has its service role's credentials. configure-aws-credentials
    # (v6.2.3, src/index.ts, useGitHubOIDCProvider) still uses OIDC when role-to-assume is set, the
    # id-token permission put ACTIONS_ID_TOKEN_REQUEST_TOKEN in the env, and no access key,
    # web-identity-token-file or role-chaining input is given. So the stack's role trust (repo +
    # environment subject) gates the runner's jobs too, and the CodeBuild role grants nothing.
    action = load(ROOT / ".github" / "actions" / "aws-stack" / "action.yml")
    (step,) = [s for s in action["runs"]["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert set(step["with"]) & {"aws-access-key-id", "web-identity-token-file", "role-chaining"} == set()
    assert step["with"]["role-to-assume"]
    for wf, job_id, _stack, job in credentialed_pulumi_jobs():
        assert job["permissions"]["id-token"] == "write", (wf, job_id)


def test_lock_check_prints_the_exact_cancel_command(tmp_path: Path) -> None:
    # A DIY `up` writes .pulumi/locks/organization/<project>/<stack>/<id>.json and a killed job leaves it
    # (pulumi pkg/backend/diy/lock.go); the deploy job must say how to recover, before and after `up`.
    for stack in STACKS:
        steps = workflow("deploy.yml")["jobs"][stack]["steps"]
        checks = [i for i, s in enumerate(steps) if s.get("run") == ".github/scripts/check-lock.sh"]
        up = steps.index(_pulumi_step(workflow("deploy.yml")["jobs"][stack]))
        assert len(checks) == 2, stack
        assert checks[0] < up < checks[1], stack
        assert steps[checks[1]]["if"] == "failure() || cancelled()"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "aws").write_text(
        '#!/bin/sh\n[ -n "$FAKE_LOCKS" ] && printf "%s\\n" "2026-12-01 10:00:00 312 $FAKE_LOCKS"\nexit 0\n'
    )
    (fake / "aws").chmod(0o755)
    env = {
        "PATH": f"{fake}:{os.environ['PATH']}",
        "STACK": "prod",
        "LOCK_PREFIX": "s3://example-org-pulumi-state-prod/.pulumi/locks/organization/ai-platform/prod/",
        "BACKEND_URL": "s3://example-org-pulumi-state-prod?region=us-west-2&awssdk=v2",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    script = ROOT / ".github" / "scripts" / "check-lock.sh"
    clean = subprocess.run(
        [str(script)], env={**os.environ, **env, "FAKE_LOCKS": ""}, capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    locked = subprocess.run(
        [str(script)],
        env={**os.environ, **env, "FAKE_LOCKS": "1b2c3d.json"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert locked.returncode == 1
    command = "pulumi login 's3://example-org-pulumi-state-prod?region=us-west-2&awssdk=v2' && pulumi cancel --stack prod --yes"
    assert command in locked.stdout
    assert command in (tmp_path / "summary.md").read_text()


def test_offline_preview_runs_for_every_stack_and_uploads_a_report() -> None:
    job = workflow("preview.yml")["jobs"]["offline"]
    assert job["strategy"]["matrix"]["stack"] == STACKS
    assert job["permissions"] == {"contents": "read"}
    assert "if" not in job, "the offline preview must always run, forks included"
    run = next(s for s in job["steps"] if s.get("id") == "preview")["run"]
    assert 'blueprint preview "$STACK" --diff' in run
    upload = next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == "preview-${{ matrix.stack }}"
    assert upload["with"]["path"] == "out/preview/${{ matrix.stack }}.txt"  # plain text; the comment job fences it


def test_the_comment_workflow_consumes_the_preview_artifacts() -> None:
    doc = workflow("preview-comment.yml")
    assert doc["on"]["workflow_run"]["workflows"] == [workflow("preview.yml")["name"]]
    download = next(s for s in steps_of(doc) if "download-artifact" in s.get("uses", ""))
    assert download["with"]["pattern"] == "preview-*"
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    script = next(s for s in steps_of(doc) if "github-script" in s.get("uses", ""))["with"]["script"]
    # One comment, found by its marker and updated in place.
    assert "updateComment" in script
    assert "createComment" in script
    assert "MARKER" in script


def test_cloud_preview_only_with_the_variable_and_never_for_forks() -> None:
    job = workflow("preview.yml")["jobs"]["cloud"]
    # Issue 12 #2: the preview role trusts `environment:<stack>-preview` (reviewers on staging/prod) and the
    # default branch, not `pull_request`; the job must therefore run in that environment.
    assert job["environment"] == "${{ matrix.stack }}-preview"
    gate = workflow("preview.yml")["jobs"]["stacks"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in gate["if"]
    assert "vars.AWS_PREVIEW_ROLE_ARN != ''" in gate["if"]
    assert job["needs"] == ["stacks"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.ready) }}"
    assert job["if"] == "needs.stacks.outputs.ready != '[]'"  # an empty matrix is an error in GitHub
    args = _pulumi_step(job)["with"]
    assert args["command"] == "preview"
    assert args["comment-on-pr"] is True
    assert args["diff"] is True
    assert args["refresh"] is True
    assert args["policyPacks"] == "policy"
    assert args["policyPackConfigs"] == "out/policy-config/${{ matrix.stack }}.json"
    assert "vars.PULUMI_BACKEND_URL" in args["cloud-url"]


def test_drift_runs_nightly_with_expect_no_changes_and_keeps_one_issue() -> None:
    doc = workflow("drift.yml")
    assert doc["on"]["schedule"]
    detect = doc["jobs"]["detect"]
    assert detect["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.ready) }}"
    run = next(s["run"] for s in detect["steps"] if "pulumi preview" in s.get("run", ""))
    assert "--refresh" in run
    assert "--expect-no-changes" in run
    report = doc["jobs"]["report"]
    script = report["steps"][-1]["run"]
    assert "gh issue list --label" in script  # finds the open issue first: one issue, updated
    assert "gh issue edit" in script
    assert "gh issue create" in script


def test_cli_version_matches_the_sdk_pin() -> None:
    pin = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin is not None
    assert (ROOT / ".pulumi-version").read_text().strip() == pin.group(1)


def readme_deploy_facts() -> tuple[list[str], list[str]]:
    """The order and the gated environments the README's deploy section states."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Deploying for real\n(.*?)(?=^## )", text, re.M | re.S)
    assert section, "README.md needs a '## Deploying for real' section"
    order = re.search(r"^\*\*Order:\*\* (.+)$", section.group(1), re.M)
    gated = re.search(r"^\*\*Gated by GitHub Environments:\*\* (.+)$", section.group(1), re.M)
    assert order, "the deploy section states '**Order:** preflight → dev → …'"
    assert gated, "the deploy section states '**Gated by GitHub Environments:** …'"
    names = [s.strip(" `.") for s in order.group(1).split("→")]
    return names, [s.strip(" `.") for s in gated.group(1).split(",")]


def test_readme_states_the_deploy_order_and_gates_the_workflow_implements() -> None:
    order, gated = readme_deploy_facts()
    assert order == deploy_order()
    jobs = workflow("deploy.yml")["jobs"]
    # staging and prod are gated; the README names the environments whose reviewers must approve.
    assert set(gated) == {"staging", "prod"}
    assert all(jobs[env]["environment"] == env for env in gated)
