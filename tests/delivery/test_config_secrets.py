"""Secrets as the CLI hands them to the program, and the keys the CLI demands before an `up`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from infra.config import OPTIONAL_SECRET_KEYS, SECRET_KEYS, decode_flat, parse_config
from tests import fixtures as fx
from tests.conftest import ROOT, STACKS

PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


@pytest.mark.parametrize("stack", STACKS)
def test_every_declared_key_without_a_default_is_set_in_the_stack_file(stack: str) -> None:
    # pkg/workspace/config.go (missingConfigurationKeys): a project key declared in Pulumi.yaml with no
    # `default` and no value in the stack file fails every preview/up with "Stack '<s>' is missing
    # configuration value '<key>'". The offline preview applies defaults itself, so check the real rule.
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    missing = [
        key
        for key, decl in PROJECT["config"].items()
        if "default" not in decl and f"{PROJECT['name']}:{key}" not in config
    ]
    assert missing == []


def test_a_stack_that_does_not_page_needs_no_pagerduty_key(raw_config: Callable[[str], dict[str, Any]]) -> None:
    assert "alertmanagerPagerdutyRoutingKey" in OPTIONAL_SECRET_KEYS
    assert PROJECT["config"]["alertmanagerPagerdutyRoutingKey"]["default"] == ""
    raw = {k: ("x" if isinstance(v, dict) and set(v) == {"secure"} else v) for k, v in raw_config(fx.DEV).items()}
    raw["alertmanagerPagerdutyRoutingKey"] = ""  # what the CLI passes for the default
    secret = {k for k in SECRET_KEYS if k != "alertmanagerPagerdutyRoutingKey"}
    cfg = parse_config(raw, secret_keys=secret, source="stacks/Pulumi.dev.yaml")
    assert cfg.alertmanager_pagerduty_routing_key is None
    assert cfg.monitoring.alerting.pagerduty is False


def test_secrets_stay_strings_whatever_they_look_like() -> None:
    flat = {
        "ai-platform:githubAppPrivateKey": '{"not": "an object"}',
        "ai-platform:grafanaAdminPassword": "true",
        "ai-platform:alertmanagerSlackWebhookUrl": "[1, 2]",
        "ai-platform:protectStatefulResources": "false",
        "ai-platform:tags": '{"owner": "x"}',
    }
    raw, problems = decode_flat(flat)
    assert problems == []
    assert raw["githubAppPrivateKey"] == '{"not": "an object"}'
    assert raw["grafanaAdminPassword"] == "true"
    assert raw["alertmanagerSlackWebhookUrl"] == "[1, 2]"
    assert raw["protectStatefulResources"] is False  # non-secrets are still decoded
    assert raw["tags"] == {"owner": "x"}
