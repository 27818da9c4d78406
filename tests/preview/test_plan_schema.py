"""The plan JSON (`--json`, snapshots/<stack>.json) against its published schema (docs/plan-json.md).

Teams write their own checks against this document, so its shape is a contract: a `schemaVersion`,
integers as integers, and every field the tool writes described in tests/schemas/plan.schema.json.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from blueprint.preview.command import preview_plan
from blueprint.preview.plan import SCHEMA_VERSION, Plan, integral
from blueprint.stackfiles import stack_names

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests" / "schemas" / "plan.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


def _errors(doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in VALIDATOR.iter_errors(doc)]


def _floats(value: Any, path: str = "") -> list[str]:
    """Paths of integral floats (the wire format's doubles that should have become integers)."""
    if isinstance(value, float):
        return [path] if value.is_integer() else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _floats(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _floats(v, f"{path}[{i}]")]
    return []


@pytest.fixture(scope="module")
def dev_doc() -> dict[str, Any]:
    """A fresh full preview of dev (policy, analyses, estimates), as written to disk and read back."""
    plan: Plan = preview_plan("dev")
    return json.loads(json.dumps(plan.public(), sort_keys=True))


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("stack", stack_names(ROOT))
def test_every_committed_snapshot_validates(stack: str) -> None:
    doc = json.loads((ROOT / "snapshots" / f"{stack}.json").read_text())
    assert _errors(doc) == []
    assert doc["schemaVersion"] == SCHEMA_VERSION
    assert _floats(doc) == [], "integral numbers are written as integers"


def test_a_fresh_preview_validates_and_keeps_integers(dev_doc: dict[str, Any]) -> None:
    assert _errors(dev_doc) == []
    assert dev_doc["schemaVersion"] == SCHEMA_VERSION == SCHEMA["properties"]["schemaVersion"]["const"]
    assert _floats(dev_doc) == []
    # The wire format delivers every number as a double; these come back as the integers the config says.
    for r in dev_doc["resources"]:
        if r["type"] == "aws:eks/nodeGroup:NodeGroup":
            scaling = r["inputs"]["scalingConfig"]
            assert all(type(scaling[k]) is int for k in ("minSize", "maxSize", "desiredSize")), r["urn"]
    assert {"policy", "analyses", "estimates"} <= set(dev_doc)


@pytest.mark.parametrize(
    ("break_it", "where"),
    [
        (lambda d: d.pop("schemaVersion"), "schemaVersion"),
        (lambda d: d.update(schemaVersion="1"), "schemaVersion"),
        (lambda d: d.update(surprise=True), "surprise"),
        (lambda d: d["resources"][0].pop("protect"), "protect"),
        (
            lambda d: d["policy"]["violations"].append(
                {"policy": "p", "enforcement": "warn", "message": "m", "urn": ""}
            ),
            "warn",
        ),
        (lambda d: d["analyses"]["admission"]["checked"].update({"pod templates": 2.5}), "2.5"),
        (lambda d: d["estimates"]["cost"]["monthly"].pop("ceiling"), "ceiling"),
        (lambda d: d["estimates"]["coldStart"][0].update(seconds=1.5), "1.5"),
    ],
)
def test_the_schema_refuses_a_document_that_breaks_the_contract(
    dev_doc: dict[str, Any], break_it: Any, where: str
) -> None:
    doc = copy.deepcopy(dev_doc)
    break_it(doc)
    errors = _errors(doc)
    assert errors, "the schema accepted a broken document"
    assert any(where in e for e in errors), errors


def test_integral_turns_wire_doubles_back_into_integers() -> None:
    value = integral({"a": 2.0, "b": [0.5, 3.0, True, None, "4.0"], "c": {"d": -0.0}, "e": math.inf})
    assert value == {"a": 2, "b": [0.5, 3, True, None, "4.0"], "c": {"d": 0}, "e": math.inf}
    assert type(value["a"]) is int
    assert type(value["b"][1]) is int
    assert value["b"][2] is True
    assert math.isnan(integral(math.nan))


def _property_names(schema: Any) -> set[str]:
    """Every property name the schema defines, anywhere."""
    if isinstance(schema, dict):
        own = set(schema.get("properties", {}))
        return own | {n for v in schema.values() for n in _property_names(v)}
    if isinstance(schema, list):
        return {n for v in schema for n in _property_names(v)}
    return set()


def test_the_docs_describe_every_field_of_the_schema() -> None:
    """docs/plan-json.md is what teams read: every field the schema defines is named there in backticks."""
    text = (ROOT / "docs" / "plan-json.md").read_text()
    named = set(re.findall(r"`\.?([A-Za-z][A-Za-z0-9]*)", text)) | set(re.findall(r"[{,]\s*([a-zA-Z]+)", text))
    missing = sorted(_property_names(SCHEMA) - named)
    assert missing == [], f"docs/plan-json.md does not name: {missing}"
