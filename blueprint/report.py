"""Human output of ``blueprint preview``: a resource tree, a summary, the policy report and a diff."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from blueprint.plan import Change, Plan, Resource


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
    console.print(root)


def print_summary(console: Console, plan: Plan) -> None:
    """Counts by component and by type."""
    custom = [r for r in plan.resources if r.custom]
    comps = {r.urn: r for r in plan.resources if not r.custom}

    def top_component(r: Resource) -> str:
        name, parent = "(stack)", r.parent
        while parent in comps:
            name, parent = comps[parent].name, comps[parent].parent
        return name

    table = Table(title=f"{plan.stack}: {len(custom)} resources to create, {len(comps)} components", show_edge=False)
    table.add_column("component")
    table.add_column("resources", justify="right")
    for name, n in sorted(Counter(top_component(r) for r in custom).items()):
        table.add_row(name, str(n))
    console.print(table)
    types = Table(show_edge=False)
    types.add_column("type")
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


def print_analyses(console: Console, results: dict[str, Any]) -> None:
    """What each behaviour analysis checked, and every finding as one line (object, rule, fix)."""
    for name, result in sorted(results.items()):
        checked = ", ".join(f"{n} {what}" for what, n in result.checked.items()) or "nothing"
        console.print(f"{name}: checked {checked}; {len(result.findings)} finding(s)", markup=False)
        for f in result.findings:
            style = "red" if f.blocking else "yellow"
            console.print(f"  [{style}]{'blocking' if f.blocking else 'advisory'}[/] ", end="")
            console.print(f.line(), markup=False)
        # Analyses that list facts per object (e.g. lineage per model) put their lines under data["report"].
        for line in result.data.get("report", []):
            console.print(f"  {line}", markup=False)


def print_diff(console: Console, stack: str, changes: Sequence[Change]) -> None:
    """``+`` create, ``-`` delete, ``~`` update with the input paths that changed."""
    if not changes:
        console.print(f"{stack}: no changes against the snapshot")
        return
    counts = Counter(c.op for c in changes)
    console.print(
        f"{stack}: {counts['+']} to create, {counts['~']} to update, {counts['-']} to delete (against the snapshot)"
    )
    colour = {"+": "green", "-": "red", "~": "yellow"}
    for c in changes:
        console.print(f"  [{colour[c.op]}]{c.op}[/] {c.urn}", markup=True)
        for p in c.paths:
            console.print(f"      {p}")
