"""Human output of ``blueprint preview``: a resource tree, a summary, the policy report and a diff."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from blueprint.preview.plan import ABSENT, MASK, Change, Plan, Resource


def _label(r: Resource) -> str:
    flags = []
    if r.protect:
        flags.append("protected")
    if r.retain_on_delete:
        flags.append("retained")
    suffix = f" [dim]({', '.join(flags)})[/]" if flags else ""
    return f"[green]+[/] [bold]{r.type}[/] {r.name}{suffix}"


def print_tree(console: Console, plan: Plan) -> None:
    """The components and resources as a tree, like ``pulumi preview``."""
    root = Tree(f"[bold]{plan.project}-{plan.stack}[/] [dim]pulumi:pulumi:Stack[/]")
    nodes: dict[str, Tree] = {}
    children: dict[str, list[Resource]] = {}
    for r in plan.resources:
        children.setdefault(r.parent, []).append(r)
    known = {r.urn for r in plan.resources}

    def add(parent_node: Tree, parent_urn: str) -> None:
        for r in sorted(children.get(parent_urn, []), key=lambda x: (x.custom, x.type, x.name)):
            nodes[r.urn] = parent_node.add(_label(r))
            add(nodes[r.urn], r.urn)

    for parent_urn in children:
        if parent_urn not in known:  # the stack itself
            add(root, parent_urn)
    # Not soft-wrapped: a label wider than the console folds onto the next line instead of being cropped.
    console.print(root, soft_wrap=False)


def print_summary(console: Console, plan: Plan, quiet: bool = False, diffed: bool = False) -> None:
    """Counts by component and (unless quiet) by type. After a diff the counts are the whole plan's, not
    what the change creates, and the title says so."""
    custom = [r for r in plan.resources if r.custom]
    comps = {r.urn: r for r in plan.resources if not r.custom}

    def top_component(r: Resource) -> str:
        name, parent = "(stack)", r.parent
        while parent in comps:
            name, parent = comps[parent].name, comps[parent].parent
        return name

    what = "resources in the plan" if diffed else "resources to create"
    table = Table(title=f"{plan.stack}: {len(custom)} {what}, {len(comps)} components", show_edge=False)
    table.add_column("component", overflow="fold")
    table.add_column("resources", justify="right")
    for name, n in sorted(Counter(top_component(r) for r in custom).items()):
        table.add_row(name, str(n))
    console.print(table)
    if quiet:
        return
    types = Table(show_edge=False)
    types.add_column("type", overflow="fold")
    types.add_column("count", justify="right")
    for typ, n in sorted(Counter(r.type for r in custom).items()):
        types.add_row(typ, str(n))
    console.print(types)


def print_policy(console: Console, report: dict[str, Any]) -> None:
    """Violations grouped by enforcement and severity."""
    violations: Sequence[dict[str, Any]] = report.get("violations", [])
    console.print(
        f"policy pack {report.get('pack', '')}: {report.get('mandatory', 0)} mandatory, "
        f"{report.get('advisory', 0)} advisory violation(s) across {report.get('policies', 0)} policies"
    )
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    for v in sorted(
        violations, key=lambda v: (v["enforcement"] != "mandatory", order.get(v.get("severity", "low"), 4), v["policy"])
    ):
        style = "red" if v["enforcement"] == "mandatory" else "yellow"
        console.print(
            f"  [{style}]{v['enforcement']}[/] [{v.get('severity', '')}] {v['policy']}: {v['message']}\n    {v.get('urn') or '(stack)'}"
        )


def print_analyses(console: Console, results: dict[str, Any], quiet: bool = False) -> None:
    """What each behaviour analysis checked, and every finding as one line (object, rule, fix).

    Quiet: one line for all analyses, then only the analyses that found something, with their findings."""
    if quiet:
        findings = [f for r in results.values() for f in r.findings]
        blocking = sum(f.blocking for f in findings)
        console.print(
            f"analyses: {len(results)} ran; {blocking} blocking, {len(findings) - blocking} advisory finding(s)",
            markup=False,
        )
    for name, result in sorted(results.items()):
        if quiet and not result.findings:
            continue
        checked = ", ".join(f"{n} {what}" for what, n in result.checked.items()) or "nothing"
        console.print(f"{name}: checked {checked}; {len(result.findings)} finding(s)", markup=False)
        for f in result.findings:
            style = "red" if f.blocking else "yellow"
            console.print(f"  [{style}]{'blocking' if f.blocking else 'advisory'}[/] ", end="")
            console.print(f.line(), markup=False)
        # Analyses that list facts per object (e.g. lineage per model) put their lines under data["report"].
        for line in [] if quiet else result.data.get("report", []):
            console.print(f"  {line}", markup=False)


def shown_changes(changes: Sequence[Change], show_dependency_changes: bool = False) -> list[Change]:
    """The changes a reviewer sees: dependency-only updates (a resource's dependency list moved, no
    property changed, so the engine changes nothing on it) are hidden unless asked for."""
    return [c for c in changes if show_dependency_changes or not c.dependency_only]


def _counts(changes: Sequence[Change]) -> str:
    counts = Counter(c.op for c in changes)
    parts = [f"{counts[op]} to {verb}" for op, verb in (("+", "create"), ("~", "update"), ("-", "delete"))]
    return ", ".join(p for p in parts if not p.startswith("0 ")) or "no changes"


def diff_title(stack: str, changes: Sequence[Change], hidden: int = 0, limit: int = 200) -> str:
    """The first line of ``--diff`` (and the PR comment's title): what changes, naming the first few.

    ``dev: 2 to create, 1 to update (serving-llama-3-8b: spec.template.spec.containers[0].image; + nat-b)``
    """
    if not changes:
        extra = f" ({hidden} dependency-only update(s) hidden)" if hidden else ""
        return f"{stack}: no changes against the snapshot{extra}"
    rank = {"~": 0, "-": 1, "+": 2}  # updates first: they are what a reviewer cannot guess from names
    named = []
    for c in sorted(changes, key=lambda c: rank[c.op]):
        if c.op == "~":
            more = f" +{len(c.paths) - 1} more" if len(c.paths) > 1 else ""
            named.append(f"{c.name}: {c.paths[0]}{more}")
        else:
            named.append(f"{c.op} {c.name}")
    head = f"{stack}: {_counts(changes)}"
    shown = [named[0][: max(20, limit - len(head) - 20)]]
    for item in named[1:]:
        if len(head) + len("; ".join([*shown, item])) + 14 > limit:
            break
        shown.append(item)
    rest = len(named) - len(shown)
    return f"{head} ({'; '.join(shown)}{f'; … {rest} more' if rest else ''})"


def _value(v: Any, limit: int = 400) -> str:
    text = v if isinstance(v, str) and v in (ABSENT, MASK) else json.dumps(v, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def print_diff(console: Console, stack: str, changes: Sequence[Change], hidden: int = 0) -> None:
    """``+`` create, ``-`` delete, ``~`` update with each changed path as ``old → new`` (values are taken
    from the masked documents, so a secret shows as ``[secret]``)."""
    colour = {"+": "green", "-": "red", "~": "yellow"}
    for c in changes:
        console.print(f"  [{colour[c.op]}]{c.op}[/] ", end="", markup=True)
        console.print(c.urn, markup=False)
        for d in c.deltas:
            console.print(f"      {d.path}: {_value(d.old)} → {_value(d.new)}", markup=False)
    if hidden:
        console.print(
            f"  ({hidden} dependency-only update(s) hidden: only the dependency list changed; "
            "--show-dependency-changes lists them)",
            markup=False,
        )


# --------------------------------------------------------------------------- estimates
def _usd(v: float, sign: bool = False) -> str:
    s = f"{abs(v):,.0f}" if abs(v) >= 10 or abs(v) < 0.005 else f"{abs(v):,.2f}"
    lead = ("+" if v >= 0 else "-") if sign else ("-" if v < 0 else "")
    return f"{lead}${s}"


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def print_estimates(console: Console, plan: Plan, top: int = 5, quiet: bool = False) -> None:
    """Idle and ceiling cost with the top line items, the cold-deploy critical path, each model's cold start.

    Quiet: the headlines only (cost, cold deploy time, each model's cold start), no line items or path."""
    if quiet:
        top = 0
    est = plan.estimates()
    cost, deploy, cold = est.get("cost"), est.get("deployTime"), est.get("coldStart")
    if cost:
        table = cost["priceTable"]
        unpriced = cost["unpriced"]
        console.print(
            f"cost: idle {_usd(cost['monthly']['idle'])}/month, ceiling {_usd(cost['monthly']['ceiling'])}/month "
            f"(prices {table['region']} {table['date']}; {len(unpriced)} unpriced)",
            markup=False,
        )
        for i in cost["items"][:top]:
            console.print(
                f"  {_short(i['urn'])} ({i['component']}): idle {_usd(i['monthlyIdle'])}, ceiling "
                f"{_usd(i['monthlyCeiling'])} - {i['basis']}",
                markup=False,
            )
        if unpriced and not quiet:
            console.print(f"  unpriced: {', '.join(sorted({_short(u['urn']) for u in unpriced}))}", markup=False)
    if deploy:
        chain = deploy.get("steps", [])
        longest = sorted(chain, key=lambda s: -s["minutes"])[:3]
        console.print(
            f"deploy time: cold `pulumi up` ~{deploy['coldMinutes']:g} min along {len(chain)} resources; longest: "
            + ", ".join(f"{_short(s['urn'])} {s['minutes']:g} min" for s in longest),
            markup=False,
        )
        if not quiet:
            console.print(f"  critical path: {' → '.join(_short(s['urn']) for s in chain)}", markup=False)
    for m in cold or []:
        over = [
            what
            for what, limit in (("probe budget", m["budgetSeconds"]), ("deploy await", m["deployTimeoutSeconds"]))
            if limit is not None and (m["probeCoveredSeconds"] if what == "probe budget" else m["seconds"]) > limit
        ]
        budget = f"{m['budgetSeconds']:g} s" if m["budgetSeconds"] is not None else "none"
        console.print(
            f"cold start {m['model']}: ~{m['seconds']} s ({', '.join(f'{k} {v}' for k, v in m['parts'].items())}); "
            f"startup probe {budget} (covers ~{m['probeCoveredSeconds']} s), deploy await "
            f"{m['deployTimeoutSeconds']:g} s (rollout from an empty pool ~{m.get('rolloutSeconds', '?')} s)"
            + (f"  EXCEEDS {' and '.join(over)}" if over else ""),
            markup=False,
        )


def cost_delta(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> str:
    """The first line of ``--diff``: ``cost: idle +$0/month, ceiling +$1,454/month (gpu-a10g maxSize 2 → 4)``."""
    old, new = (d.get("estimates", {}).get("cost") for d in (old_doc, new_doc))
    if not new:
        return "cost: no estimate in this preview (the cost analysis did not run)"
    if not old:
        return (
            f"cost: idle {_usd(new['monthly']['idle'])}/month, ceiling {_usd(new['monthly']['ceiling'])}/month "
            "(the base snapshot carries no estimate; regenerate it with `make snapshots`)"
        )
    d_idle = new["monthly"]["idle"] - old["monthly"]["idle"]
    d_ceil = new["monthly"]["ceiling"] - old["monthly"]["ceiling"]
    why = _delta_reasons(old_doc, new_doc, old, new)
    line = f"cost: idle {_usd(d_idle, sign=True)}/month, ceiling {_usd(d_ceil, sign=True)}/month"
    return line + (f" ({'; '.join(why)})" if why else "")


def _by_urn(cost: dict[str, Any]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for i in cost["items"]:
        a, b = out.get(i["urn"], (0.0, 0.0))
        out[i["urn"]] = (a + i["monthlyIdle"], b + i["monthlyCeiling"])
    return out


def _delta_reasons(
    old_doc: dict[str, Any], new_doc: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
) -> list[str]:
    """The biggest changed line items, node groups described by what changed in their scaling."""
    a, b = _by_urn(old), _by_urn(new)
    res_a = {r["urn"]: r for r in old_doc.get("resources", [])}
    res_b = {r["urn"]: r for r in new_doc.get("resources", [])}
    changed = []
    for urn in set(a) | set(b):
        ia, ib = a.get(urn, (0.0, 0.0)), b.get(urn, (0.0, 0.0))
        delta = max(abs(ib[0] - ia[0]), abs(ib[1] - ia[1]))
        if delta >= 0.01:
            changed.append((delta, urn))
    out = []
    for _, urn in sorted(changed, reverse=True)[:3]:
        if urn not in a or urn not in b:
            out.append(f"{'+' if urn in b else '-'} {_short(urn)}")
            continue
        out.append(_describe(urn, res_a.get(urn), res_b.get(urn), b[urn][1] - a[urn][1]))
    return out


def _describe(urn: str, old: dict[str, Any] | None, new: dict[str, Any] | None, d_ceiling: float) -> str:
    if old and new and old["type"] == "aws:eks/nodeGroup:NodeGroup":
        pool = (new["inputs"].get("labels") or {}).get("platform.ai/pool") or _short(urn)
        parts = []
        for key in ("minSize", "maxSize", "desiredSize"):
            x, y = (r["inputs"].get("scalingConfig", {}).get(key) for r in (old, new))
            if x != y:
                parts.append(
                    f"{key} {x:g} → {y:g}" if isinstance(x, float) and isinstance(y, float) else f"{key} {x} → {y}"
                )
        for key in ("instanceTypes", "capacityType"):
            x, y = old["inputs"].get(key), new["inputs"].get(key)
            if x != y:
                parts.append(f"{key} {x} → {y}")
        if parts:
            return f"{pool} {', '.join(parts)}"
    return f"{_short(urn)} ceiling {_usd(d_ceiling, sign=True)}"
