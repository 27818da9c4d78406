"""Monthly cost estimate of a stack, from its resources' inputs and a dated price table.

One implementation serves two callers: the ``cost-monthly-caps`` stack policy of this pack (which
must run alone under the Pulumi CLI, so nothing here imports the blueprint tool or the program), and
``blueprint.preview.analyses.cost``, which turns the same estimate into the preview's ``estimates.cost``.
Both hand in the resources as ``PolicyResource`` objects (type, props, urn, name, parent,
dependencies): the CLI builds them for stack policies, ``blueprint.preview.policy_eval`` builds them offline.

Two figures per stack (docs/cost-and-time.md):
- *idle*: node groups at ``minSize`` (or what the models' minimum replicas need, if more);
- *ceiling*: node groups at ``maxSize`` priced at their dearest instance type.

Prices come from ``prices/<region>.json`` (``blueprint prices refresh`` rewrites it). Usage the
resources cannot tell (NAT and endpoint traffic, log ingestion, S3 storage, ALB LCUs) comes from the
stated ``assumptions`` in policy config. A resource type that costs money but has no price here is
listed under ``unpriced``; only the types in ``FREE`` count as $0.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_DIR = Path(__file__).resolve().parent / "prices"

# Types AWS does not bill for (or bills only through another line item priced here).
FREE: frozenset[str] = frozenset(
    {
        "aws:autoscaling/tag:Tag",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/flowLog:FlowLog",  # billed as log ingestion of its log group
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",  # its volumes are priced with the node group
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/route:Route",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:ecr/registryPolicy:RegistryPolicy",
        "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration",
        "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:eks/addon:Addon",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:kms/alias:Alias",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
    }
)

# Usage the resources cannot tell; policy config ``cost-monthly-caps.assumptions`` overrides each.
DEFAULT_ASSUMPTIONS: dict[str, float] = {
    "natProcessedGbPerMonth": 100.0,
    "interfaceEndpointProcessedGbPerMonth": 50.0,
    "logIngestGbPerMonthPerGroup": 5.0,
    "s3StoredGbPerBucket": 100.0,
    "albLcuPerHour": 1.0,
}

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


class PriceTableError(ValueError):
    """The price table for a region is missing or malformed."""


def load_prices(region: str, directory: Path = PRICES_DIR) -> dict[str, Any]:
    """The committed price table of ``region``."""
    path = directory / f"{region}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.json"))) or "none"
        raise PriceTableError(
            f"no price table for region {region!r} ({path}); known: {known}. "
            f"Create it with `blueprint prices refresh --region {region}`"
        )
    doc = json.loads(path.read_text())
    for key in ("region", "date", "hoursPerMonth", "instances", "prices", "spot"):
        if key not in doc:
            raise PriceTableError(f"{path}: missing key {key!r}")
    return dict(doc)


REFERENCE_REGION = "us-west-2"
"""The region whose table prices a stack in a region that has none yet (an approximation, said so)."""


def load_prices_for(region: str, directory: Path = PRICES_DIR) -> tuple[dict[str, Any], str | None]:
    """The region's table, or the reference region's with a note that says so.

    A stack added in a new region (``blueprint stack add``) previews offline before anyone has run
    ``blueprint prices refresh`` with credentials: it is priced approximately, never at $0, and the note
    says how to make it exact.
    """
    try:
        return load_prices(region, directory), None
    except PriceTableError as exc:
        if region == REFERENCE_REGION or not (directory / f"{REFERENCE_REGION}.json").exists():
            raise
        return load_prices(REFERENCE_REGION, directory), f"{exc}; priced with the {REFERENCE_REGION} table meanwhile"


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


# --------------------------------------------------------------------------- small helpers
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


def money(v: float) -> str:
    """``$1,454`` (whole dollars; cents below $10)."""
    return f"${v:,.2f}" if abs(v) < 10 else f"${v:,.0f}"


def component_of(r: Any) -> str:
    """The top-level component a resource belongs to (its outermost parent under the stack)."""
    name, parent = "(stack)", getattr(r, "parent", None)
    while parent is not None and not str(getattr(parent, "resource_type", "")).startswith("pulumi:pulumi:Stack"):
        name, parent = parent.name, getattr(parent, "parent", None)
    return name


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
        per_node = max((gpus_of_type(t) for t in types), default=0) or 1
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


def gpus_of_type(instance_type: str) -> int:
    """GPUs of an NVIDIA instance type from its size (1 below 12xlarge, 4 at 12/24xlarge, 8 above)."""
    size = instance_type.split(".")[-1]
    return {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8, "metal": 8}.get(size, 1)


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

_UNPRICED_REASON = {
    "aws:ecr/repository:Repository": "storage depends on the images pushed ($0.10/GB-month); not estimated",
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": "cached images are billed as ECR storage of the repositories it creates; not estimated",
}


def _skipped(type_: str) -> bool:
    # Components, providers and in-cluster objects cost nothing themselves: their pods run on the
    # priced node groups (the Kubernetes types that create AWS resources are priced above).
    return type_.startswith(("pulumi:", "platform:", "kubernetes:")) or type_ in FREE


def assumptions_from(config: Mapping[str, Any] | None) -> dict[str, float]:
    """The defaults overridden by ``config`` (``cost-monthly-caps.assumptions``)."""
    out = dict(DEFAULT_ASSUMPTIONS)
    for k, v in (config or {}).items():
        if k in out:
            out[k] = _num(v, out[k])
    return out


def estimate(
    resources: Iterable[Any], table: Mapping[str, Any], assumptions: Mapping[str, Any] | None = None
) -> Estimate:
    """Price every resource: line items, unpriced resources and the idle and ceiling totals."""
    res = list(resources)
    ctx = _Context(res, table, assumptions_from(assumptions))
    est = Estimate(str(table["region"]), str(table["date"]), assumptions=dict(ctx.a))
    for r in res:
        pricer = _PRICERS.get(r.resource_type)
        if pricer is not None:
            got = pricer(ctx, r)
            if isinstance(got, str):
                est.unpriced.append({"urn": r.urn, "type": r.resource_type, "reason": got})
            else:
                est.items.extend(got)
        elif not _skipped(r.resource_type):
            reason = _UNPRICED_REASON.get(r.resource_type, "no price in the table for this type")
            est.unpriced.append({"urn": r.urn, "type": r.resource_type, "reason": reason})
    return est


def region_of(resources: Iterable[Any]) -> str | None:
    """The region of the stack's AWS provider."""
    for r in resources:
        if r.resource_type == "pulumi:providers:aws" and r.props.get("region"):
            return str(r.props["region"])
    return None
