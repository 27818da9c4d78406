"""The plan model: masking, the ``--json`` document, and the snapshot diff a reviewer reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blueprint.preview.plan import (
    ABSENT,
    MASK,
    RESOURCE_SIG,
    SECRET_SIG,
    SECRET_SIG_KEY,
    UNKNOWN,
    Plan,
    Resource,
    diff,
    mask,
)

SECRET = {SECRET_SIG_KEY: SECRET_SIG, "value": "hunter2"}


def _resource(name: str, inputs: dict[str, Any], **kw: Any) -> Resource:
    return Resource(
        urn=f"urn:pulumi:s::p::aws:s3/bucket:Bucket::{name}",
        type="aws:s3/bucket:Bucket",
        name=name,
        parent="",
        custom=True,
        provider="",
        inputs=inputs,
        dependencies=kw.pop("dependencies", []),
        property_dependencies={},
        protect=kw.pop("protect", False),
        retain_on_delete=False,
        ignore_changes=[],
        **kw,
    )


def _doc(*resources: Resource) -> dict[str, Any]:
    return Plan("s", "p", list(resources), {}).public()


def test_mask_hides_secrets_at_any_depth_and_names_unknowns_and_references() -> None:
    ref = {SECRET_SIG_KEY: RESOURCE_SIG, "urn": "urn:x", "id": "i-1"}
    masked = mask({"a": [SECRET, {"b": SECRET}], "u": UNKNOWN, "r": ref, "n": 2.0})
    assert masked == {"a": [MASK, {"b": MASK}], "u": "[unknown]", "r": {"resourceRef": "urn:x"}, "n": 2.0}
    assert "hunter2" not in json.dumps(masked)


def test_the_json_document_is_sorted_integral_and_masked(tmp_path: Path) -> None:
    plan = Plan("s", "p", [_resource("b", {"replicas": 2.0, "ratio": 0.5}), _resource("a", {"token": SECRET})], {})
    plan.write_json(tmp_path / "plan.json")
    doc = json.loads((tmp_path / "plan.json").read_text())
    assert [r["name"] for r in doc["resources"]] == ["a", "b"]
    assert doc["resources"][1]["inputs"] == {"replicas": 2, "ratio": 0.5}
    assert isinstance(doc["resources"][1]["inputs"]["replicas"], int)
    assert doc["resources"][0]["inputs"]["token"] == MASK
    assert "hunter2" not in (tmp_path / "plan.json").read_text()


def test_get_names_what_is_missing() -> None:
    plan = Plan("s", "p", [_resource("a", {})], {})
    assert plan.get("aws:s3/bucket:Bucket", "a").name == "a"
    with pytest.raises(KeyError, match="aws:s3/bucket:Bucket::b"):
        plan.get("aws:s3/bucket:Bucket", "b")


def test_diff_lists_creates_deletes_and_changed_paths() -> None:
    old = _doc(_resource("kept", {"acl": "private", "tags": {"a": "1"}}), _resource("gone", {}))
    new = _doc(_resource("kept", {"acl": "public-read", "tags": {"a": "1", "b": "2"}}), _resource("added", {}))
    changes = {c.name: c for c in diff(old, new)}
    assert changes["added"].op == "+"
    assert changes["gone"].op == "-"
    kept = changes["kept"]
    assert kept.op == "~"
    assert kept.paths == ("acl", "tags.b")
    assert {(d.path, d.old, d.new) for d in kept.deltas} == {("acl", "private", "public-read"), ("tags.b", ABSENT, "2")}


def test_diff_names_the_changed_statement_inside_a_json_policy() -> None:
    before = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]})
    after = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]})
    (change,) = diff(_doc(_resource("b", {"policy": before})), _doc(_resource("b", {"policy": after})))
    assert change.paths == ("policy(json).Statement[0].Action",)


def test_diff_reports_options_and_tells_dependency_only_updates_apart() -> None:
    base = _doc(_resource("b", {}))
    protected = _doc(_resource("b", {}, protect=True))
    (change,) = diff(base, protected)
    assert change.paths == ("(protect)",)
    assert not change.dependency_only
    (dep,) = diff(base, _doc(_resource("b", {}, dependencies=["urn:other"])))
    assert dep.dependency_only


def test_diff_of_a_secret_change_shows_no_value() -> None:
    other = {SECRET_SIG_KEY: SECRET_SIG, "value": "another"}
    # Both sides mask to the same text: a rotated secret is not a visible change, and no value leaks.
    assert diff(_doc(_resource("b", {"token": SECRET})), _doc(_resource("b", {"token": other}))) == []


def test_diff_does_not_flag_old_snapshots_that_wrote_floats() -> None:
    new = _doc(_resource("b", {"replicas": 2.0}))
    old = json.loads(json.dumps(new).replace('"replicas": 2', '"replicas": 2.0'))
    assert old["resources"][0]["inputs"]["replicas"] == 2.0
    assert diff(old, new) == []
