"""Schedulability: pods against the nodes their pools would start, next to those nodes' DaemonSets.

Broken fixtures are small plans built by hand; the committed stacks must come out with 0 blocking findings
and every GPU model checked against a node.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from blueprint.preview.analyses import ANALYSES, AnalysisResult
from blueprint.preview.analyses.pod_templates import pod_templates
from blueprint.preview.analyses.schedulability import MI, _kube_reserved_cpu, analyse, node, pod_needs
from blueprint.preview.plan import Plan, Resource
from components.vocabulary import GPU_RESOURCE as GPU
from components.vocabulary import GPU_TAINT_KEY, LABEL_ACCELERATOR, LABEL_POOL
from tests.analyses.helpers import plan, resource
from tests.conftest import ROOT, STACKS, plan_for

GPU_TOLERATION = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
GPU_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": LABEL_ACCELERATOR, "operator": "In", "values": ["nvidia"]}]}
            ]
        }
    }
}


def node_group(name: str, types: list[str], *, gpu: bool = True) -> Resource:
    labels = {LABEL_POOL: name, **({LABEL_ACCELERATOR: "nvidia"} if gpu else {})}
    taints = [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}] if gpu else []
    inputs = {"nodeGroupName": name, "instanceTypes": types, "labels": labels, "taints": taints}
    return resource("aws:eks/nodeGroup:NodeGroup", name, inputs)


def karpenter_pool(name: str, sizes: list[str], limits: dict[str, str] | None = None) -> Resource:
    reqs = [
        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["g5"]},
        {"key": "karpenter.k8s.aws/instance-size", "operator": "In", "values": sizes},
    ]
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": {LABEL_POOL: name, LABEL_ACCELERATOR: "nvidia"}},
            "spec": {"requirements": reqs, "taints": [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}]},
        }
    }
    if limits:
        spec["limits"] = limits
    return resource("kubernetes:karpenter.sh/v1:NodePool", name, {"metadata": {"name": name}, "spec": spec})


def workload(
    kind: str, name: str, cpu: str, memory: str, *, gpu: bool = True, args: list[str] | None = None
) -> Resource:
    res: dict[str, Any] = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}
    if gpu:
        res["limits"]["nvidia.com/gpu"] = "1"
    container = {"name": "server", "image": "registry/vllm:v0.11.0", "resources": res, "args": args or []}
    spec: dict[str, Any] = {"containers": [container]}
    if gpu:
        spec |= {"tolerations": [GPU_TOLERATION], "affinity": GPU_AFFINITY}
    meta = {"name": name, "namespace": "serving"}
    obj = (
        {"metadata": meta, "spec": {"template": {"spec": spec}}}
        if kind != "PodTemplate"
        else {"metadata": meta, "template": {"spec": spec}}
    )
    api = "apps/v1" if kind == "Deployment" else "core/v1"
    return resource(f"kubernetes:{api}:{kind}", name, obj)


def chart(name: str, values: dict[str, Any]) -> Resource:
    return resource(
        "kubernetes:helm.sh/v3:Release",
        name,
        {"name": name, "chart": name, "namespace": "gpu-system", "values": values},
    )


def run(*resources: Resource) -> AnalysisResult:
    return analyse(plan(*resources), ROOT)


def blocking(result: AnalysisResult) -> list[str]:
    return [f.line() for f in result.findings if f.blocking]


def test_registered() -> None:
    assert "blueprint.preview.analyses.schedulability" in ANALYSES


def test_nodeadm_reservations() -> None:
    # nodeadm: 6 % of core 1, 1 % of core 2, 0.5 % of cores 3-4, 0.25 % above.
    assert _kube_reserved_cpu(4) == Fraction(80, 1000)
    assert _kube_reserved_cpu(8) == Fraction(90, 1000)
    g5 = node("g5.xlarge")
    assert g5 is not None
    assert g5.cpu == Fraction(392, 100)
    assert g5.gpus == 1
    # 16 GiB less the VM overhead (7.5 %), 11Mi x 58 pods + 255Mi kube-reserved and the 100Mi eviction threshold.
    assert g5.memory == 16 * 1024 * MI * Fraction(925, 1000) - (11 * 58 + 255 + 100) * MI
    assert node("x9.unknown") is None


def test_first_instance_type_decides_for_a_managed_node_group() -> None:
    result = run(node_group("gpu-a10g", ["g5.xlarge", "g5.2xlarge"]), workload("Deployment", "llama", "4", "16Gi"))
    (line,) = blocking(result)
    assert "Deployment serving/llama" in line
    assert "gpu-a10g on g5.xlarge" in line
    assert "cpu 4000m" in line
    assert "allocatable 3920m" in line
    assert "first instance type" in line
    assert "serving.modelDefaults" in line


def test_larger_type_first_fits() -> None:
    result = run(node_group("gpu-a10g", ["g5.2xlarge", "g5.xlarge"]), workload("Deployment", "llama", "4", "16Gi"))
    assert blocking(result) == []
    assert result.checked["pods on pools"] == 1


def test_daemonsets_on_the_node_count() -> None:
    pool = node_group("gpu-a10g", ["g5.xlarge"])
    pod = workload("Deployment", "llama", "3800m", "8Gi")
    assert blocking(run(pool, pod)) == []
    dcgm = chart("dcgm-exporter", {"resources": {"requests": {"cpu": "200m"}}, "tolerations": [GPU_TOLERATION]})
    (line,) = blocking(run(pool, pod, dcgm))
    assert "DaemonSets 200m" in line
    # A DaemonSet that does not tolerate the GPU taint never lands there.
    untolerated = chart("dcgm-exporter", {"resources": {"requests": {"cpu": "200m"}}})
    assert blocking(run(pool, pod, untolerated)) == []


def test_eks_addon_daemonsets_follow_their_tolerations() -> None:
    pool = node_group("gpu-a10g", ["g5.xlarge"])
    pod = workload("Deployment", "llama", "3911m", "8Gi")
    ebs = resource("aws:eks/addon:Addon", "ebs", {"addonName": "aws-ebs-csi-driver"})
    assert len(blocking(run(pool, pod, ebs))) == 1  # ebs-csi-node tolerates every taint by default: 10m
    ebs_off = resource(
        "aws:eks/addon:Addon",
        "ebs",
        {"addonName": "aws-ebs-csi-driver", "configurationValues": '{"node": {"tolerateAllTaints": false}}'},
    )
    assert blocking(run(pool, pod, ebs_off)) == []


def test_karpenter_picks_a_type_that_fits_within_limits() -> None:
    pod = workload("Deployment", "llama", "6", "24Gi")
    assert blocking(run(karpenter_pool("gpu", ["xlarge", "2xlarge"]), pod)) == []
    (line,) = blocking(run(karpenter_pool("gpu", ["xlarge", "2xlarge"], {"cpu": "4"}), pod))
    assert "Karpenter NodePool gpu" in line
    assert "g5.2xlarge: a node of this type alone exceeds" in line


def test_pool_it_may_not_use_is_not_checked() -> None:
    # No toleration for the GPU taint: the GPU pool is not a candidate, the CPU pool is.
    result = run(
        node_group("gpu", ["g5.xlarge"]),
        node_group("system", ["m6i.large"], gpu=False),
        workload("Deployment", "web", "1", "1Gi", gpu=False),
    )
    assert blocking(result) == []
    assert result.data["pods"] == []  # a CPU pod that fits is counted, not listed
    assert result.checked["pods on pools"] == 1
    big = workload("Deployment", "web", "3", "1Gi", gpu=False)
    (line,) = blocking(run(node_group("gpu", ["g5.2xlarge"]), node_group("system", ["m6i.large"], gpu=False), big))
    assert "system on m6i.large" in line


def test_ci_job_shapes_are_advisory() -> None:
    result = run(node_group("gpu", ["g5.xlarge"]), workload("PodTemplate", "gpu-job", "8", "32Gi"))
    (finding,) = result.findings
    assert not finding.blocking
    assert "CI job shape" in finding.fix


def device_plugin(replicas: int) -> Resource:
    config = f"version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: {replicas}\n"
    return chart("nvidia-device-plugin", {"config": {"map": {"default": config}}, "tolerations": [GPU_TOLERATION]})


@pytest.mark.parametrize(
    ("replicas", "args", "expected"),
    [(4, [], 1), (1, [], 0), (2, ["--gpu-memory-utilization", "0.45"], 0), (2, ["--gpu-memory-utilization=0.6"], 1)],
)
def test_time_slicing_shares_a_gpu_between_vllm_pods(replicas: int, args: list[str], expected: int) -> None:
    pod = workload("Deployment", "llama", "3", "12Gi", args=args)
    result = run(node_group("gpu", ["g5.xlarge"]), pod, device_plugin(replicas))
    shared = [f for f in result.findings if "time-slices" in f.rule]
    assert len(shared) == expected
    assert not any(f.blocking for f in shared)


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_schedule(stack: str) -> None:
    p: Plan = plan_for(stack)
    result = analyse(p, Path(ROOT))
    assert blocking(result) == []
    # Every GPU Deployment was fitted to a node of some pool, and fits one.
    gpu = {t.where for t in pod_templates(p) if t.where.startswith("Deployment ") and pod_needs(t.spec).get(GPU)}
    rows = {r["pod"]: r["nodes"] for r in result.data["pods"]}
    assert gpu <= set(rows)
    for pod in gpu:
        assert any(n["fits"] for n in rows[pod]), (pod, rows[pod])
