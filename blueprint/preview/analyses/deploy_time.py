"""``estimates.deployTime``: the critical path of a cold ``pulumi up`` over the plan's dependency graph.

The engine creates a resource once everything it waits for is done, in parallel otherwise. A
resource waits for its dependencies (``dependsOn`` and every input that uses another resource's
output), its provider, and a custom-resource parent; a dependency on a component waits for all of
the component's children. Durations per type and Helm chart come from ``durations.py`` (with
sources); a GPU model's Deployment takes its cold start (``cold_start``), because pulumi-kubernetes
waits for it to become available. Such a Deployment also waits, at run time, for things that are
not edges: the node groups it may run on, the node provisioner and the device plugin.

A ``dependsOn`` edge on the critical path that carries no data (no input uses the other resource)
and costs at least a minute is reported, advisory: it may be needed at run time, or it may only
serialise work.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blueprint.preview.analyses import AnalysisResult, Finding
from blueprint.preview.analyses import durations as dur

if TYPE_CHECKING:
    from blueprint.preview.plan import Plan, Resource

NAME = "deploy-time"
MIN_GAIN_SECONDS = 60


@dataclass
class Graph:
    """Durations and the edges a cold deploy waits on."""

    seconds: dict[str, float]
    waits: dict[str, set[str]]
    children: dict[str, list[str]]
    custom: set[str]
    data_edges: set[tuple[str, str]] = field(default_factory=set)
    implicit: set[tuple[str, str]] = field(default_factory=set)


def duration(r: Resource, cold_starts: Mapping[str, float]) -> float:
    """Create seconds of one resource."""
    if r.urn in cold_starts:
        return cold_starts[r.urn]
    if r.type.startswith("pulumi:providers:") or not r.custom:
        return 0.0
    if r.type == "kubernetes:helm.sh/v3:Release":
        chart = str(r.inputs.get("chart") or "").rstrip("/").rsplit("/", 1)[-1]
        return dur.BY_CHART.get(chart, dur.HELM_DEFAULT).seconds
    if r.type == "kubernetes:apps/v1:Deployment":
        return 60.0  # a CPU Deployment: pull and start on an existing node (assumption)
    return dur.BY_TYPE.get(r.type, dur.DEFAULT).seconds


def build(plan: Plan, cold_starts: Mapping[str, float], implicit: Mapping[str, list[str]]) -> Graph:
    """The wait graph of a plan (``implicit``: run-time waits that are not edges, by URN)."""
    urns = {r.urn for r in plan.resources}
    g = Graph({}, {}, {}, {r.urn for r in plan.resources if r.custom})
    for r in plan.resources:
        g.seconds[r.urn] = duration(r, cold_starts)
        waits = {d for d in r.dependencies if d in urns}
        provider = r.provider.rsplit("::", 1)[0] if r.provider else ""
        if provider in urns:
            waits.add(provider)
        if r.parent in g.custom:
            waits.add(r.parent)
        for d in implicit.get(r.urn, []):
            waits.add(d)
            g.implicit.add((r.urn, d))
        g.waits[r.urn] = waits
        g.data_edges.update((r.urn, d) for ds in r.property_dependencies.values() for d in ds)
        g.children.setdefault(r.parent, []).append(r.urn)
    return g


def finish_times(g: Graph, skip: tuple[str, str] | None = None) -> tuple[dict[str, float], dict[str, str | None]]:
    """Earliest finish of every resource, and the predecessor that decided it."""
    finish: dict[str, float] = {}
    pred: dict[str, str | None] = {}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for urn in g.seconds:
            _visit(urn, g, finish, pred, skip, set())
    finally:
        sys.setrecursionlimit(limit)
    return finish, pred


def _visit(
    urn: str, g: Graph, finish: dict[str, float], pred: dict[str, str | None], skip: Any, active: set[str]
) -> float:
    if urn in finish:
        return finish[urn]
    if urn in active:  # a cycle cannot be deployed anyway; do not loop
        return 0.0
    active.add(urn)
    start, best = 0.0, None
    waits = [d for d in g.waits.get(urn, ()) if (urn, d) != skip]
    if urn not in g.custom:  # a component is done when its children are
        waits += g.children.get(urn, [])
    for d in sorted(waits):
        t = _visit(d, g, finish, pred, skip, active)
        if best is None or t > start:
            start, best = t, d
    active.discard(urn)
    finish[urn], pred[urn] = start + g.seconds.get(urn, 0.0), best
    return finish[urn]


def critical_path(g: Graph, skip: tuple[str, str] | None = None) -> tuple[float, list[str]]:
    """Cold deploy seconds and the chain of custom resources that sets it (first to last)."""
    finish, pred = finish_times(g, skip)
    if not finish:
        return 0.0, []
    end = max(finish, key=lambda u: (finish[u], u))
    chain: list[str] = []
    cur: str | None = end
    while cur is not None:
        if cur in g.custom and g.seconds.get(cur, 0) > 0:
            chain.append(cur)
        cur = pred.get(cur)
    return finish[end], chain[::-1]


def _chain_edges(g: Graph) -> list[tuple[str, str]]:
    finish, pred = finish_times(g)
    cur: str | None = max(finish, key=lambda u: (finish[u], u)) if finish else None
    edges = []
    while cur is not None and pred.get(cur) is not None:
        p = pred[cur]
        assert p is not None
        edges.append((cur, p))
        cur = p
    return edges


def needless_edges(plan: Plan, g: Graph, total: float) -> list[tuple[str, str, float]]:
    """``dependsOn`` edges on the critical path that carry no data, with the seconds each costs."""
    providers = {r.urn: r.provider.rsplit("::", 1)[0] for r in plan.resources if r.provider}
    parents = {r.urn: r.parent for r in plan.resources}
    out = []
    for u, v in _chain_edges(g):
        if v not in g.waits.get(u, ()) or (u, v) in g.data_edges or (u, v) in g.implicit:
            continue
        if v in (providers.get(u), parents.get(u)) or _feeds_data(g, u, v):
            continue
        gain = total - critical_path(g, skip=(u, v))[0]
        if gain >= MIN_GAIN_SECONDS:
            out.append((u, v, gain))
    return out


def _feeds_data(g: Graph, u: str, component: str) -> bool:
    """Whether ``u`` reads an output of a child of ``component`` (then the edge carries data)."""
    kids = set(g.children.get(component, []))
    return any(d in kids for (x, d) in g.data_edges if x == u)


def implicit_waits(plan: Plan, res: list[Any]) -> dict[str, list[str]]:
    """Run-time waits of GPU Deployments: their node groups, the provisioner and the device plugin."""
    from ai_platform_policies import estimate as est

    releases = {est._chart(r.props): r.urn for r in res if r.resource_type == "kubernetes:helm.sh/v3:Release"}
    out: dict[str, list[str]] = {}
    for w in est.gpu_workloads(res):
        waits = [g.urn for g in w.pools]
        if all(float(g.props.get("scalingConfig", {}).get("minSize") or 0) == 0 for g in w.pools):
            waits += [releases[c] for c in ("cluster-autoscaler", "karpenter") if c in releases]
        waits += [releases[c] for c in ("nvidia-device-plugin", "gpu-operator") if c in releases]
        out[w.urn] = waits
    return out


def analyse(plan: Plan, root: Path) -> AnalysisResult:
    """The cold deploy's critical path, and the dependsOn edges that lengthen it needlessly."""
    from blueprint.preview.analyses.cost import resources

    res = resources(plan)
    result = AnalysisResult(NAME)
    starts = _cold_starts(plan, root)
    g = build(plan, starts, implicit_waits(plan, res))
    total, chain = critical_path(g)
    names = {r.urn: r.name for r in plan.resources}
    result.checked = {"resources": len(g.custom), "edges": sum(len(w) for w in g.waits.values())}
    result.data = {
        "coldMinutes": round(total / 60, 1),
        "criticalPath": chain,
        "steps": [{"urn": u, "minutes": round(g.seconds[u] / 60, 1)} for u in chain],
    }
    for u, v, gain in needless_edges(plan, g, total):
        result.findings.append(
            Finding(
                NAME,
                f"{names.get(u, u)} -> {names.get(v, v)}",
                f"{names.get(u, u)} waits for {names.get(v, v)} through depends_on only (none of its inputs uses it); "
                f"the edge is on the critical path and costs {gain / 60:.1f} min of every cold deploy.",
                "drop the depends_on if nothing needs it at run time, or depend on the one child that is needed",
                blocking=False,
            )
        )
    return result


def _cold_starts(plan: Plan, root: Path) -> dict[str, float]:
    """Seconds until each GPU Deployment is available on a first deploy (the cold start, computed once per plan)."""
    from blueprint.preview.analyses import cold_start

    result = cold_start.analyse(plan, root)
    urns = {
        str((r.inputs.get("metadata") or {}).get("name")): r.urn for r in plan.by_type("kubernetes:apps/v1:Deployment")
    }
    # A new Deployment starts at one replica right away: no autoscaler activation on the deploy path.
    return {
        urns[m["model"]]: float(m["seconds"] - m["parts"].get("activation", 0))
        for m in result.data.get("models", [])
        if m["model"] in urns
    }
