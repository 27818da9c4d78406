"""``estimates.cost``: the stack's monthly cost at idle and at ceiling, from the plan.

The arithmetic lives in the policy pack (``ai_platform_policies.estimate``), because the pack's
``cost-monthly-caps`` policy must evaluate the same estimate when the Pulumi CLI runs the pack
alone; this analysis hands it the plan's resources and the environment's stated assumptions
(the stack's merged policy config → ``cost-monthly-caps.assumptions``) and keeps the result for the
JSON, the report and ``--diff``. The caps themselves are enforced by that policy, once.

Only the resource types the estimate reads get their inputs converted (the conversion dominates
the cost of this analysis); every other resource is passed with its type and parents only.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blueprint.preview.analyses import AnalysisResult, Finding

if TYPE_CHECKING:
    from blueprint.preview.plan import Plan

NAME = "cost"
CAPS_POLICY = "cost-monthly-caps"

# Types whose inputs the estimate reads (the others only need their type for the unpriced list).
_READ = (
    "aws:eks/",
    "aws:ec2/",
    "aws:cloudwatch/",
    "aws:s3/bucket",
    "pulumi:providers:aws",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:keda.sh/",
    "kubernetes:autoscaling/",
    "kubernetes:helm.sh/",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:Service",
    "kubernetes:networking.k8s.io/v1:Ingress",
    # Karpenter's GPU capacity (estimate.karpenter_pools reads them as node groups).
    "kubernetes:karpenter.sh/v1:NodePool",
    "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
)


_CACHE: dict[int, tuple[Callable[[], Any], dict[str, Any]]] = {}


@dataclass
class Res:
    """The slice of a ``PolicyResource`` the estimate uses."""

    resource_type: str
    urn: str
    name: str
    props: Any
    parent: Res | None = None
    dependencies: list[Res] = field(default_factory=list)


def memo(plan: Plan, key: str, fn: Callable[[], Any]) -> Any:
    """``fn()`` once per plan object (the estimate analyses share the converted resources and cold starts)."""
    ref, values = _CACHE.get(id(plan), (None, {}))
    if ref is None or ref() is not plan:
        _CACHE.clear()  # one plan at a time: the analyses of a preview run back to back
        values = {}
        _CACHE[id(plan)] = (weakref.ref(plan), values)
    if key not in values:
        values[key] = fn()
    return values[key]


def resources(plan: Plan) -> list[Res]:
    """The plan's resources in the shape the pack's estimate takes (converted once per plan)."""
    return list(memo(plan, "resources", lambda: _convert(plan)))


def _convert(plan: Plan) -> list[Res]:
    from pulumi_policy.deserialize import deserialize_properties

    from blueprint.preview.plan import SECRET_SIG_KEY
    from blueprint.preview.policy_eval import _to_policy_value

    out: dict[str, Res] = {}
    for r in plan.resources:
        props: Any = {}
        if r.type.startswith(_READ):
            props = _to_policy_value(dict(r.inputs))
            if SECRET_SIG_KEY in json.dumps(props):  # only secrets need the analyzer's unwrapping
                props = deserialize_properties(props)
        out[r.urn] = Res(r.type, r.urn, r.name, props)
    for r in plan.resources:
        res = out[r.urn]
        res.parent = out.get(r.parent)
        if r.type == "aws:eks/nodeGroup:NodeGroup":
            res.dependencies = [out[d] for d in r.dependencies if d in out]
    return list(out.values())


def caps_config(plan: Plan, root: Path) -> dict[str, Any]:
    """The environment's ``cost-monthly-caps`` settings (caps and assumptions), empty if unset."""
    from blueprint.preview.policy_config import PolicyConfigError, merged

    try:
        entry = merged(plan.stack, root).doc.get(CAPS_POLICY)
    except (OSError, ValueError, PolicyConfigError):
        return {}
    return dict(entry) if isinstance(entry, dict) else {}


def analyse(plan: Plan, root: Path) -> AnalysisResult:
    """Price the plan; findings only for GPU models whose maximum cannot fit their pools."""
    from blueprint.preview.policy_eval import load_pack

    load_pack()
    from ai_platform_policies import estimate as est

    res = resources(plan)
    result = AnalysisResult(NAME)
    region = est.region_of(res)
    if region is None:
        return result
    fix = f"run `blueprint prices refresh --region {region}` and commit the table"
    try:
        table, approximate = est.load_prices_for(region)
    except est.PriceTableError as exc:
        result.findings = [Finding(NAME, f"region {region}", f"the stack cannot be priced: {exc}.", fix)]
        return result
    e = est.estimate(res, table, caps_config(plan, root).get("assumptions"))
    result.checked = {"resources priced": len(e.items), "unpriced": len(e.unpriced)}
    result.data = e.public()
    result.findings = _capacity_findings(res, table)
    if approximate:
        result.findings.append(Finding(NAME, f"region {region}", f"approximate: {approximate}.", fix, blocking=False))
    return result


def _capacity_findings(res: list[Res], table: dict[str, Any]) -> list[Finding]:
    """A model whose maxReplicas need more GPUs than its pools can ever hold never reaches its maximum."""
    from ai_platform_policies import estimate as est

    slicing = est.time_slicing_replicas(res)
    out = []
    for w in est.gpu_workloads(res):
        cap = 0.0
        for g in w.pools:
            types = [str(t) for t in g.props.get("instanceTypes") or []]
            gpus = table["instances"].get(types[0], {}).get("gpus", 0) if types else 0
            cap += float(g.props.get("scalingConfig", {}).get("maxSize") or 0) * gpus * slicing
        need = w.gpus * w.max_replicas
        if need > cap:
            out.append(
                Finding(
                    NAME,
                    f"Deployment {w.namespace}/{w.name}",
                    f"maxReplicas {w.max_replicas} need {need:g} GPU(s) but the node groups it may run on hold at most "
                    f"{cap:g} at maxSize, so it never scales that far (and the ceiling cost is lower than its autoscaler suggests).",
                    "raise nodePools.<gpu pool>.maxSize or lower serving.models.<name>.maxReplicas in stacks/Pulumi.<stack>.yaml",
                    blocking=False,
                )
            )
    return out
