"""``estimates.coldStart``: how long each GPU model takes from zero replicas to Ready.

The estimate itself is components/cold_start.py ``estimate``, the function the serving component also
uses for the startup probe and the deploy await; this module reads its inputs from the plan (node
group, pull and load paths, KEDA, warm spares) and reports the result and where the waits fall short.

Parts, each from the plan where the plan says it (components/cold_start.py has the numbers and sources):
- ``activation``: KEDA's pollingInterval (ScaledObject) or the HPA sync period;
- ``nodeProvisioning``: only when every node group the pod may use scales from zero: the
  provisioner's reaction (Karpenter for a Karpenter NodePool, read as a node group by
  ``estimate.karpenter_pools``; the cluster-autoscaler for a managed node group) plus launch-to-Ready
  of the instance family;
- ``devicePlugin``: GPU registration on that new node;
- ``imagePull``: declared ``imageSizeGiB`` by pull path (``cached`` when the launch template or
  EC2NodeClass restores a snapshot, ``lazy`` when its user data enables SOCI or nodeadm's
  FastImagePull, else ``plain``);
- ``weightsCopy`` / ``weightsLoad``: declared ``weightsSizeGiB`` by load path (``copy-then-start``
  for the S3 init container, bounded by the node volume's throughput from the launch template;
  ``pvc``; ``streaming`` for a streaming loader; ``in-image``);
- ``serverInit``.

The total is compared with the startup probe (which only counts from the server container's start,
so only load and init) and with the deploy await (everything: pulumi-kubernetes waits for the
Deployment to become available), and ``rolloutSeconds`` (a rollout from an empty pool on the slowest
GPU pool, then every replica in turn) with the await. Sizes come from the stack file, since nothing
renders them.
"""

from __future__ import annotations

import base64
import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from blueprint.preview.analyses import AnalysisResult, Finding
from blueprint.preview.analyses import durations as dur
from components import cold_start as cs_

if TYPE_CHECKING:
    from blueprint.preview.plan import Plan

NAME = "cold-start"


def declared_sizes(stack: str, root: Path) -> dict[str, tuple[float | None, float | None]]:
    """``model -> (imageSizeGiB, weightsSizeGiB)`` from the stack file (modelDefaults applied)."""
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return {}
    # libyaml's loader: the pure-Python one costs ~100 ms on a stack file.
    doc = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}  # noqa: S506 - a safe loader
    serving = (doc.get("config") or {}).get("ai-platform:serving") or {}
    base = serving.get("modelDefaults") or {}
    out = {}
    for name, spec in (serving.get("models") or {}).items():
        spec = spec or {}
        image, weights = (spec.get(k, base.get(k)) for k in ("imageSizeGiB", "weightsSizeGiB"))
        out[str(name)] = (_float(image), _float(weights))
    return out


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _pull_path(lt: Any) -> str:
    if lt is None:
        return "plain"
    if any((b.get("ebs") or {}).get("snapshotId") for b in lt.props.get("blockDeviceMappings") or []):
        return "cached"
    user_data = str(lt.props.get("userData") or "")
    # Launch templates carry base64; an EC2NodeClass carries plain text (not valid base64: kept as is).
    with contextlib.suppress(ValueError):
        user_data = base64.b64decode(user_data, validate=True).decode(errors="replace")
    # SOCI parallel pull: a snapshotter setting, or nodeadm's FastImagePull feature gate (AL2023).
    return "lazy" if "soci" in user_data.lower() or "fastimagepull: true" in user_data.lower() else "plain"


def _volume_mibps(lt: Any) -> float:
    maps = (lt.props.get("blockDeviceMappings") or []) if lt is not None else []
    return max((float((b.get("ebs") or {}).get("throughput") or 125) for b in maps), default=125.0)


def _load_path(spec: dict[str, Any]) -> cs_.LoadPath:
    args = " ".join(str(a) for c in spec.get("containers") or [] for a in c.get("args") or [])
    return cs_.load_path(
        "runai_streamer" in args or "--load-format=runai" in args,
        any("s3" in (c.get("args") or [""])[:1] for c in spec.get("initContainers") or []),
        any(v.get("persistentVolumeClaim") for v in spec.get("volumes") or []),
    )


def _server(spec: dict[str, Any]) -> dict[str, Any]:
    cs = spec.get("containers") or [{}]
    return next((c for c in cs if c.get("startupProbe")), cs[0])


def _budget(spec: dict[str, Any]) -> float | None:
    probe = _server(spec).get("startupProbe")
    if not probe:
        return None
    return float(probe.get("initialDelaySeconds") or 0) + float(probe.get("failureThreshold") or 3) * float(
        probe.get("periodSeconds") or 10
    )


def _charts(res: list[Any]) -> set[str]:
    from ai_platform_policies.estimate import _chart

    return {_chart(r.props) for r in res if r.resource_type == "kubernetes:helm.sh/v3:Release"}


def _provisioner(res: list[Any]) -> str | None:
    charts = _charts(res)
    return next((p for p in ("karpenter", "cluster-autoscaler") if p in charts), None)


def _node_path(w: Any, res: list[Any], table: dict[str, Any]) -> tuple[cs_.NodePath | None, dict[str, str], Any]:
    """The node path of the pool the pod would use (a warm one first), its names, and its launch template."""
    from ai_platform_policies.estimate import _dep_of_type

    pools = [
        g for g in w.pools if table["instances"].get(str((g.props.get("instanceTypes") or ["?"])[0]), {}).get("gpus")
    ]
    pools = pools or w.pools
    if not pools:
        return None, {}, None
    warm = [g for g in pools if float(g.props.get("scalingConfig", {}).get("minSize") or 0) > 0]
    group = (warm or pools)[0]
    itype = str((group.props.get("instanceTypes") or ["?"])[0])
    lt = _dep_of_type(group, "aws:ec2/launchTemplate:LaunchTemplate")
    return _as_path(group, res), {"nodeGroup": group.name, "instanceType": itype}, lt


def _as_path(group: Any, res: list[Any]) -> cs_.NodePath:
    """A node group (or a Karpenter NodePool read as one) as a cold-start node path."""
    from ai_platform_policies.estimate import _dep_of_type

    prov = _provisioner(res)
    if group.props.get("karpenter"):
        # A Karpenter NodePool is served by Karpenter only: the cluster-autoscaler never scales it.
        prov = "karpenter" if prov == "karpenter" else None
    elif prov == "karpenter" and "cluster-autoscaler" in _charts(res):
        prov = "cluster-autoscaler"
    lt = _dep_of_type(group, "aws:ec2/launchTemplate:LaunchTemplate")
    itype = str((group.props.get("instanceTypes") or ["?"])[0])
    return cs_.NodePath(
        group.name,
        itype.split(".")[0],
        prov,
        _pull_path(lt),  # type: ignore[arg-type]
        float(group.props.get("scalingConfig", {}).get("minSize") or 0) > 0,
        _volume_mibps(lt),
    )


SPARE_LABEL = "platform.ai/warm-spare-for"


def _warm_spare(w: Any, res: list[Any]) -> str | None:
    """The warm-spare Deployment (components/serving.py) standing in for this model, if it keeps a replica."""
    model = w.name.removesuffix("-canary")
    for r in res:
        p = r.props
        if (
            r.resource_type == "kubernetes:apps/v1:Deployment"
            and (p.get("metadata", {}).get("labels") or {}).get(SPARE_LABEL) == model
            and p.get("metadata", {}).get("namespace") == w.namespace
            and float(p.get("spec", {}).get("replicas") or 0) >= 1
        ):
            return str(p["metadata"].get("name"))
    return None


def cold_start(
    w: Any, deployment: Any, res: list[Any], table: dict[str, Any], sizes: tuple[float | None, float | None]
) -> dict[str, Any]:
    """One GPU Deployment's cold start (components/cold_start.py), its probe budget and its deploy await."""
    spec = dict(deployment.props.get("spec", {}).get("template", {}).get("spec", {}))
    keda = next(
        (
            r
            for r in res
            if r.resource_type.endswith(":ScaledObject")
            and r.props.get("spec", {}).get("scaleTargetRef", {}).get("name") == w.name
        ),
        None,
    )
    activation = float(keda.props["spec"].get("pollingInterval") or 30) if keda else cs_.HPA_SYNC.seconds
    node, names, _lt = _node_path(w, res, table)
    inputs = cs_.ColdStartInputs(sizes[0], sizes[1], _load_path(spec), node, activation, _warm_spare(w, res))
    est = cs_.estimate(inputs)
    # The deploy await covers a rollout from an empty pool on the slowest GPU pool the pod may use.
    gpu_pools = [_as_path(g, res) for g in w.pools]
    ann = deployment.props.get("metadata", {}).get("annotations") or {}
    return {
        "model": w.name,
        "seconds": round(est.seconds),
        "budgetSeconds": _budget(spec),
        "probeCoveredSeconds": round(est.probe_covered_seconds),
        "deployTimeoutSeconds": float(ann.get("pulumi.com/timeoutSeconds") or dur.DEPLOYMENT_AWAIT_SECONDS),
        "rolloutSeconds": _seconds(cs_.rollout_seconds(inputs, gpu_pools, w.max_replicas)),
        "parts": {k: round(v) for k, v in est.parts.items()},
        "paths": {**names, **est.paths},
        "undeclared": list(est.undeclared),
    }


def _seconds(x: float) -> int | None:
    """Whole seconds; None for never (no provisioner: the pod never starts), which JSON can carry."""
    return round(x) if math.isfinite(x) else None


def analyse(plan: Plan, root: Path) -> AnalysisResult:
    """Every GPU Deployment's cold start, with findings where it exceeds the probe budget or the deploy await."""
    from blueprint.preview.analyses.cost import memo

    result: AnalysisResult = memo(plan, NAME, lambda: _analyse(plan, root))
    return result


def _analyse(plan: Plan, root: Path) -> AnalysisResult:
    from blueprint.preview.analyses.cost import resources
    from blueprint.preview.policy_eval import load_pack

    load_pack()
    from ai_platform_policies import estimate as est

    res = resources(plan)
    result = AnalysisResult(NAME)
    region = est.region_of(res)
    try:
        table = est.load_prices(region) if region else {"instances": {}}
    except est.PriceTableError:  # the cost analysis reports it; GPU counts then come from the node groups' labels only
        table = {"instances": {}}
    sizes = declared_sizes(plan.stack, root)
    by_urn = {r.urn: r for r in res}
    models = []
    for w in est.gpu_workloads(res):
        dep = by_urn[w.urn]
        if SPARE_LABEL in (dep.props.get("metadata", {}).get("labels") or {}):
            continue  # a placeholder, not a model
        model = str((dep.props.get("metadata", {}).get("labels") or {}).get("platform.ai/model") or w.name)
        cs = cold_start(w, dep, res, table, sizes.get(model, (None, None)))
        cs["track"] = str((dep.props.get("metadata", {}).get("labels") or {}).get("platform.ai/track") or "primary")
        models.append(cs)
        result.findings.extend(_findings(cs, w))
    result.checked = {"GPU deployments": len(models)}
    result.data = {"models": models}
    return result


def _findings(cs: dict[str, Any], w: Any) -> list[Finding]:
    obj = f"Deployment {w.namespace}/{w.name}"
    out = []
    where = "serving.models.<name> in stacks/Pulumi.<stack>.yaml"
    if cs["undeclared"]:
        out.append(
            Finding(
                NAME,
                obj,
                f"{' and '.join(cs['undeclared'])} not declared, so the cold start counts no time for them.",
                f"set {', '.join(cs['undeclared'])} under {where}",
                blocking=False,
            )
        )
    budget = cs["budgetSeconds"]
    if budget is not None and cs["probeCoveredSeconds"] > budget:
        out.append(
            Finding(
                NAME,
                obj,
                f"loading and starting the server takes ~{cs['probeCoveredSeconds']} s but the startup probe allows {budget:g} s: the kubelet restarts the container before it is ready, forever.",
                f"raise startupBudgetSeconds under {where}, or use a faster load path",
                blocking=False,
            )
        )
    if cs["seconds"] > cs["deployTimeoutSeconds"]:
        out.append(
            Finding(
                NAME,
                obj,
                f"a cold start takes ~{cs['seconds']} s ({_top(cs['parts'])}) but pulumi-kubernetes waits {cs['deployTimeoutSeconds']:g} s for the Deployment to become available: the first `pulumi up` (and any rollout that needs a new GPU node) fails with a timeout.",
                "set the pulumi.com/timeoutSeconds annotation on the Deployment above the cold start (components/serving.py), keep a warm GPU node (nodePools.<pool>.minSize), or shrink the image/weights path",
                blocking=False,
            )
        )
    rollout = cs.get("rolloutSeconds")
    if rollout is not None and cs["seconds"] <= cs["deployTimeoutSeconds"] < rollout:
        out.append(
            Finding(
                NAME,
                obj,
                f"a rollout from an empty GPU pool (a node, then every replica in turn) takes ~{rollout} s but pulumi-kubernetes waits {cs['deployTimeoutSeconds']:g} s: the first `up` may time out while Kubernetes keeps rolling out.",
                "lower maxReplicas, use a faster pull or load path, or keep a warm GPU node (components/cold_start.py sizes the await from the estimate, capped by the deploy job)",
                blocking=False,
            )
        )
    if str(cs["paths"].get("provisioner", "")).startswith("none in"):
        out.append(
            Finding(
                NAME,
                obj,
                "every node group it may use scales from zero and no node provisioner is in the plan: the pod stays Pending.",
                "enable the cluster-autoscaler or give a GPU pool minSize >= 1",
                blocking=False,
            )
        )
    return out


def _top(parts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g} s" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])[:3])
