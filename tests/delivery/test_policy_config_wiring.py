"""CI passes ``--policy-pack-config`` a file that ``blueprint policy-config`` wrote in the same job, for the
same stack: the merged config of :func:`blueprint.preview.policy_config.merged`, the one the offline preview uses.

pulumi/actions v7.0.0 (the pinned 8e5e406f) reads ``policyPackConfigs`` as a multiline/semicolon list of
paths (src/config.ts ``parseSemicolorToArray(getMultilineInput('policyPackConfigs'))``) and hands it to the
Automation API's ``preview``/``up``, which passes one ``--policy-pack-config <path>`` per entry, relative to
``work-dir`` (default ``./``, the checkout). So the path in the workflow is the file the CLI reads.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from blueprint.preview.policy_config import merged
from tests.fixtures import STACKS

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
GENERATE = re.compile(r'\.venv/bin/blueprint policy-config "\$STACK" --output "(?P<out>[^"]+)"')


def _jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in WORKFLOWS:
        for job_id, job in (yaml.safe_load(path.read_text())["jobs"] or {}).items():
            yield path.name, job_id, job


def _uses_of_config(job: dict[str, Any]) -> Iterator[tuple[int, str, str]]:
    """(step index, config path as written, the stack expression) of every step that passes a pack config."""
    for i, step in enumerate(job.get("steps", [])):
        with_ = step.get("with") or {}
        if "policyPackConfigs" in with_:
            yield i, str(with_["policyPackConfigs"]), str(with_["stack-name"])
        for m in re.finditer(r'--policy-pack-config "?([^"\s]+)"?', step.get("run", "")):
            yield i, m.group(1), str((step.get("env") or {}).get("STACK", ""))


def _wired() -> list[tuple[str, str, str, str, str]]:
    """(workflow, job, config path, generated path, stack expression) for every pack config CI passes."""
    found = []
    for wf, job_id, job in _jobs():
        for i, path, stack in _uses_of_config(job):
            steps = job["steps"][: i + 1]
            generators = [s for s in steps if GENERATE.search(s.get("run", ""))]
            assert generators, f"{wf}:{job_id} passes {path} without `blueprint policy-config` before it"
            gen = generators[-1]
            out = GENERATE.search(gen["run"])["out"]  # type: ignore[index]
            found.append((wf, job_id, path, out, str(gen["env"]["STACK"]) if gen.get("env") else stack))
    return found


def test_every_policy_pack_config_ci_passes_is_generated_for_the_same_stack_in_the_same_job() -> None:
    wired = _wired()
    assert len(wired) >= len(STACKS) + 2  # one deploy job per stack, the credentialed preview, drift
    for wf, job_id, path, out, generated_for in wired:
        assert not path.startswith("policy/config/"), f"{wf}:{job_id}: a source file, not the merged one"
        job = next(j for w, i, j in _jobs() if (w, i) == (wf, job_id))
        stack = next(s for _, p, s in _uses_of_config(job) if p == path)
        # The generator writes "$STACK", the consumer names the stack literally or as the matrix value.
        assert out.replace("$STACK", generated_for) == path.replace("$STACK", stack), (wf, job_id, out, path)
        assert generated_for == stack or stack == "", (wf, job_id, generated_for, stack)


@pytest.mark.parametrize("stack", STACKS)
def test_the_generation_step_writes_the_merged_config_of_the_stack(stack: str, tmp_path: Path) -> None:
    wf, job_id, _, out, _ = next(w for w in _wired() if w[0] == "deploy.yml" and w[1] == stack)
    job = next(j for w, i, j in _jobs() if (w, i) == (wf, job_id))
    step = next(s for s in job["steps"] if GENERATE.search(s.get("run", "")))
    # The step as the runner runs it, with this interpreter's `blueprint` and the output under tmp_path.
    script = step["run"].replace(".venv/bin/blueprint", f'"{sys.executable}" -m blueprint')
    script = script.replace('"out/', f'"{tmp_path}/out/')
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=ROOT,
        env={**os.environ, **{k: str(v) for k, v in step["env"].items()}},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    written = (tmp_path / out.replace("$STACK", stack)).read_text()
    assert written == merged(stack, ROOT).text()
    assert merged(stack, ROOT).describe() in proc.stderr  # the CI log names the files applied
