"""The config model: every rule, its message and key path; one error listing every problem; fuzzing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.config import (
    EKS_STANDARD_SUPPORT_VERSIONS,
    SECRET_KEYS,
    ConfigError,
    Environment,
    PlatformConfig,
    parse_config,
)
from tests import fixtures as fx
from tests.fixtures import PROJECT

RawFactory = Callable[[str], dict[str, Any]]
SECRETS = list(SECRET_KEYS)  # every secret key Pulumi.yaml declares (infra/config.py)


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    """Secure values as the program sees them: decrypted strings, listed as secret keys."""
    return {k: ("placeholder" if isinstance(v, dict) and set(v) == {"secure"} else v) for k, v in raw.items()}


def parse(raw: dict[str, Any], secret_keys: list[str] | None = None) -> PlatformConfig:
    return parse_config(
        _plain(raw), secret_keys=SECRETS if secret_keys is None else secret_keys, source="stacks/Pulumi.test.yaml"
    )


def problems(raw: dict[str, Any], secret_keys: list[str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse(raw, secret_keys)
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_committed_stacks_are_valid(raw_config: RawFactory, stack: str) -> None:
    cfg = parse(raw_config(stack))
    assert cfg.environment is Environment(stack)
    assert cfg.grafana_admin_password is not None
    assert "placeholder" not in repr(cfg), "secrets must not appear in the model's repr"


def test_acceptance_typo_negative_and_plaintext_secret_in_one_error(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["nodePools"]["gpu-a10g"]["maxSzie"] = 3
    raw["nodePools"]["gpu-a10g"]["minSize"] = -1
    raw["grafanaAdminPassword"] = "hunter2"
    with pytest.raises(ConfigError) as info:
        parse(raw, secret_keys=[k for k in SECRETS if k != "grafanaAdminPassword"])
    text = str(info.value)
    assert text.startswith("stacks/Pulumi.test.yaml: invalid configuration (3 problems)")
    assert f"{PROJECT}:nodePools.gpu-a10g.maxSzie: unknown key; allowed keys: instanceTypes" in text
    assert f"{PROJECT}:nodePools.gpu-a10g.minSize: Input should be greater than or equal to 0 (got -1)" in text
    assert f"{PROJECT}:grafanaAdminPassword: is a secret" in text
    assert "hunter2" not in text, "the error must not echo the secret"


def test_unknown_top_level_key_lists_allowed_keys(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["netwrok"] = {}
    msg = problems(raw)["netwrok"]
    assert msg.startswith("unknown key; allowed keys: environment, region, accountId")


def test_nested_plaintext_secret_is_refused(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["serving"]["models"]["llama-3-8b"]["env"] = {"HF_TOKEN": "hf_abc"}
    found = problems(raw)
    assert "serving.models.llama-3-8b.env.HF_TOKEN" in found
    assert "plaintext secret" in found["serving.models.llama-3-8b.env.HF_TOKEN"]


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (
            # desiredSize is not set: the message blames the keys that are.
            lambda r: r["nodePools"]["gpu-a10g"].update(minSize=3, maxSize=2),
            "nodePools.gpu-a10g.minSize",
            "must be <= maxSize (2, from nodePools.gpu-a10g.maxSize)",
        ),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(minSize=1, maxSize=2, desiredSize=3),
            "nodePools.gpu-a10g.desiredSize",
            "minSize (1) <= desiredSize (3) <= maxSize (2)",
        ),
        (lambda r: r["nodePools"]["system"].update(minSize=0), "nodePools", "CPU pool needs minSize >= 1"),
        (lambda r: r["nodePools"].update({"p" * 37: {}}), f"nodePools.{'p' * 37}", "at most 36 characters"),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(amiType="AL2023_x86_64_STANDARD"),
            "nodePools.gpu-a10g.amiType",
            "accelerated AMI",
        ),
        (
            lambda r: r["nodePools"]["system"].update(amiType="AL2023_x86_64_NVIDIA"),
            "nodePools.system.amiType",
            "standard AMI",
        ),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(instanceTypes=["g5.xlarge", "m6i.large"]),
            "nodePools.gpu-a10g.instanceTypes",
            "cannot mix",
        ),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(instanceTypes=["g5.xlarge", "g5.12xlarge"]),
            "nodePools.gpu-a10g.instanceTypes",
            "same GPU count",
        ),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(instanceTypes=["p3.2xlarge"]),
            "nodePools.gpu-a10g.instanceTypes",
            "unknown GPU instance type",
        ),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(availabilityZones=["us-west-2d"]),
            "nodePools.gpu-a10g.availabilityZones",
            "subset",
        ),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(labels={"platform.ai/pool": "x"}),
            "nodePools.gpu-a10g.labels.platform.ai/pool",
            "reserved",
        ),
        (
            lambda r: r["network"].update(availabilityZones=["eu-west-1a", "us-west-2b"]),
            "network.availabilityZones[0]",
            "region us-west-2",
        ),
        (lambda r: r["network"].update(cidr="10.0.0.0/8"), "network.cidr", "/16 and /20"),
        (
            lambda r: r["network"].update(flowLogRetentionDays=10),
            "network.flowLogRetentionDays",
            "CloudWatch retention",
        ),
        (lambda r: r["cluster"].update(version="1.29"), "cluster.version", ", ".join(EKS_STANDARD_SUPPORT_VERSIONS)),
        (lambda r: r["cluster"].update(publicAccessCidrs=[]), "cluster.publicAccessCidrs", "explicit allowlist"),
        (lambda r: r["cluster"].update(publicAccessCidrs=["0.0.0.0/0"]), "cluster.publicAccessCidrs", "opens the API"),
        (
            lambda r: r["cluster"].update(adminRoleArns=["arn:aws:iam::1:user/x"]),
            "cluster.adminRoleArns",
            "not IAM role ARNs",
        ),
        (lambda r: r["cluster"].update(addonVersions={"karpenter": "1"}), "cluster.addonVersions", "unknown add-on"),
        (
            lambda r: r["registry"]["repositories"].update({"Bad_Name": {}}),
            "registry.repositories",
            "invalid ECR repository name",
        ),
        (
            lambda r: r["registry"].update(pullThroughCache={"docker-hub": {}}),
            "registry.pullThroughCache.docker-hub.credentialArn",
            "ecr-pullthroughcache/",
        ),
        (lambda r: r["gpu"].update(migManager=True), "gpu.migManager", "gpu-operator"),
        (lambda r: r["gpu"].update(migStrategy="single"), "gpu.timeSlicingReplicas", "cannot be combined"),
        (
            lambda r: r["monitoring"].update(prometheusRetentionSizeGib=49),
            "monitoring.prometheusRetentionSizeGib",
            "below 90%",
        ),
        (
            lambda r: r["monitoring"].update(prometheusRetention="3 days"),
            "monitoring.prometheusRetention",
            "Prometheus duration",
        ),
        (
            lambda r: r["serving"]["models"]["llama-3-8b"]["image"].update(repository="nope"),
            "serving.models.llama-3-8b.image.repository",
            "registry.repositories",
        ),
        (
            lambda r: r["serving"]["models"]["llama-3-8b"]["image"].update(tag="latest"),
            "serving.models.llama-3-8b.image.tag",
            "not 'latest'",
        ),
        (
            lambda r: r["serving"]["models"]["llama-3-8b"].update(minReplicas=3, maxReplicas=2),
            "serving.models.llama-3-8b.minReplicas",
            "<= maxReplicas",
        ),
        (
            lambda r: (
                r["serving"].update(allowScaleToZero=False),
                r["serving"]["models"]["llama-3-8b"].update(minReplicas=0),
            ),
            "serving.models.llama-3-8b.minReplicas",
            "allowScaleToZero",
        ),
        (
            lambda r: r["serving"]["models"]["llama-3-8b"].update(gpus=8),
            "serving.models.llama-3-8b.gpus",
            "no GPU pool has 8",
        ),
        (
            lambda r: r["serving"]["models"]["llama-3-8b"]["autoscaling"].pop("query"),
            "serving.models.llama-3-8b.autoscaling.query",
            "Prometheus query",
        ),
        (
            lambda r: (
                r["serving"]["ingress"].update({"scheme": "internet-facing"})
                if "ingress" in r["serving"]
                else r["serving"].update(ingress={"scheme": "internet-facing"})
            ),
            "serving.ingress.certificateArn",
            "TLS certificate",
        ),
        (lambda r: r["ciRunners"].update(githubAppId="abc"), "ciRunners.githubAppId", "numeric"),
        (
            lambda r: r["ciRunners"]["scaleSets"]["cpu-runners"].update(minRunners=9, maxRunners=2),
            "ciRunners.scaleSets.cpu-runners.minRunners",
            "<= maxRunners",
        ),
        (lambda r: r["images"].pop("runnerImage"), "images.runnerImage", "required when images.build is false"),
        (lambda r: r.update(accountId="12345"), "accountId", "12-digit"),
        (lambda r: r.update(region="mars-1"), "region", "AWS region"),
        (lambda r: r.update(tags={"owner": "x"}), "tags", "cost-center"),
    ],
)
def test_rule_reports_its_path_and_allowed_values(
    raw_config: RawFactory, mutate: Callable[[dict[str, Any]], Any], path: str, fragment: str
) -> None:
    raw = raw_config(fx.DEV)
    mutate(raw)
    found = problems(raw)
    assert path in found, f"expected a problem at {path}, got {found}"
    assert fragment in found[path]


def test_prod_guardrails_are_not_config_rules(raw_config: RawFactory) -> None:
    """The tier's guardrails are mandatory policies (tests/stacks/test_tier_guardrails.py), not a second copy here."""
    raw = raw_config(fx.PROD)
    raw["cluster"].update(endpointPublicAccess=True, publicAccessCidrs=["198.51.100.0/24"])
    raw["network"].update(availabilityZones=raw["network"]["availabilityZones"][:1], natGateways="single")
    raw["registry"].update(imageTagMutability="MUTABLE")
    cfg = parse(raw)
    assert (cfg.cluster.endpoint_public_access, cfg.network.nat_gateways) == (True, "single")


def test_missing_secret_is_reported_as_required(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    del raw["grafanaAdminPassword"]
    assert "required" in problems(raw)["grafanaAdminPassword"]


def test_node_pools_fall_back_to_defaults(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["nodePoolDefaults"] = {"capacityType": "SPOT", "labels": {"team": "ml"}, "maxUnavailable": 2}
    raw["nodePools"]["gpu-a10g"] = {"instanceTypes": ["g5.12xlarge"], "labels": {"tier": "batch"}}
    pools = parse(raw).resolved_node_pools()
    gpu = pools["gpu-a10g"]
    assert gpu.capacity_type == "SPOT"
    assert gpu.max_unavailable == 2
    assert gpu.labels == {"team": "ml", "tier": "batch"}
    assert gpu.ami_type == "AL2023_x86_64_NVIDIA"
    assert gpu.disk_size_gib >= 200, "GPU pools default to at least 200 GiB"
    assert (gpu.gpu_model, gpu.gpus_per_node) == ("a10g", 4)
    assert gpu.min_size == 0, "GPU pools default to scale-from-zero"
    assert pools["system"].gpu is False
    assert pools["system"].ami_type == "AL2023_x86_64_STANDARD"


def test_models_fall_back_to_defaults(raw_config: RawFactory) -> None:
    model = parse(raw_config(fx.STAGING)).resolved_models()["llama-3-8b"]
    assert (model.cpu, model.memory, model.shm_size) == ("6", "24Gi", "8Gi")
    assert model.canary is not None
    assert model.canary.weight == 10


def test_model_is_frozen(raw_config: RawFactory) -> None:
    cfg = parse(raw_config(fx.DEV))
    with pytest.raises(Exception, match="frozen"):
        cfg.network.cidr = "10.1.0.0/16"  # type: ignore[misc]


# --------------------------------------------------------------------------- fuzzing
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10_000) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


_BASE: dict[str, Any] = {}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), junk=_json, new_key=st.text(min_size=1, max_size=10))
def test_fuzz_malformed_configs_only_raise_config_error(
    raw_config: RawFactory, data: st.DataObject, junk: Any, new_key: str
) -> None:
    if not _BASE:
        _BASE.update(_plain(raw_config(fx.DEV)))
    raw = copy.deepcopy(_BASE)
    path = data.draw(st.sampled_from(_paths(raw)))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    parent: Any = raw
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "replace":
        parent[last] = junk
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[new_key] = junk
    # Any exception other than ConfigError propagates and fails the test.
    reported = None
    try:
        parse(raw)
    except ConfigError as err:
        reported = err.problems
    if reported is not None:
        assert reported, "a ConfigError always lists its problems"
        assert all(p.path for p in reported)
        assert all(p.message for p in reported)
