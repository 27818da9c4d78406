"""The config's shape: defaults on the types, one merge path, required-when-enabled fields, and component
rules reported at the stack file's key path."""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from blueprint.upkeep.docs import _show_default
from components.ci_runners import RunnerScaleSet
from components.cluster import endpoint_problems
from components.monitoring import MonitoringArgs, retention_problems
from infra.config import ModelSpec, NodePoolSpec, RepositoryConfig, RunnerScaleSetSpec
from tests import fixtures as fx
from tests.fixtures import PROJECT
from tests.test_config import parse, problems

RawFactory = Callable[[str], dict[str, Any]]

# Fields of the keyed collections' item types that are genuinely optional: unset means "none", not a default.
OPTIONAL = {
    ModelSpec: {"image_size_gib", "weights_size_gib", "canary", "drift", "lineage"},
    NodePoolSpec: set(),
    RunnerScaleSetSpec: set(),
    RepositoryConfig: set(),
}


@pytest.mark.parametrize("model", list(OPTIONAL), ids=lambda m: m.__name__)
def test_item_types_carry_their_defaults_and_the_reference_shows_them(model: Any) -> None:
    shown = {name: _show_default(info) for name, info in model.model_fields.items()}
    nulls = {n for n, d in shown.items() if d == "null"} - OPTIONAL[model]
    assert not nulls, f"{model.__name__}: fields whose reference default is null although one exists: {nulls}"


def test_runner_defaults_are_the_components_own() -> None:
    spec = RunnerScaleSetSpec()
    assert spec.model_dump() == asdict(RunnerScaleSet())


def test_model_defaults_sit_on_the_type() -> None:
    """Real defaults on the type; the startup budget's is derived (the cold-start estimate), so unset is None."""
    spec = ModelSpec()
    assert (spec.port, spec.gpus, spec.cpu, spec.memory, spec.min_replicas, spec.max_replicas) == (
        8000, 1, "4", "16Gi", 1, 2,
    )  # fmt: skip
    assert (spec.shm_size, spec.startup_budget_seconds, spec.metrics_path, spec.server) == (
        "2Gi", None, "/metrics", "custom",
    )  # fmt: skip


def test_item_over_defaults_entry_over_type_default(raw_config: RawFactory) -> None:
    """One merge rule for every keyed collection: the item's key, else the defaults entry's, else the type's."""
    raw = raw_config(fx.DEV)
    name = next(iter(raw["serving"]["models"]))
    defaults = raw["serving"].setdefault("modelDefaults", {})
    defaults.update(port=9000, env={"A": "defaults", "B": "defaults"})
    defaults.pop("startupBudgetSeconds", None)
    model = raw["serving"]["models"][name]
    model.update(port=9100, env={"B": "model"})
    model.pop("startupBudgetSeconds", None)
    resolved = parse(raw).resolved_models()[name]
    assert resolved.port == 9100
    assert dict(resolved.env) == {"A": "defaults", "B": "model"}
    assert resolved.startup_budget_seconds == ModelSpec().startup_budget_seconds
    del model["port"]
    assert parse(raw).resolved_models()[name].port == 9000


def test_node_pool_defaults_entry_applies_and_derived_defaults_follow_the_pool(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["nodePoolDefaults"] = {"capacityType": "SPOT", "diskSizeGib": 80, "labels": {"team": "ml"}}
    pools = parse(raw).resolved_node_pools()
    assert {p.capacity_type for n, p in pools.items() if "capacityType" not in raw["nodePools"][n]} <= {"SPOT"}
    for name, pool in pools.items():
        spec = raw["nodePools"][name]
        assert pool.labels.get("team") == "ml"
        if "diskSizeGib" not in spec:
            assert pool.disk_size_gib == (max(80, 200) if pool.gpu else 80)
        if "amiType" not in spec:
            assert ("NVIDIA" in pool.ami_type) == pool.gpu


@pytest.mark.parametrize(
    ("section", "key", "enabled_path"),
    [
        (("delivery",), "githubRepository", "delivery"),
        (("delivery",), "stateBucket", "delivery"),
        (("ciRunners",), "githubConfigUrl", "ciRunners"),
        (("ciRunners",), "githubAppId", "ciRunners"),
        (("ciRunners", "circleci"), "cpuResourceClass", "ciRunners.circleci"),
    ],
)
def test_fields_without_a_safe_default_are_required_when_their_feature_is_on(
    raw_config: RawFactory, section: tuple[str, ...], key: str, enabled_path: str
) -> None:
    raw = raw_config(fx.DEV)
    node = raw
    for part in section:
        node = node[part]
    assert node.get("enabled", True), f"dev enables {enabled_path}; the test needs a stack that does"
    del node[key]
    path = f"{enabled_path}.{key}"
    found = problems(raw)
    assert found[path].startswith(f"required when {enabled_path}.enabled (no default)"), found
    node["enabled"] = False
    if section == ("ciRunners",):
        # With ARC off, its scale sets and image are no longer needed either.
        raw["ciRunners"].pop("scaleSets", None)
    assert path not in _problems_or_none(raw)


def test_required_field_error_names_the_file_and_the_full_key(raw_config: RawFactory) -> None:
    from infra.config import ConfigError

    raw = raw_config(fx.DEV)
    del raw["delivery"]["githubRepository"]
    with pytest.raises(ConfigError) as info:
        parse(raw)
    line = next(ln for ln in str(info.value).splitlines() if "githubRepository" in ln)
    assert line.strip().startswith(f"- {PROJECT}:delivery.githubRepository: required when delivery.enabled")
    assert str(info.value).startswith("stacks/Pulumi.test.yaml:")


def _problems_or_none(raw: dict[str, Any]) -> dict[str, str]:
    try:
        parse(raw)
    except Exception:  # noqa: BLE001 - only the paths matter here
        return problems(raw)
    return {}


def test_component_rules_are_reported_at_the_stack_file_key_path(raw_config: RawFactory) -> None:
    """The rule lives in the component (its Args.problems()); the config prefixes the stack file's key path."""
    raw = raw_config(fx.DEV)
    storage = raw["monitoring"].get("prometheusStorageGib", 100)
    raw["monitoring"]["prometheusRetentionSizeGib"] = storage
    raw["cluster"].update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
    found = problems(raw)
    [(_, retention)] = retention_problems(storage, storage)
    assert found["monitoring.prometheusRetentionSizeGib"] == retention
    [(_, endpoint)] = endpoint_problems(True, ["0.0.0.0/0"])
    assert found["cluster.publicAccessCidrs"] == endpoint


def test_component_args_report_the_same_rule() -> None:
    args = MonitoringArgs(
        grafana_admin_password="x",
        prometheus_storage_gib=100,
        retention_size_gib=95,
    )
    assert args.problems() == retention_problems(95, 100)
    assert [p for p, _ in args.problems()] == ["retention_size_gib"]
    assert retention_problems(89, 100) == []


def test_config_package_has_short_modules_and_functions() -> None:
    """The config stays readable: modules by section under ~500 lines, no function over 60 lines."""
    package = Path(__file__).resolve().parents[1] / "infra" / "config"
    files = sorted(package.rglob("*.py"))
    assert len(files) > 10
    long_modules = {f.name: n for f in files if (n := len(f.read_text().splitlines())) > 500}
    long_functions = {
        f"{f.relative_to(package)}:{node.name}": node.end_lineno - node.lineno + 1
        for f in files
        for node in ast.walk(ast.parse(f.read_text()))
        if isinstance(node, ast.FunctionDef) and node.end_lineno and node.end_lineno - node.lineno + 1 > 60
    }
    assert (long_modules, long_functions) == ({}, {})
