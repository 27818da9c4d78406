"""Line items of the cost estimate: one pricer per billed resource type, the ``Item``/``Estimate`` records,
and the context (price table, assumptions, idle node demand) the pricers share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._fleet import (
    LAUNCH_TEMPLATE,
    NODE_GROUP,
    NODECLASS,
    NODEPOOL,
    _chart,
    _dep_of_type,
    _get,
    _gpu_runners,
    _num,
    gib,
    gpu_workloads,
    karpenter_pools,
    node_groups,
    time_slicing_replicas,
)


@dataclass
class Item:
    """One line of the estimate."""

    urn: str
    type: str
    component: str
    monthly_idle: float
    monthly_ceiling: float
    basis: str

    def public(self) -> dict[str, Any]:
        """The JSON form (``estimates.cost.items[]``)."""
        return {
            "urn": self.urn,
            "type": self.type,
            "component": self.component,
            "monthlyIdle": round(self.monthly_idle, 2),
            "monthlyCeiling": round(self.monthly_ceiling, 2),
            "basis": self.basis,
        }


@dataclass
class Estimate:
    """Items, unpriced resources and totals."""

    region: str
    date: str
    items: list[Item] = field(default_factory=list)
    unpriced: list[dict[str, str]] = field(default_factory=list)
    assumptions: dict[str, float] = field(default_factory=dict)

    @property
    def idle(self) -> float:
        """Monthly total at idle."""
        return round(sum(i.monthly_idle for i in self.items), 2)

    @property
    def ceiling(self) -> float:
        """Monthly total at ceiling."""
        return round(sum(i.monthly_ceiling for i in self.items), 2)

    def top(self, n: int = 5, key: str = "ceiling") -> list[Item]:
        """The ``n`` biggest line items by ``idle`` or ``ceiling``."""
        attr = "monthly_ceiling" if key == "ceiling" else "monthly_idle"
        return sorted(self.items, key=lambda i: (-getattr(i, attr), i.urn))[:n]

    def public(self) -> dict[str, Any]:
        """The ``estimates.cost`` document."""
        return {
            "currency": "USD",
            "monthly": {"idle": self.idle, "ceiling": self.ceiling},
            "items": [i.public() for i in sorted(self.items, key=lambda i: (-i.monthly_ceiling, i.urn))],
            "unpriced": sorted(self.unpriced, key=lambda u: u["urn"]),
            "priceTable": {"region": self.region, "date": self.date},
            "assumptions": dict(sorted(self.assumptions.items())),
        }


def money(v: float) -> str:
    """``$1,454`` (whole dollars; cents below $10)."""
    return f"${v:,.2f}" if abs(v) < 10 else f"${v:,.0f}"


def component_of(r: Any) -> str:
    """The top-level component a resource belongs to (its outermost parent under the stack)."""
    name, parent = "(stack)", getattr(r, "parent", None)
    while parent is not None and not str(getattr(parent, "resource_type", "")).startswith("pulumi:pulumi:Stack"):
        name, parent = parent.name, getattr(parent, "parent", None)
    return name


class _Context:
    """The price table, the assumptions and what the node groups must hold at idle."""

    def __init__(self, resources: Sequence[Any], table: Mapping[str, Any], assumptions: Mapping[str, float]):
        self.resources = resources
        self.table = table
        self.hours = float(table["hoursPerMonth"])
        self.p: Mapping[str, float] = table["prices"]
        self.a = assumptions
        self.karpenter_views = [r for r in resources if r.resource_type in (NODEPOOL, NODECLASS)]
        self.idle_nodes = self._idle_demand()

    def rate(self, instance_type: str, capacity: str) -> float | None:
        """USD per hour of one instance, Spot at the documented discount of its family."""
        entry = self.table["instances"].get(instance_type)
        if entry is None:
            return None
        rate = float(entry["usdPerHour"])
        if capacity == "SPOT":
            spot = self.table["spot"]
            rate *= 1 - float(spot["discountByFamily"].get(instance_type.split(".")[0], spot.get("defaultDiscount", 0)))
        return rate

    def gpus_per_node(self, group: Any) -> int:
        types = [str(t) for t in group.props.get("instanceTypes") or []]
        return int(self.table["instances"].get(types[0], {}).get("gpus", 0)) if types else 0

    def _idle_demand(self) -> dict[str, int]:
        """Nodes each GPU node group needs for the models' minimum replicas (cheapest pool first)."""
        slicing = time_slicing_replicas(self.resources)
        gpus: dict[str, float] = {}
        for pods, each, pools in [
            (w.min_replicas, w.gpus, w.pools) for w in gpu_workloads(self.resources)
        ] + _gpu_runners(self.resources):
            fits = [g for g in pools if self.gpus_per_node(g) > 0]
            if pods <= 0 or not fits:
                continue
            best = min(fits, key=lambda g: (self._per_gpu(g), g.urn))
            gpus[best.urn] = gpus.get(best.urn, 0.0) + each * pods
        by_urn = {g.urn: g for g in node_groups(self.resources)}
        return {u: math.ceil(n / (self.gpus_per_node(by_urn[u]) * slicing)) for u, n in gpus.items()}

    def _per_gpu(self, group: Any) -> float:
        types = [str(t) for t in group.props.get("instanceTypes") or []]
        rate = self.rate(types[0], str(group.props.get("capacityType") or "ON_DEMAND")) if types else None
        return (rate if rate is not None else math.inf) / max(self.gpus_per_node(group), 1)

    def monthly(self, key: str, quantity: float = 1.0, hourly: bool = True) -> float:
        return float(self.p[key]) * quantity * (self.hours if hourly else 1.0)


def _item(r: Any, idle: float, ceiling: float | None, basis: str, type_: str | None = None) -> Item:
    return Item(r.urn, type_ or r.resource_type, component_of(r), idle, idle if ceiling is None else ceiling, basis)


def _node_group(ctx: _Context, r: Any) -> list[Item] | str:
    p = r.props
    lt = _dep_of_type(r, LAUNCH_TEMPLATE)
    types = [str(t) for t in p.get("instanceTypes") or []] or (
        [str(lt.props["instanceType"])] if lt and lt.props.get("instanceType") else []
    )
    capacity = str(p.get("capacityType") or "ON_DEMAND")
    rates = [ctx.rate(t, capacity) for t in types]
    missing = [t for t, x in zip(types, rates, strict=True) if x is None] or ([] if types else ["(none)"])
    if missing:
        return f"instance type(s) {missing} are not in the price table; run `blueprint prices refresh`"
    lo, hi = int(_num(_get(p, "scalingConfig.minSize"))), int(_num(_get(p, "scalingConfig.maxSize")))
    need = ctx.idle_nodes.get(r.urn, 0)
    idle_n = min(max(lo, need), hi)
    r0, rmax = rates[0] or 0.0, max(x or 0.0 for x in rates)
    dear = types[rates.index(rmax)]
    why = f"minSize {lo}" if idle_n == lo else f"{need} node(s) for the models' minReplicas"
    basis = (
        f"idle {idle_n} × {types[0]} at ${r0:.4f}/h ({why}); ceiling maxSize {hi} × {dear} at ${rmax:.4f}/h; "
        f"{capacity.lower().replace('_', '-')}" + (" at the documented Spot discount" if capacity == "SPOT" else "")
    )
    items = [_item(r, idle_n * r0 * ctx.hours, hi * rmax * ctx.hours, basis)]
    if lt is not None:
        items.append(_root_volumes(ctx, r, lt, idle_n, hi))
    return items


def _root_volumes(ctx: _Context, group: Any, lt: Any, idle_n: int, hi: int) -> Item:
    per_node, extras = 0.0, []
    for b in lt.props.get("blockDeviceMappings") or []:
        ebs = b.get("ebs") or {}
        size = _num(ebs.get("volumeSize"))
        per_node += size * float(ctx.p["ebs.gp3.gbMonth"])
        iops, mibps = _num(ebs.get("iops"), 3000), _num(ebs.get("throughput"), 125)
        per_node += max(0.0, iops - 3000) * float(ctx.p["ebs.gp3.iopsMonth"])
        per_node += max(0.0, mibps - 125) * float(ctx.p["ebs.gp3.mibpsMonth"])
        extras.append(f"{size:g} GiB {ebs.get('volumeType') or 'gp3'}")
    basis = f"{', '.join(extras) or 'no volumes'} per node; idle {idle_n}, ceiling {hi} nodes"
    return Item(lt.urn, lt.resource_type, component_of(group), idle_n * per_node, hi * per_node, basis)


def _cluster(ctx: _Context, r: Any) -> list[Item]:
    support = str(_get(r.props, "upgradePolicy.supportType", "EXTENDED"))
    std = ctx.monthly("eks.cluster.standard.hour")
    if support == "STANDARD":
        return [_item(r, std, std, "control plane, standard support (upgradePolicy.supportType STANDARD)")]
    ext = ctx.monthly("eks.cluster.extended.hour")
    basis = f"control plane; ceiling at the extended-support rate once version {r.props.get('version')} leaves standard support (supportType {support})"
    return [_item(r, std, ext, basis)]


def _count(resources: Sequence[Any], type_: str, pred: Any = None) -> int:
    return sum(1 for r in resources if r.resource_type == type_ and (pred is None or pred(r)))


def _nat(ctx: _Context, r: Any) -> list[Item]:
    n = max(_count(ctx.resources, r.resource_type, lambda x: x.props.get("connectivityType") != "private"), 1)
    gb = ctx.a["natProcessedGbPerMonth"] / n
    cost = ctx.monthly("ec2.natGateway.hour") + ctx.monthly("ec2.natGateway.gb", gb, hourly=False)
    return [_item(r, cost, None, f"730 h + {gb:g} GB processed (natProcessedGbPerMonth split over {n} NAT gateway(s))")]


def _endpoint(ctx: _Context, r: Any) -> list[Item]:
    kind = str(r.props.get("vpcEndpointType") or "Gateway")
    if kind == "Gateway":
        return [_item(r, 0.0, None, "gateway endpoint: no hourly or data charge")]
    azs = max(len(r.props.get("subnetIds") or []), 1)
    n = max(_count(ctx.resources, r.resource_type, lambda x: x.props.get("vpcEndpointType") == "Interface"), 1)
    gb = ctx.a["interfaceEndpointProcessedGbPerMonth"] / n
    cost = ctx.monthly("vpc.interfaceEndpoint.hour", azs) + ctx.monthly("vpc.interfaceEndpoint.gb", gb, hourly=False)
    return [_item(r, cost, None, f"{kind.lower()} endpoint in {azs} AZ(s) + {gb:g} GB processed")]


def _eip(ctx: _Context, r: Any) -> list[Item]:
    return [_item(r, ctx.monthly("ec2.publicIpv4.hour"), None, "public IPv4 address, 730 h")]


def _kms(ctx: _Context, r: Any) -> list[Item]:
    return [_item(r, ctx.monthly("kms.key.month", hourly=False), None, "customer managed key (requests not included)")]


def _log_group(ctx: _Context, r: Any) -> list[Item]:
    ingest = ctx.a["logIngestGbPerMonthPerGroup"]
    days = _num(r.props.get("retentionInDays")) or 365.0
    stored = ingest * days / 30
    cost = ctx.monthly("logs.ingest.gb", ingest, hourly=False) + ctx.monthly(
        "logs.storage.gbMonth", stored, hourly=False
    )
    keep = f"{days:g}-day retention" if r.props.get("retentionInDays") else "no retention (12 months shown)"
    return [
        _item(
            r, cost, None, f"{ingest:g} GB/month ingested (logIngestGbPerMonthPerGroup), {keep}: {stored:g} GB stored"
        )
    ]


def _bucket(ctx: _Context, r: Any) -> list[Item]:
    gb = ctx.a["s3StoredGbPerBucket"]
    return [
        _item(
            r,
            ctx.monthly("s3.standard.gbMonth", gb, hourly=False),
            None,
            f"{gb:g} GB S3 Standard (s3StoredGbPerBucket)",
        )
    ]


def _pvc(ctx: _Context, r: Any) -> list[Item]:
    size = gib(_get(r.props, "spec.resources.requests.storage"))
    return [
        _item(r, ctx.monthly("ebs.gp3.gbMonth", size, hourly=False), None, f"{size:g} GiB gp3 PersistentVolumeClaim")
    ]


def _ingress(ctx: _Context, r: Any) -> list[Item]:
    p = r.props
    ann = _get(p, "metadata.annotations", {}) or {}
    if p.get("spec", {}).get("ingressClassName") != "alb" and ann.get("kubernetes.io/ingress.class") != "alb":
        return []
    group = ann.get("alb.ingress.kubernetes.io/group.name")
    if group:  # one ALB per IngressGroup: price it on the group's first Ingress only
        first = min(
            x.urn
            for x in ctx.resources
            if x.resource_type == r.resource_type
            and _get(x.props, "metadata.annotations", {}).get("alb.ingress.kubernetes.io/group.name") == group
        )
        if first != r.urn:
            return [_item(r, 0.0, None, f"shares the ALB of IngressGroup {group}")]
    lcu = ctx.a["albLcuPerHour"]
    cost = ctx.monthly("elb.application.hour") + ctx.monthly("elb.application.lcuHour", lcu)
    return [
        _item(
            r,
            cost,
            None,
            f"Application Load Balancer (AWS Load Balancer Controller), 730 h + {lcu:g} LCU/h (albLcuPerHour)",
            "aws:lb/loadBalancer:LoadBalancer (application)",
        )
    ]


def _service(ctx: _Context, r: Any) -> list[Item]:
    if _get(r.props, "spec.type") != "LoadBalancer":
        return []
    lcu = ctx.a["albLcuPerHour"]
    cost = ctx.monthly("elb.network.hour") + ctx.monthly("elb.network.lcuHour", lcu)
    return [
        _item(
            r,
            cost,
            None,
            f"Network Load Balancer for a LoadBalancer Service, 730 h + {lcu:g} LCU/h",
            "aws:lb/loadBalancer:LoadBalancer (network)",
        )
    ]


def _volumes(ctx: _Context, r: Any, idle_gib: float, ceiling_gib: float, what: str) -> list[Item]:
    rate = float(ctx.p["ebs.gp3.gbMonth"])
    return [_item(r, idle_gib * rate, ceiling_gib * rate, what, "PersistentVolumeClaim (EBS gp3)")]


def _helm(ctx: _Context, r: Any) -> list[Item]:
    """Volumes the charts the platform installs claim (their pods run on the priced node groups)."""
    v, chart = r.props.get("values") or {}, _chart(r.props)
    if chart == "kube-prometheus-stack":
        out: list[Item] = []
        for comp, path in (("prometheus", "prometheusSpec.storageSpec"), ("alertmanager", "alertmanagerSpec.storage")):
            size = gib(_get(v, f"{comp}.{path}.volumeClaimTemplate.spec.resources.requests.storage"))
            reps = _num(_get(v, f"{comp}.{path.split('.')[0]}.replicas"), 1)
            if size:
                out += _volumes(ctx, r, size * reps, size * reps, f"{comp}: {reps:g} × {size:g} GiB gp3 PVC")
        if _get(v, "grafana.persistence.enabled") is True:
            size = gib(_get(v, "grafana.persistence.size", "10Gi"))
            out += _volumes(ctx, r, size, size, f"grafana: 1 × {size:g} GiB gp3 PVC")
        return out
    if chart == "gha-runner-scale-set" and _get(v, "containerMode.type") == "kubernetes":
        size = gib(_get(v, "containerMode.kubernetesModeWorkVolumeClaim.resources.requests.storage"))
        lo, hi = _num(v.get("minRunners")), _num(v.get("maxRunners"), 1)
        return _volumes(
            ctx,
            r,
            lo * size,
            hi * size,
            f"runner work volumes: {lo:g}–{hi:g} × {size:g} GiB gp3 (ephemeral PVC per runner)",
        )
    return []


def _karpenter_pool(ctx: _Context, r: Any) -> list[Item] | str:
    view = next(v for v in karpenter_pools(ctx.karpenter_views) if v.urn == r.urn)
    return _node_group(ctx, view)


_PRICERS: dict[str, Any] = {
    NODE_GROUP: _node_group,
    NODEPOOL: _karpenter_pool,
    "aws:eks/cluster:Cluster": _cluster,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:ec2/eip:Eip": _eip,
    "aws:kms/key:Key": _kms,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "kubernetes:core/v1:PersistentVolumeClaim": _pvc,
    "kubernetes:networking.k8s.io/v1:Ingress": _ingress,
    "kubernetes:core/v1:Service": _service,
    "kubernetes:helm.sh/v3:Release": _helm,
}
