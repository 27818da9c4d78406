"""A Deployment's await (pulumi.com/timeoutSeconds) must end before the deploy job that runs `up` is killed.

A job stopped by its `timeout-minutes` mid-`up` leaves the DIY backend's lock behind (every later deploy
fails until `pulumi cancel`), so the longest wait the program asks for must fit inside every job that
runs `pulumi up`, with room for the rest of the update.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.serving import TIMEOUT_ANNOTATION
from tests.conftest import STACKS, plan_for

ROOT = Path(__file__).resolve().parents[2]
# The rest of a cold update around the longest rollout: the control plane and node groups come first.
MARGIN_SECONDS = 30 * 60


def _up_job_timeouts() -> dict[str, int]:
    """timeout-minutes of every job that runs pulumi/actions with `command: up`, by workflow:job."""
    out = {}
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for job_id, job in yaml.safe_load(path.read_text())["jobs"].items():
            for step in job.get("steps", []):
                if "pulumi/actions" in step.get("uses", "") and step.get("with", {}).get("command") == "up":
                    out[f"{path.name}:{job_id}"] = int(job["timeout-minutes"])
    return out


def test_some_job_runs_up() -> None:
    assert _up_job_timeouts(), "no workflow job runs `pulumi up`: the invariant below would check nothing"


@pytest.mark.parametrize("stack", STACKS)
def test_every_rollout_wait_fits_inside_the_deploy_job(stack: str) -> None:
    budget = min(_up_job_timeouts().values()) * 60 - MARGIN_SECONDS
    waits = {
        r.name: int(r.inputs["metadata"]["annotations"][TIMEOUT_ANNOTATION])
        for r in plan_for(stack).by_type("kubernetes:apps/v1:Deployment")
        if TIMEOUT_ANNOTATION in r.inputs["metadata"].get("annotations", {})
    }
    too_long = {name: s for name, s in waits.items() if s > budget}
    assert not too_long, f"{stack}: rollouts wait longer than a deploy job can ({budget} s): {too_long}"
