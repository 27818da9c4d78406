"""Contracts the estimates rely on outside their own code: the PR workflow that turns `--diff` output
into the comment, and the model-spec fields the cold start reads."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import ConfigError, parse_config
from tests.conftest import STACKS, stack_raw
from tests.fixtures import PROJECT

ROOT = Path(__file__).resolve().parents[2]


def _steps(workflow: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def test_the_pr_comment_is_built_from_the_diff_output() -> None:
    """The cost delta leads the comment only because the workflow uploads `blueprint preview --diff`'s
    output as is, and the comment job fences that file whole, without reordering (preview-comment.yml)."""
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "preview.yml").read_text())
    job = next(j for j in doc["jobs"].values() if any("blueprint preview" in s.get("run", "") for s in j["steps"]))
    step = next(s["run"] for s in job["steps"] if "blueprint preview" in s.get("run", ""))
    preview_line = next(line for line in step.splitlines() if "blueprint preview" in line)
    assert "--diff" in preview_line
    report = preview_line.split(">", 1)[1].split()[0].replace('"', "").replace("$STACK", "${{ matrix.stack }}")
    uploads = [s["with"]["path"] for s in job["steps"] if "upload-artifact" in s.get("uses", "")]
    assert report in uploads, "the artifact the comment is made from is the report file itself"


def _raw(stack: str) -> tuple[dict[str, Any], list[str]]:
    raw = copy.deepcopy(stack_raw(stack))
    secrets = [k for k, v in raw.items() if isinstance(v, dict) and "secure" in v]
    raw.update(dict.fromkeys(secrets, "offline-secret"))
    return raw, secrets


def test_model_sizes_are_floats_named_exactly_and_validated() -> None:
    raw, secrets = _raw("dev")
    cfg = parse_config(raw, secret_keys=secrets, source="stacks/Pulumi.dev.yaml")
    model = cfg.resolved_models()["llama-3-8b"]
    assert isinstance(model.image_size_gib, float)
    assert isinstance(model.weights_size_gib, float)
    spec = raw["serving"]["models"]["llama-3-8b"]
    spec["imageSizeGiB"], spec["weightsSizeGib"] = -1, 3
    with pytest.raises(ConfigError) as err:
        parse_config(raw, secret_keys=secrets, source="stacks/Pulumi.dev.yaml")
    text = str(err.value)
    assert f"{PROJECT}:serving.models.llama-3-8b.imageSizeGiB: Input should be greater than 0" in text
    assert "weightsSizeGib: unknown key; allowed keys:" in text
    assert "weightsSizeGiB" in text


def test_model_defaults_supply_the_sizes() -> None:
    raw, secrets = _raw("dev")
    spec = raw["serving"]["models"]["llama-3-8b"]
    sizes = spec.pop("imageSizeGiB"), spec.pop("weightsSizeGiB")
    raw["serving"]["modelDefaults"].update(imageSizeGiB=sizes[0], weightsSizeGiB=sizes[1])
    model = parse_config(raw, secret_keys=secrets, source="x").resolved_models()["llama-3-8b"]
    assert (model.image_size_gib, model.weights_size_gib) == sizes


@pytest.mark.parametrize("stack", STACKS)
def test_cold_start_reads_the_sizes_the_config_model_resolves(stack: str) -> None:
    from blueprint.preview.analyses.cold_start import declared_sizes

    raw, secrets = _raw(stack)
    models = parse_config(raw, secret_keys=secrets, source=stack).resolved_models()
    expected = {n: (m.image_size_gib, m.weights_size_gib) for n, m in models.items()}
    assert declared_sizes(stack, ROOT) == expected


def test_policy_config_assumptions_match_the_schema_the_cli_validates() -> None:
    import json

    import jsonschema

    from ai_platform_policies import estimate
    from ai_platform_policies.cost import POLICIES

    (caps,) = [p for p in POLICIES if p.name == "cost-monthly-caps"]
    assert caps.config_schema is not None
    schema = {"type": "object", "properties": caps.config_schema.properties}
    from blueprint.preview.policy_config import merged
    from tests.fixtures import STACKS

    for stack in STACKS:  # what CI passes: the merged file (blueprint policy-config)
        entry = dict(json.loads(merged(stack, ROOT).text())["cost-monthly-caps"])
        entry.pop("enforcementLevel")
        jsonschema.validate(entry, schema)
        assert set(entry["assumptions"]) == set(estimate.DEFAULT_ASSUMPTIONS), stack
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"assumptions": {"natProcessedGbPerMonth": "lots"}}, schema)
