"""ciRunners.gitlab / jenkins / circleci: credentials only as secrets, required when enabled, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from blueprint.stackfiles import stack_names
from tests import fixtures as fx
from tests.conftest import ROOT, stack_raw
from tests.test_config import SECRETS, RawFactory, parse, problems

BACKEND_SECRETS = {
    "gitlab": ["gitlabRunnerToken", "gitlabGpuRunnerToken"],
    "jenkins": ["jenkinsAdminPassword"],
    "circleci": ["circleciCpuResourceClassToken", "circleciGpuResourceClassToken"],
}


def _enabled(raw: dict[str, Any]) -> dict[str, bool]:
    ci = raw.get("ciRunners") or {}
    return {"arc": bool(ci.get("enabled")), **{b: bool((ci.get(b) or {}).get("enabled")) for b in BACKEND_SECRETS}}


def test_some_stack_exercises_all_four_backends() -> None:
    runs = {s: _enabled(stack_raw(s)) for s in stack_names(ROOT)}
    assert any(all(e.values()) for e in runs.values()), runs


@pytest.mark.parametrize("stack", stack_names(ROOT))
def test_stacks_that_push_from_ci_are_the_image_building_ones(stack: str) -> None:
    raw = stack_raw(stack)
    ci = raw.get("ciRunners") or {}
    pushers = [b for b in BACKEND_SECRETS if (ci.get(b) or {}).get("pushToRegistry")]
    if pushers:
        assert ci.get("pushToRegistry"), f"{stack}: {pushers} push where ARC does not (one image-building stack)"


@pytest.mark.parametrize(("backend", "key"), [(b, k) for b, keys in BACKEND_SECRETS.items() for k in keys])
def test_backend_credentials_are_refused_in_plaintext(raw_config: RawFactory, backend: str, key: str) -> None:
    raw = raw_config(fx.DEV)
    raw[key] = "plaintext-credential-1234"
    found = problems(raw, secret_keys=[k for k in SECRETS if k != key])
    assert "is a secret" in found[key]
    assert "plaintext-credential-1234" not in str(found)


@pytest.mark.parametrize(("backend", "key"), [(b, k) for b, keys in BACKEND_SECRETS.items() for k in keys])
def test_backend_credentials_are_required_when_enabled(raw_config: RawFactory, backend: str, key: str) -> None:
    raw = raw_config(fx.DEV)
    raw["ciRunners"][backend]["enabled"] = True
    del raw[key]
    assert f"required when ciRunners.{backend}.enabled" in problems(raw)[key]


def test_disabled_backends_need_no_credentials(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    for backend, keys in BACKEND_SECRETS.items():
        raw["ciRunners"][backend]["enabled"] = False
        for key in keys:
            del raw[key]
    parse(raw)


def test_each_backend_needs_its_own_namespaces(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["ciRunners"]["gitlab"]["jobNamespace"] = "arc-jobs"
    raw["ciRunners"]["circleci"]["namespace"] = "jenkins"
    found = problems(raw)
    assert "already used by ciRunners (ARC)" in found["ciRunners.gitlab.jobNamespace"]
    assert "already used by ciRunners.jenkins" in found["ciRunners.circleci.namespace"]


def test_gpu_profiles_need_a_gpu_pool_and_cpu_profiles_take_no_gpu(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["nodePools"] = {k: v for k, v in raw["nodePools"].items() if not k.startswith("gpu")}
    raw["serving"]["models"] = {}
    raw["ciRunners"]["scaleSets"] = {"cpu-runners": {"maxRunners": 2}}
    raw["ciRunners"]["jenkins"]["cpuJob"] = {"gpus": 1}
    found = problems(raw)
    assert "GPU jobs need a GPU node pool" in found["ciRunners.gitlab.gpuJob.gpus"]
    assert "CPU job profiles take no GPU" in found["ciRunners.jenkins.cpuJob.gpus"]


def test_bad_values_name_their_key_path(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["ciRunners"]["circleci"]["gpuResourceClass"] = "Org/GPU Class"
    raw["ciRunners"]["gitlab"]["gitlabUrl"] = "http://gitlab.example.com"
    raw["ciRunners"]["jenkins"]["gpuJob"] = {"nodePool": "system", "gpus": 1}
    found = problems(raw)
    assert "<namespace>/<resource-class>" in found["ciRunners.circleci.gpuResourceClass"]
    assert "https://<host>/" in found["ciRunners.gitlab.gitlabUrl"]
    assert "need a GPU pool" in found["ciRunners.jenkins.gpuJob.nodePool"]


def test_a_job_profile_quantity_is_checked(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["ciRunners"]["gitlab"]["cpuJob"] = {"memory": "lots"}
    assert "Kubernetes quantity" in problems(raw)["ciRunners.gitlab.cpuJob.memory"]
