"""Schedulability: does every pod fit a node of a pool it may use, next to that node's DaemonSets?

Admission passing is not enough: a pod whose requests exceed every node it may land on stays Pending
forever, the node provisioner never scales up for it, and ``pulumi up`` fails after the Deployment's await.

For every pod template of known shape (blueprint/preview/analyses/pod_templates.py) this finds the node
pools it may use: it tolerates their NoSchedule/NoExecute taints, and its nodeSelector and required node
affinity match their labels. For each such pool it takes the node the provisioner would start:

- a managed node group: its FIRST instance type. The cluster-autoscaler builds a mixed-instances node
  group's template node from the first launch-template override (kubernetes/autoscaler
  cluster-autoscaler/cloudprovider/aws/aws_manager.go ``getAsgTemplate`` via ``getInstanceTypeForAsg``),
  with allocatable = the type's nominal vCPUs and memory (``buildNodeFromTemplate``: "TODO: use proper
  allocatable"), and simulates the pod there beside the node's DaemonSets; a pod that does not fit that
  type never triggers a scale-up, whatever larger types follow. One that fits the nominal node but not
  the real allocatable gets a node it then cannot use; the check below takes the real allocatable;
- a Karpenter NodePool: any allowed type (family x size requirements) that fits, whose capacity also
  stays within the NodePool's ``limits`` (Karpenter launches no node that would pass them).

A node's allocatable is the instance's vCPUs and memory (components/karpenter.py ``VCPUS_BY_SIZE`` and
``GIB_PER_VCPU``, the table the NodePool limits use; memory less Karpenter's VM overhead estimate) less
what nodeadm reserves on EKS AL2023
(awslabs/amazon-eks-ami nodeadm/internal/kubelet/config.go ``withDefaultReservedResources``:
kube-reserved CPU 6 % of the first core, 1 % of the second, 0.5 % of cores 3-4, 0.25 % above; memory
``11Mi x maxPods + 255Mi``; ``evictionHard memory.available 100Mi``). From it go the requests of the
DaemonSets that would run on that node: the plan's DaemonSets, the DaemonSets of the charts in
``CHART_DAEMONSETS`` and of the EKS add-ons in ``ADDON_DAEMONSETS``, each where it tolerates the node's
taints and matches its labels.

A pod created by the deploy (Deployment, StatefulSet, Job, CronJob, Pod) that fits no node is blocking;
CI job shapes (pod templates the CI backends create on demand) are reported as advisory: a CI job
waits Pending instead of the deploy failing. Also advisory: the device plugin's time-slicing lets two
model pods share a physical GPU, where vLLM's ``--gpu-memory-utilization`` (default 0.9, vllm
``CacheConfig.gpu_memory_utilization``) makes the second fail to allocate its KV cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blueprint.preview.analyses import AnalysisResult, Finding
from blueprint.preview.analyses.pod_templates import HELM, SCALE_SET_CHART, PodTemplate, pod_templates
from components.karpenter import GIB_PER_VCPU, VCPUS_BY_SIZE
from components.vocabulary import GPU_RESOURCE, gpu_facts, parse_quantity

if TYPE_CHECKING:
    from blueprint.preview.plan import Plan

NAME = "schedulability"
MI = Fraction(2**20)
GI = Fraction(2**30)

# Pods per node nodeadm configures without prefix delegation: the VPC CNI's ENI limit per instance
# (awslabs/amazon-eks-ami nodeadm/internal/kubelet/eni-max-pods.txt: g5, g6, g6e, m6i, m7i .xlarge and
# .2xlarge 58, .large 29, .4xlarge 234). Only the memory kube-reserved depends on it (11Mi a pod), so one
# value per size serves every family: g4dn's small sizes (29) come out ~0.3 GiB stricter, the largest
# sizes (100-737) within ~7 GiB of nodes with hundreds of GiB.
_MAX_PODS_BY_SIZE: Mapping[str, int] = {
    "medium": 17, "large": 29, "xlarge": 58, "2xlarge": 58, "4xlarge": 234, "8xlarge": 234,
    "12xlarge": 234, "16xlarge": 737, "24xlarge": 737, "48xlarge": 737, "metal": 737,
}  # fmt: skip
EVICTION_HARD_MEMORY = 100 * MI
# The kernel and firmware keep part of the nominal memory: a node reports less capacity than the instance
# page lists. Karpenter estimates the gap as ``settings.vmMemoryOverheadPercent`` (default 0.075,
# karpenter.sh docs "Settings"); the cluster-autoscaler's template node takes the nominal memory, so it may
# start a node the pod then does not fit: the stricter figure decides.
VM_MEMORY_OVERHEAD = Fraction(75, 1000)

# DaemonSets of the EKS add-ons (their default configuration): requests per node, and the configuration key
# that, set to false, keeps the DaemonSet off tainted nodes (None: it tolerates every taint).
# aws-node: aws/amazon-vpc-cni-k8s charts/aws-vpc-cni/values.yaml requests cpu 25m; counted twice for the
# network-policy agent container that enableNetworkPolicy adds (an upper bound). kube-proxy: the EKS add-on's
# DaemonSet requests cpu 100m and tolerates every taint. ebs-csi-node: kubernetes-sigs/aws-ebs-csi-driver
# charts/aws-ebs-csi-driver/values.yaml ``node.resources`` 10m/40Mi (the sidecars set none), every taint
# tolerated unless ``node.tolerateAllTaints`` is false.
ADDON_DAEMONSETS: Mapping[str, tuple[str, dict[str, str], str | None]] = {
    "vpc-cni": ("aws-node", {"cpu": "50m"}, None),
    "kube-proxy": ("kube-proxy", {"cpu": "100m"}, None),
    "eks-pod-identity-agent": ("eks-pod-identity-agent", {}, None),
    "aws-ebs-csi-driver": ("ebs-csi-node", {"cpu": "10m", "memory": "40Mi"}, "node.tolerateAllTaints"),
}
# Charts whose release renders a DaemonSet: chart -> values prefix of that DaemonSet's pod (resources,
# tolerations, nodeSelector, affinity) and the chart's default tolerations when the values set none
# (prometheus-community/helm-charts prometheus-node-exporter values.yaml tolerates every NoSchedule taint).
CHART_DAEMONSETS: Mapping[str, tuple[str, list[dict[str, str]]]] = {
    "nvidia-device-plugin": ("", []),
    "dcgm-exporter": ("", []),
    "kube-prometheus-stack": ("prometheus-node-exporter", [{"operator": "Exists", "effect": "NoSchedule"}]),
    "prometheus-node-exporter": ("", [{"operator": "Exists", "effect": "NoSchedule"}]),
}
VLLM_GPU_MEMORY_UTILIZATION = 0.9
_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


# --------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class Node:
    """A node a pool would start: its allocatable cpu (cores) and memory (bytes)."""

    instance_type: str
    cpu: Fraction
    memory: Fraction
    gpus: int


def _kube_reserved_cpu(vcpus: int) -> Fraction:
    """nodeadm ``getCPUMillicoresToReserve``: 6 %, 1 %, 0.5 % x 2, then 0.25 % of each further core."""
    steps = [(1, Fraction(6, 100)), (1, Fraction(1, 100)), (2, Fraction(5, 1000)), (vcpus, Fraction(25, 10000))]
    left, out = vcpus, Fraction(0)
    for cores, share in steps:
        n = min(left, cores)
        out += n * share
        left -= n
    return out


def node(instance_type: str) -> Node | None:
    """The allocatable of an instance type under nodeadm's defaults; None when its size is unknown."""
    family, _, size = instance_type.partition(".")
    if size not in VCPUS_BY_SIZE or family not in GIB_PER_VCPU:
        return None
    vcpus = VCPUS_BY_SIZE[size]
    memory = vcpus * GIB_PER_VCPU[family] * GI * (1 - VM_MEMORY_OVERHEAD)
    reserved = (11 * _MAX_PODS_BY_SIZE.get(size, 110) + 255) * MI + EVICTION_HARD_MEMORY
    gpus = (gpu_facts(instance_type) or ("", 0))[1]
    return Node(instance_type, vcpus - _kube_reserved_cpu(vcpus), memory - reserved, gpus)


@dataclass
class Pool:
    """A managed node group or a Karpenter NodePool: where pods may land and what node it would start."""

    name: str
    kind: str
    labels: dict[str, str]
    taints: list[dict[str, str]]
    instance_types: list[str]
    limits: dict[str, Fraction] = field(default_factory=dict)

    def candidates(self) -> list[str]:
        """The types the provisioner may start for a pending pod (see the module docstring)."""
        return self.instance_types[:1] if self.kind == "managed node group" else self.instance_types


def pools(plan: Plan) -> list[Pool]:
    """Managed node groups and Karpenter NodePools of the plan."""
    out = []
    for r in plan.by_type("aws:eks/nodeGroup:NodeGroup"):
        i = r.inputs
        taints = [
            {
                "key": t.get("key"),
                "value": t.get("value"),
                "effect": _TAINT_EFFECTS.get(t.get("effect"), t.get("effect")),
            }
            for t in i.get("taints") or []
        ]
        labels = {str(k): str(v) for k, v in (i.get("labels") or {}).items()}
        name = str(i.get("nodeGroupName") or r.name)
        out.append(Pool(name, "managed node group", labels, taints, [str(t) for t in i.get("instanceTypes") or []]))
    for r in plan.resources:
        if r.type.startswith("kubernetes:karpenter.sh/") and r.type.endswith(":NodePool"):
            out.append(_karpenter_pool(r.inputs, r.name))
    return out


def _karpenter_pool(obj: Mapping[str, Any], default_name: str) -> Pool:
    tmpl = (obj.get("spec") or {}).get("template") or {}
    spec = tmpl.get("spec") or {}
    req = {e.get("key"): [str(v) for v in e.get("values") or []] for e in spec.get("requirements") or []}
    fams, sizes = req.get("karpenter.k8s.aws/instance-family", []), req.get("karpenter.k8s.aws/instance-size", [])
    types = req.get("node.kubernetes.io/instance-type") or [f"{f}.{z}" for f in fams for z in sizes]
    labels = {str(k): str(v) for k, v in ((tmpl.get("metadata") or {}).get("labels") or {}).items()}
    labels.update({k: v[0] for k, v in req.items() if len(v) == 1 and isinstance(k, str)})
    limits = {k: parse_quantity(v) for k, v in ((obj.get("spec") or {}).get("limits") or {}).items()}
    name = str((obj.get("metadata") or {}).get("name") or default_name)
    return Pool(name, "Karpenter NodePool", labels, list(spec.get("taints") or []), types, limits)


def node_labels(pool: Pool, instance_type: str) -> dict[str, str]:
    """The labels a node of the pool carries: the pool's and the well-known ones the kubelet and EKS set."""
    key = "eks.amazonaws.com/nodegroup" if pool.kind == "managed node group" else "karpenter.sh/nodepool"
    well_known = {"node.kubernetes.io/instance-type": instance_type, "kubernetes.io/os": "linux", key: pool.name}
    return {**well_known, "kubernetes.io/arch": "amd64", **pool.labels}


# --------------------------------------------------------------------------- pods
def tolerates(tolerations: Sequence[Mapping[str, Any]], taints: Sequence[Mapping[str, Any]]) -> bool:
    """Every NoSchedule/NoExecute taint is tolerated (k8s.io/api core/v1 toleration.go ``ToleratesTaint``)."""
    for taint in taints:
        if taint.get("effect") == "PreferNoSchedule":
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return False
    return True


def _tolerates(t: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    if t.get("effect") and t.get("effect") != taint.get("effect"):
        return False
    if t.get("key") and t.get("key") != taint.get("key"):
        return False
    if t.get("operator") == "Exists":
        return True
    return bool(t.get("key")) and str(t.get("value") or "") == str(taint.get("value") or "")


def requests(spec: Mapping[str, Any]) -> dict[str, Fraction]:
    """Pod requests as the scheduler counts them: app containers summed, or the largest init container."""
    out: dict[str, Fraction] = {}
    for c in spec.get("containers") or []:
        for k, v in (((c.get("resources") or {}).get("requests")) or {}).items():
            out[k] = out.get(k, Fraction(0)) + parse_quantity(v)
    for c in spec.get("initContainers") or []:
        for k, v in (((c.get("resources") or {}).get("requests")) or {}).items():
            out[k] = max(out.get(k, Fraction(0)), parse_quantity(v))
    return out


@dataclass(frozen=True)
class DaemonSet:
    """A DaemonSet's pod as the scheduler places it."""

    name: str
    spec: dict[str, Any]


def daemonsets(plan: Plan, templates: list[PodTemplate]) -> list[DaemonSet]:
    """The plan's DaemonSets, its charts' and its EKS add-ons' (see the module docstring)."""
    out = [DaemonSet(t.where, t.spec) for t in templates if t.where.startswith("DaemonSet ")]
    for r in plan.by_type(HELM):
        chart = str(r.inputs.get("chart") or "").rstrip("/").rsplit("/", 1)[-1]
        if chart not in CHART_DAEMONSETS:
            continue
        prefix, default_tolerations = CHART_DAEMONSETS[chart]
        values = r.inputs.get("values") or {}
        v = (values.get(prefix) if prefix else values) or {}
        spec = {
            "containers": [{"name": chart, "resources": v.get("resources") or {}}],
            "tolerations": v.get("tolerations") or default_tolerations,
            "nodeSelector": v.get("nodeSelector"),
            "affinity": v.get("affinity"),
        }
        out.append(DaemonSet(f"{chart} (helm release {r.inputs.get('name', r.name)})", spec))
    for r in plan.by_type("aws:eks/addon:Addon"):
        addon = str(r.inputs.get("addonName") or "")
        if addon in ADDON_DAEMONSETS:
            out.append(_addon_daemonset(addon, r.inputs.get("configurationValues")))
    return out


def _addon_daemonset(addon: str, config: Any) -> DaemonSet:
    name, reqs, gate = ADDON_DAEMONSETS[addon]
    try:
        values = json.loads(config) if isinstance(config, str) else dict(config or {})
    except ValueError:
        values = {}
    on = values
    for key in (gate or "").split(".") if gate else []:
        on = on.get(key) if isinstance(on, Mapping) else None
    all_taints = gate is None or on not in (False, "false")
    tolerations = [{"operator": "Exists"}] if all_taints else [{"operator": "Exists", "effect": "NoExecute"}]
    spec = {"containers": [{"name": name, "resources": {"requests": reqs}}], "tolerations": tolerations}
    return DaemonSet(f"{name} (EKS add-on {addon})", spec)


def runs_on(spec: Mapping[str, Any], pool: Pool, labels: Mapping[str, str]) -> bool:
    """Whether a pod (or DaemonSet pod) may land on a node of the pool."""
    from ai_platform_policies.estimate import schedulable_on

    return tolerates(list(spec.get("tolerations") or []), pool.taints) and schedulable_on(spec, labels)


# --------------------------------------------------------------------------- the fit
@dataclass
class Fit:
    """One pod on one candidate node: what it needs there and what the node offers."""

    pool: Pool
    node: Node
    pod: dict[str, Fraction]
    daemonsets: dict[str, Fraction]
    over_limits: bool = False

    def short(self, key: str) -> Fraction:
        """How much of ``key`` is missing (0 when it fits)."""
        offer = {"cpu": self.node.cpu, "memory": self.node.memory, GPU_RESOURCE: Fraction(self.node.gpus)}[key]
        need = self.pod.get(key, Fraction(0)) + self.daemonsets.get(key, Fraction(0))
        return max(Fraction(0), need - offer)

    @property
    def fits(self) -> bool:
        return not self.over_limits and not any(self.short(k) for k in ("cpu", "memory", GPU_RESOURCE))

    def public(self) -> dict[str, Any]:
        return {
            "pool": self.pool.name,
            "instanceType": self.node.instance_type,
            "podRequests": _show(self.pod),
            "daemonSetRequests": _show(self.daemonsets),
            "allocatable": _show({"cpu": self.node.cpu, "memory": self.node.memory}),
            "fits": self.fits,
        }


def _show(q: Mapping[str, Fraction]) -> dict[str, str]:
    out = {}
    for k in ("cpu", "memory", GPU_RESOURCE):
        if k in q:
            v = q[k]
            out[k] = f"{int(v * 1000)}m" if k == "cpu" else f"{int(v / MI)}Mi" if k == "memory" else f"{float(v):g}"
    return out


def pod_needs(spec: Mapping[str, Any]) -> dict[str, Fraction]:
    """Requests, with an extended resource's limit standing in for its request (the API server defaults it)."""
    need = requests(spec)
    for c in spec.get("containers") or []:
        lim = ((c.get("resources") or {}).get("limits") or {}).get(GPU_RESOURCE)
        if lim is not None and GPU_RESOURCE not in ((c.get("resources") or {}).get("requests") or {}):
            need[GPU_RESOURCE] = need.get(GPU_RESOURCE, Fraction(0)) + parse_quantity(lim)
    return need


def fits_of(spec: Mapping[str, Any], pool_list: list[Pool], ds: list[DaemonSet]) -> Iterator[Fit]:
    """The pod on every candidate node of every pool it may use."""
    need = pod_needs(spec)
    for pool in pool_list:
        for itype in pool.candidates():
            n = node(itype)
            labels = node_labels(pool, itype)
            if n is None or not runs_on(spec, pool, labels):
                continue
            total: dict[str, Fraction] = {}
            for d in ds:
                if runs_on(d.spec, pool, labels):
                    for k, v in requests(d.spec).items():
                        total[k] = total.get(k, Fraction(0)) + v
            yield Fit(pool, n, need, total, _over_limits(pool, itype))


def _over_limits(pool: Pool, itype: str) -> bool:
    """A node of this type alone passes the NodePool's limits, so Karpenter never launches it."""
    family, _, size = itype.partition(".")
    capacity = {
        "cpu": Fraction(VCPUS_BY_SIZE[size]),
        "memory": VCPUS_BY_SIZE[size] * GIB_PER_VCPU[family] * GI,
        GPU_RESOURCE: Fraction((gpu_facts(itype) or ("", 0))[1]),
    }
    return any(k in pool.limits and capacity[k] > pool.limits[k] for k in capacity)


def _blocking(pod: PodTemplate) -> bool:
    """Pods the deploy creates and waits for; CI job shapes are created on demand."""
    return not pod.advisory and not pod.where.startswith(("PodTemplate ", SCALE_SET_CHART))


def _finding(pod: PodTemplate, fits: list[Fit]) -> Finding:
    parts = []
    for f in fits:
        short = ", ".join(
            f"{k} {_show({k: f.pod.get(k, Fraction(0))})[k]} + DaemonSets {_show({k: f.daemonsets.get(k, Fraction(0))})[k]}"
            f" > allocatable {_show({k: getattr(f.node, k) if k != GPU_RESOURCE else Fraction(f.node.gpus)})[k]}"
            for k in ("cpu", "memory", GPU_RESOURCE)
            if f.short(k)
        )
        if f.over_limits:
            short = "a node of this type alone exceeds the NodePool's limits"
        parts.append(f"{f.pool.kind} {f.pool.name} on {f.node.instance_type}: {short}")
    first = any(f.pool.kind == "managed node group" for f in fits)
    return Finding(
        NAME,
        pod.where,
        "the pod fits no node it may use, so it stays Pending and no node is started for it"
        + (" (the cluster-autoscaler simulates a node group's first instance type)" if first else "")
        + ": "
        + "; ".join(parts)
        + ".",
        f"{_what_to_lower(pod)}, or list an instance type it fits first in nodePools.<pool>.instanceTypes "
        "(or allow one in the NodePool) in stacks/Pulumi.<stack>.yaml",
        blocking=_blocking(pod),
    )


def _what_to_lower(pod: PodTemplate) -> str:
    if pod.where.startswith("Deployment ") and pod_needs(pod.spec).get(GPU_RESOURCE):
        return "lower the model's cpu/memory (serving.models.<name> or serving.modelDefaults cpu and memory)"
    if not _blocking(pod):
        return "lower the CI job shape's cpu/memory (ciRunners.* / the CI backend's job resources)"
    return "lower the pod's cpu/memory requests"


def _time_slicing(plan: Plan, templates: list[PodTemplate]) -> list[Finding]:
    """Two model pods on one time-sliced GPU: each vLLM claims its share of the whole GPU's memory."""
    from ai_platform_policies.estimate import time_slicing_replicas
    from blueprint.preview.analyses.cost import resources

    slicing = time_slicing_replicas(resources(plan))
    if slicing <= 1:
        return []
    out = []
    for pod in templates:
        if not pod.where.startswith("Deployment ") or not pod_needs(pod.spec).get(GPU_RESOURCE):
            continue
        cs = pod.spec.get("containers") or []
        args = [str(a) for c in cs for a in [*(c.get("command") or []), *(c.get("args") or [])]]
        if not any("vllm" in str(c.get("image", "")) for c in cs) and not any("vllm" in a for a in args):
            continue
        util = _utilization(args)
        if 2 * util > 1:
            out.append(
                Finding(
                    NAME,
                    pod.where,
                    f"the device plugin time-slices each GPU {slicing} ways, so two of these pods (replicas, or the "
                    f"canary beside the primary) may share one physical GPU; vLLM claims {util:g} of the GPU's memory "
                    "at start, so the second fails to allocate its KV cache and restarts.",
                    "set gpu.timeSlicingReplicas to 1 in stacks/Pulumi.<stack>.yaml, or keep model pods off "
                    "time-sliced pools (time-slicing suits CI and notebooks, not servers that preallocate memory)",
                    blocking=False,
                )
            )
    return out


def _utilization(args: list[str]) -> float:
    for i, a in enumerate(args):
        if a.startswith("--gpu-memory-utilization"):
            value = a.partition("=")[2] or (args[i + 1] if i + 1 < len(args) else "")
            try:
                return float(value)
            except ValueError:
                break
    return VLLM_GPU_MEMORY_UTILIZATION


def analyse(plan: Plan, root: Path) -> AnalysisResult:
    """Fit every pod template of known shape to the nodes its pools would start."""
    from blueprint.preview.policy_eval import load_pack

    load_pack()
    result = AnalysisResult(NAME)
    templates = [t for t in pod_templates(plan) if t.psa]
    pool_list = pools(plan)
    ds = daemonsets(plan, templates)
    rows, checked = [], 0
    for pod in templates:
        if pod.where.startswith("DaemonSet "):
            continue
        fits = list(fits_of(pod.spec, pool_list, ds))
        if not fits:
            continue
        checked += 1
        if not any(f.fits for f in fits):
            result.findings.append(_finding(pod, fits))
        if pod_needs(pod.spec).get(GPU_RESOURCE) or not any(f.fits for f in fits):
            rows.append({"pod": pod.where, "nodes": [f.public() for f in fits]})
    result.findings += _time_slicing(plan, templates)
    result.findings.sort(key=lambda f: (f.object, f.rule))
    result.checked = {"pods on pools": checked, "node pools": len(pool_list), "daemonsets": len(ds)}
    result.data = {"pods": sorted(rows, key=lambda r: str(r["pod"]))}
    return result
