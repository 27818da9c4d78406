"""What the cost and time estimates count: node groups (Karpenter NodePools seen as node groups), the GPU
Deployments and runner scale sets that must fit on them at idle, and the device plugin's time-slicing.

Standard library only, like the rest of the estimator (the Pulumi CLI runs the pack alone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._gpu import gpus_of

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def _get(obj: Any, path: str, default: Any = None) -> Any:
    cur = obj
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, Sequence) and not isinstance(cur, str) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return default
    return default if cur is None else cur


def _num(v: Any, default: float = 0.0) -> float:
    if isinstance(v, bool):
        return default
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return default
    return default


_QTY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti)?$")
_GIB = {None: 2**-30, "Ki": 2**-20, "Mi": 2**-10, "Gi": 1.0, "Ti": 1024.0}


def gib(quantity: Any) -> float:
    """A Kubernetes storage quantity (``20Gi``) in GiB; 0 when it is not one."""
    m = _QTY.match(str(quantity or ""))
    return float(m.group(1)) * _GIB[m.group(2)] if m else 0.0


NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


@dataclass
class _View:
    """A resource seen in another resource's shape (a Karpenter NodePool as a node group, its
    EC2NodeClass as a launch template), so the estimates price and time both provisioners alike."""

    urn: str
    name: str
    resource_type: str
    props: dict[str, Any]
    parent: Any = None
    dependencies: list[Any] = field(default_factory=list)


def _gib(v: Any) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Gi|Ti)?", str(v or "0"))
    return float(m.group(1)) * (1024 if m.group(2) == "Ti" else 1) if m else 0.0


def karpenter_pools(resources: Sequence[Any]) -> list[Any]:
    """Every Karpenter NodePool as a node group: its labels, the family x size types it allows (first
    listed first), on-demand unless it allows Spot only, 0 to limits/GPUs-per-node nodes, and its
    EC2NodeClass as the launch template (volumes, user data, image snapshot)."""
    classes = {str(_get(r.props, "metadata.name", "")): r for r in resources if r.resource_type == NODECLASS}
    out: list[Any] = []
    for r in resources:
        if r.resource_type != NODEPOOL:
            continue
        tmpl = _get(r.props, "spec.template", {})
        req = {e.get("key"): [str(v) for v in e.get("values") or []] for e in _get(tmpl, "spec.requirements", [])}
        fams, sizes = req.get("karpenter.k8s.aws/instance-family", []), req.get("karpenter.k8s.aws/instance-size", [])
        types = [f"{f}.{z}" for z in sizes for f in fams]
        capacity = req.get("karpenter.sh/capacity-type", ["on-demand"])
        per_node = max((gpus_of(t) for t in types), default=0) or 1
        nodes = int(_num(_get(r.props, "spec.limits", {}).get("nvidia.com/gpu"), per_node) // per_node)
        nc = classes.get(str(_get(tmpl, "spec.nodeClassRef.name", "")))
        deps = [_launch_template_view(nc)] if nc is not None else []
        props = {
            "labels": dict(_get(tmpl, "metadata.labels", {}) or {}),
            "instanceTypes": types,
            "capacityType": "SPOT" if capacity == ["spot"] else "ON_DEMAND",
            "scalingConfig": {"minSize": 0.0, "maxSize": float(nodes)},
            "karpenter": True,
        }
        out.append(_View(r.urn, r.name, NODE_GROUP, props, getattr(r, "parent", None), deps))
    return out


def _launch_template_view(nc: Any) -> Any:
    maps = []
    for b in _get(nc.props, "spec.blockDeviceMappings", []) or []:
        ebs = dict(b.get("ebs") or {})
        ebs["volumeSize"] = _gib(ebs.get("volumeSize"))
        if ebs.get("snapshotID"):
            ebs["snapshotId"] = ebs["snapshotID"]
        maps.append({"deviceName": b.get("deviceName"), "ebs": ebs})
    props = {"blockDeviceMappings": maps, "userData": _get(nc.props, "spec.userData", "")}
    return _View(nc.urn, nc.name, LAUNCH_TEMPLATE, props, getattr(nc, "parent", None))


def node_groups(resources: Sequence[Any]) -> list[Any]:
    """Managed node groups and Karpenter NodePools (as node groups)."""
    return [r for r in resources if r.resource_type == NODE_GROUP] + karpenter_pools(resources)


def _dep_of_type(r: Any, type_: str) -> Any:
    return next((d for d in getattr(r, "dependencies", None) or [] if d.resource_type == type_), None)


def _chart(props: Mapping[str, Any]) -> str:
    return str(props.get("chart") or "").rstrip("/").rsplit("/", 1)[-1]


def _pod_spec(props: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = _get(props, "spec.template.spec", {})
    return spec if isinstance(spec, Mapping) else {}


def pod_gpus(spec: Mapping[str, Any]) -> float:
    """``nvidia.com/gpu`` a pod requests (limits, as the device plugin allocates them)."""
    return sum(_num(_get(c, "resources.limits", {}).get("nvidia.com/gpu")) for c in spec.get("containers") or [])


def _expr_ok(expr: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return str(labels.get(key)) in values if key in labels else False
    if op == "NotIn":
        return key not in labels or str(labels.get(key)) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def schedulable_on(spec: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a pod's nodeSelector and required node affinity admit nodes with ``labels``."""
    selector = spec.get("nodeSelector") or {}
    if any(str(labels.get(k)) != str(v) for k, v in selector.items()):
        return False
    terms = _get(spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", [])
    if not terms:
        return True
    return any(all(_expr_ok(e, labels) for e in t.get("matchExpressions") or []) for t in terms)


@dataclass
class Workload:
    """A GPU Deployment with the replica range its autoscaler gives it."""

    urn: str
    name: str
    namespace: str
    gpus: float
    min_replicas: int
    max_replicas: int
    pools: list[Any]
    """Node groups (``PolicyResource``) the pod may schedule on."""


def gpu_workloads(resources: Sequence[Any]) -> list[Workload]:
    """GPU Deployments, their replica range (from the HPA or KEDA ScaledObject) and their pools."""
    scalers: dict[tuple[str, str], tuple[int, int]] = {}
    for r in resources:
        if r.resource_type.endswith(":ScaledObject") or r.resource_type.endswith(":HorizontalPodAutoscaler"):
            p = r.props
            key = (str(_get(p, "metadata.namespace", "")), str(_get(p, "spec.scaleTargetRef.name", "")))
            keda = r.resource_type.endswith(":ScaledObject")
            lo = _num(_get(p, "spec.minReplicaCount" if keda else "spec.minReplicas"), 0 if keda else 1)
            hi = _num(_get(p, "spec.maxReplicaCount" if keda else "spec.maxReplicas"), 100)
            scalers[key] = (int(lo), int(hi))
    groups = node_groups(resources)
    out = []
    for r in resources:
        if r.resource_type != "kubernetes:apps/v1:Deployment":
            continue
        spec = _pod_spec(r.props)
        gpus = pod_gpus(spec)
        if gpus <= 0:
            continue
        name, ns = str(_get(r.props, "metadata.name", r.name)), str(_get(r.props, "metadata.namespace", ""))
        fixed = int(_num(_get(r.props, "spec.replicas"), 1))
        lo, hi = scalers.get((ns, name), (fixed, fixed))
        pools = [g for g in groups if schedulable_on(spec, g.props.get("labels") or {})]
        out.append(Workload(r.urn, name, ns, gpus, lo, hi, pools))
    return out


def _gpu_runners(resources: Sequence[Any]) -> list[tuple[int, float, list[Any]]]:
    """``(minRunners, GPUs per runner, node groups)`` of the GPU runner scale sets (ARC Helm releases)."""
    groups = node_groups(resources)
    out = []
    for r in resources:
        if r.resource_type == "kubernetes:helm.sh/v3:Release" and _chart(r.props) == "gha-runner-scale-set":
            values = r.props.get("values") or {}
            spec = _get(values, "template.spec", {})
            gpus = pod_gpus(spec) if isinstance(spec, Mapping) else 0.0
            if gpus > 0:
                pools = [g for g in groups if schedulable_on(spec, g.props.get("labels") or {})]
                out.append((int(_num(values.get("minRunners"))), gpus, pools))
    return out


def time_slicing_replicas(resources: Iterable[Any]) -> int:
    """Pods per physical GPU under the device plugin's time-slicing config (1 without it)."""
    for r in resources:
        if r.resource_type == "kubernetes:helm.sh/v3:Release" and _chart(r.props) == "nvidia-device-plugin":
            for doc in (_get(r.props, "values.config.map", {}) or {}).values():
                m = re.search(r"timeSlicing:.*?replicas:\s*(\d+)", str(doc), re.S)
                if m:
                    return max(1, int(m.group(1)))
    return 1
