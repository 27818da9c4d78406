"""Config rules for the serving and CI keys added by issue 11 (defects 5, 7, 10) and issue 12 item 3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.config import SECRET_KEYS, CiRunnersConfig, ConfigError, parse_config
from tests import fixtures as fx

RawFactory = Callable[[str], dict[str, Any]]
SECRETS = list(SECRET_KEYS)  # every secret key Pulumi.yaml declares (infra/config.py)


def parse(raw: dict[str, Any]) -> Any:
    plain = {k: ("x" if isinstance(v, dict) and set(v) == {"secure"} else v) for k, v in raw.items()}
    return parse_config(plain, secret_keys=SECRETS, source="stacks/Pulumi.test.yaml")


def problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse(raw)
    return {p.path: p.message for p in info.value.problems}


def test_an_s3_model_needs_its_weights_size(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    del raw["serving"]["models"]["llama-3-8b"]["weightsSizeGiB"]
    assert "required with source.s3Prefix" in problems(raw)["serving.models.llama-3-8b.weightsSizeGiB"]


def test_weights_size_rollout_and_deploy_are_read(raw_config: RawFactory) -> None:
    raw = raw_config(fx.STAGING)
    model = raw["serving"]["models"]["llama-3-8b"]
    model.update(weightsSizeGiB=15.5, rollout="surge", deploy=False)
    m = parse(raw).resolved_models()["llama-3-8b"]
    assert (m.weights_size_gib, m.rollout, m.deploy) == (15.5, "surge", False)
    embed = parse(raw_config(fx.STAGING)).resolved_models()["text-embeddings"]
    assert (embed.rollout, embed.deploy) == ("surge", True), "CPU models surge by default"
    model["rollout"] = "blue-green"
    assert "serving.models.llama-3-8b.rollout" in problems(raw)


def test_runners_are_off_unless_a_stack_turns_them_on() -> None:
    assert CiRunnersConfig().enabled is False
    assert CiRunnersConfig().push_to_registry is False


def test_job_pods_never_share_the_namespace_of_the_github_app_key(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["ciRunners"]["jobNamespace"] = raw["ciRunners"].get("namespace", "arc-runners")
    assert "GitHub App key" in problems(raw)["ciRunners.jobNamespace"]


def test_job_resources_are_validated(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["ciRunners"]["scaleSets"]["cpu-runners"]["jobCpu"] = "lots"
    assert "ciRunners.scaleSets.cpu-runners.jobCpu" in problems(raw)
