"""The GpuStack component under mocks: where the GPU daemons can schedule, and how they are configured."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.gpu_stack import GpuStack, GpuStackArgs
from infra.config import (
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LABEL_ACCELERATOR,
    LABEL_AMI_FAMILY,
    LABEL_POOL,
    NodePoolSettings,
)
from tests.components.harness import stand_in_context
from tests.conftest import STACKS
from tests.k8s_layer import HELM, fake_provider, k8s_plan, release, run_program, stack_config

GPU_DAEMONS = ("nvidia-device-plugin", "dcgm-exporter")


# --------------------------------------------------------------------------- a tiny scheduler
def _node(pool: NodePoolSettings) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Labels and taints a node of this pool carries (the node-pool contract in docs and infra/config.py)."""
    labels = {LABEL_POOL: pool.name, **pool.labels}
    taints = []
    if pool.gpu:
        labels[LABEL_ACCELERATOR] = "nvidia"
        labels[LABEL_AMI_FAMILY] = "bottlerocket" if pool.ami_type.startswith("BOTTLEROCKET") else "al2023"
        taints.append({"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": "NoSchedule"})
    return labels, taints


def _matches(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values", [])
    return {
        "In": key in labels and labels[key] in values,
        "NotIn": labels.get(key) not in values,
        "Exists": key in labels,
        "DoesNotExist": key not in labels,
    }[op]


def schedulable(values: dict[str, Any], labels: dict[str, str], taints: list[dict[str, str]]) -> bool:
    """Whether a DaemonSet pod with these chart values (affinity, nodeSelector, tolerations) lands on the node."""
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    if not any(all(_matches(e, labels) for e in t["matchExpressions"]) for t in terms):
        return False
    if any(labels.get(k) != v for k, v in (values.get("nodeSelector") or {}).items()):
        return False
    for taint in taints:
        if not any(
            t.get("key") in (None, taint["key"])
            and (t.get("operator") == "Exists" or t.get("value") == taint["value"])
            and t.get("effect") in (None, "", taint["effect"])
            for t in values.get("tolerations", [])
        ):
            return False
    return True


BOTTLEROCKET_GPU = NodePoolSettings(
    "gpu-br", ("g5.xlarge",), "BOTTLEROCKET_x86_64_NVIDIA", "ON_DEMAND", 0, 0, 1, 200, 1, {}, True, ("a",), "a10g", 1
)
AL2023_GPU = NodePoolSettings(
    "gpu-al", ("g5.xlarge",), "AL2023_x86_64_NVIDIA", "ON_DEMAND", 0, 0, 1, 200, 1, {}, True, ("a",), "a10g", 1
)
CPU = NodePoolSettings(
    "system", ("m6i.large",), "AL2023_x86_64_STANDARD", "ON_DEMAND", 1, 1, 3, 50, 1, {}, True, ("a",), None, 0
)


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_daemons_run_on_every_gpu_pool_and_on_no_cpu_pool(stack: str) -> None:
    plan = k8s_plan(stack)
    pools = stack_config(stack).resolved_node_pools().values()
    assert any(p.gpu for p in pools)
    assert any(not p.gpu for p in pools)
    for name in GPU_DAEMONS:
        values = release(plan, name).inputs["values"]
        for pool in pools:
            assert schedulable(values, *_node(pool)) == pool.gpu, (stack, name, pool.name)


def test_device_plugin_skips_bottlerocket_nodes_but_dcgm_does_not() -> None:
    plan = k8s_plan("dev")
    plugin = release(plan, "nvidia-device-plugin").inputs["values"]
    dcgm = release(plan, "dcgm-exporter").inputs["values"]
    assert schedulable(plugin, *_node(AL2023_GPU))
    # Bottlerocket NVIDIA variants run the device plugin on the host (awsdocs PR #1143).
    assert not schedulable(plugin, *_node(BOTTLEROCKET_GPU))
    assert schedulable(dcgm, *_node(BOTTLEROCKET_GPU))
    assert not schedulable(dcgm, *_node(CPU))


def test_a_daemon_without_the_toleration_would_not_schedule() -> None:
    """The scheduler model above is strict enough to catch a missing toleration."""
    values = release(k8s_plan("dev"), "dcgm-exporter").inputs["values"]
    assert not schedulable({**values, "tolerations": []}, *_node(AL2023_GPU))


def test_device_plugin_config_carries_time_slicing_from_config() -> None:
    dev = yaml.safe_load(release(k8s_plan("dev"), "nvidia-device-plugin").inputs["values"]["config"]["map"]["default"])
    assert dev["version"] == "v1"
    assert dev["flags"]["migStrategy"] == "none"
    (res,) = dev["sharing"]["timeSlicing"]["resources"]
    assert res == {"name": "nvidia.com/gpu", "replicas": stack_config("dev").gpu.time_slicing_replicas}
    prod = yaml.safe_load(
        release(k8s_plan("prod"), "nvidia-device-plugin").inputs["values"]["config"]["map"]["default"]
    )
    assert "sharing" not in prod


@pytest.mark.parametrize("stack", STACKS)
def test_dcgm_exporter_memory_pod_labels_and_service_monitor(stack: str) -> None:
    plan = k8s_plan(stack)
    dcgm = release(plan, "dcgm-exporter")
    values = dcgm.inputs["values"]
    assert values["resources"]["requests"]["memory"] == "512Mi"
    assert values["resources"]["limits"]["memory"] == f"{stack_config(stack).gpu.dcgm_memory_limit_mib}Mi"
    assert values["kubernetes"]["enablePodLabels"] is True
    assert values["serviceMonitor"]["enabled"] is True
    # The rules alert on these fields; the chart's default list lacks the throttling counters.
    for field in (
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_DEV_THERMAL_VIOLATION",
        "DCGM_FI_DEV_POWER_VIOLATION",
        "DCGM_FI_DEV_FB_USED",
    ):
        assert field in values["customMetrics"]
    # The ServiceMonitor needs the prometheus-operator CRDs first (pulumi-kubernetes#1712).
    crds = release(plan, "prometheus-operator-crds")
    assert crds.urn in dcgm.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_releases_are_pinned_atomic_and_patient(stack: str) -> None:
    for r in k8s_plan(stack).by_type(HELM):
        if r.inputs["namespace"] != "gpu-system":
            continue
        assert r.inputs["version"], r.name
        assert r.inputs["timeout"] >= 900, r.name
        assert r.inputs["atomic"] is True, r.name
        # The explicit cluster provider, never the ambient kubeconfig.
        assert "pulumi:providers:kubernetes::" in r.provider, r.name


def test_gpu_operator_keeps_the_amis_driver_and_toolkit() -> None:
    def program() -> None:
        GpuStack(
            "gpu",
            GpuStackArgs(stack="gpu-operator", mig_manager=True, mig_strategy="mixed"),
            stand_in_context(fake_provider()),
        )

    plan = run_program(program)
    op = release(plan, "gpu-operator").inputs["values"]
    assert op["driver"]["enabled"] is False
    assert op["toolkit"]["enabled"] is False
    assert op["migManager"]["enabled"] is True
    assert op["mig"]["strategy"] == "mixed"
    # One DCGM exporter: the standalone release.
    assert op["dcgmExporter"]["enabled"] is False
    assert release(plan, "dcgm-exporter")
    assert not [r for r in plan.by_type(HELM) if r.inputs["name"] == "nvidia-device-plugin"]
    # Operands follow NFD's labels, so NFD workers run only where the operator may manage GPUs.
    worker = op["node-feature-discovery"]["worker"]
    assert schedulable(worker, *_node(AL2023_GPU))
    assert not schedulable(worker, *_node(BOTTLEROCKET_GPU))
    assert not schedulable(worker, *_node(CPU))
    assert schedulable(
        {"affinity": worker["affinity"], "tolerations": op["daemonsets"]["tolerations"]}, *_node(AL2023_GPU)
    )
    data = yaml.safe_load(op["devicePlugin"]["config"]["data"]["default"])
    assert data["flags"]["migStrategy"] == "mixed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"mig_manager": True}, "mig_manager needs"),
        ({"time_slicing_replicas": 1}, "at least 2"),
        ({"time_slicing_replicas": 4, "mig_strategy": "single"}, "cannot be combined"),
    ],
)
def test_invalid_combinations_are_refused(args: dict[str, Any], message: str) -> None:
    def program() -> None:
        GpuStack("gpu", GpuStackArgs(**args), stand_in_context(fake_provider()))

    with pytest.raises(Exception, match=message):
        run_program(program)


@pytest.mark.parametrize("gpu_stack", ["device-plugin", "gpu-operator"])
def test_every_gpu_release_waits_for_the_nodes(gpu_stack: str) -> None:
    """The operator and NFD run Deployments (on the system pool) and every chart needs CoreDNS: each release
    waits for the context's ``needs_nodes``, whichever stack is chosen and with or without monitoring."""
    import pulumi_aws as aws

    def program() -> None:
        nodes = aws.eks.NodeGroup("system-ng", cluster_name="c", node_role_arn="arn", subnet_ids=["s"],
                                  scaling_config={"desired_size": 2, "max_size": 3, "min_size": 2})  # fmt: skip
        GpuStack("gpu", GpuStackArgs(stack=gpu_stack), stand_in_context(fake_provider(), needs_nodes=(nodes,)))

    plan = run_program(program)
    (node_group,) = plan.by_type("aws:eks/nodeGroup:NodeGroup")
    releases = plan.by_type(HELM)
    assert len(releases) == 2
    for r in releases:
        assert node_group.urn in r.dependencies, r.name
