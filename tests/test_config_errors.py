"""Config errors a fork or a new stack runs into: each is one clear line, not a cascade."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from blueprint.stackfiles import load_stack, stack_names
from infra.config import PROJECT, ConfigError, decode_flat, parse_config
from tests.conftest import ROOT

STACK = stack_names(ROOT)[0]


def _project(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    return tmp_path / "stacks" / "Pulumi.x.yaml"


@pytest.mark.parametrize(("text", "message"), [("", "the file is empty"), ("# only a comment\n", "the file is empty")])
def test_an_empty_stack_file_says_so(tmp_path: Path, text: str, message: str) -> None:
    _project(tmp_path).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_stack("x", tmp_path)
    assert [p.message for p in info.value.problems] == [message]


def test_a_stack_file_with_an_empty_config_says_so(tmp_path: Path) -> None:
    _project(tmp_path).write_text("config: {}\n")
    with pytest.raises(ConfigError) as info:
        load_stack("x", tmp_path)
    assert len(info.value.problems) == 1
    assert "sets no configuration" in str(info.value)


def test_no_required_key_is_one_problem_not_one_per_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({}, secret_keys=(), source="stacks/Pulumi.x.yaml")
    assert len(info.value.problems) == 1
    assert "none of the required" in str(info.value)
    assert "environment" in str(info.value)


def test_keys_left_under_another_projects_namespace_are_an_error() -> None:
    flat = load_stack(STACK, ROOT).config
    ours = {k: v for k, v in flat.items() if k.startswith(PROJECT + ":")}
    stale = {f"old-name:{k.split(':', 1)[1]}": v for k, v in ours.items()}
    _, problems = decode_flat({**stale, "aws:region": "eu-west-1", "pulumi:tags": json.dumps({"a": "b"})})
    assert len(problems) == 1
    message = problems[0].message
    assert message.startswith(f"found {len(stale)} keys under `old-name:` (")
    assert f"), the project is `{PROJECT}`" in message
    # The keys are named (the first few, sorted), so the user can find them.
    first = sorted(k.split(":", 1)[1] for k in stale)[0]
    assert f"`{first}`" in message


def test_provider_namespaces_are_not_mistaken_for_a_stale_project() -> None:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text())
    flat = load_stack(STACK, ROOT).config
    assert doc["config"]
    _, problems = decode_flat({**flat, "aws:region": "eu-west-1", "kubernetes:context": "x"})
    assert problems == []
