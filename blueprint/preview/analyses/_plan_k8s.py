"""Reading Kubernetes objects and component declarations back out of a plan (shared by the analyses)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from blueprint.preview.plan import Plan, Resource
from components._contracts import FLOWS_KEY, METRICS_KEY, PEERS_KEY


def k8s_objects(plan: Plan, kind: str) -> Iterator[tuple[Resource, dict[str, Any]]]:
    """Every rendered object of ``kind`` (resource, object in wire form), custom resources included."""
    for r in plan.resources:
        if r.type.startswith("kubernetes:") and r.type.rsplit(":", 1)[-1] == kind:
            yield r, r.inputs


def meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object."""
    m = obj.get("metadata") or {}
    return str(m.get("namespace") or "default"), str(m.get("name") or "")


def declarations(plan: Plan, key: str) -> Iterator[tuple[Resource, Any]]:
    """What components declared under ``key`` (``platformFlows``, ``platformMetrics``, ``platformPeers``)."""
    for r in plan.resources:
        if not r.custom and key in r.inputs:
            yield r, r.inputs[key]


def flows(plan: Plan) -> Iterator[tuple[Resource, dict[str, Any]]]:
    """Each declared flow with the component that declared it."""
    for r, docs in declarations(plan, FLOWS_KEY):
        for doc in docs:
            yield r, doc


def series(plan: Plan) -> list[dict[str, Any]]:
    """Every declared metric contract."""
    return [doc for _, docs in declarations(plan, METRICS_KEY) for doc in docs]


def peers(plan: Plan) -> dict[str, dict[str, Any]]:
    """Named peers (e.g. ``prometheus``) the components declare."""
    out: dict[str, dict[str, Any]] = {}
    for _, doc in declarations(plan, PEERS_KEY):
        out.update(doc)
    return out


def vpc_cidr(plan: Plan) -> str | None:
    """The VPC's CIDR: pods get addresses from it (VPC CNI), and so do the control-plane and ALB ENIs."""
    for r in plan.by_type("aws:ec2/vpc:Vpc"):
        block = r.inputs.get("cidrBlock")
        if isinstance(block, str):
            return block
    return None


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against a label set; empty selects everything."""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), list(expr.get("values") or [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True
