"""Metric contract: every PromQL expression an autoscaler or an alert evaluates names only series that exist.

Contracts come from the components' declarations (``components/_contracts.py``): each producer lists the
metrics it emits with their labels once scraped, and the only values some labels take (vLLM's
``model_name`` is its served model name). Queries are the KEDA ``prometheus`` triggers of every
ScaledObject and the expressions of every PrometheusRule the program renders. Each is parsed with
promql-parser (the Rust PromQL parser's Python bindings) and checked:

- every selected metric is emitted by some producer (for a ScaledObject: by the workload it scales);
- every label a selector matches on is one that producer's series carry (or a target label Prometheus
  adds: job, instance, namespace, pod, service, endpoint, container);
- an equality matcher on a label with declared values uses one of them (``model_name="llama-3-8b"``
  matches nothing if the server calls itself ``/models/llama-3-8b``);
- ``by (...)`` and ``on (...)`` labels exist on the series they group or join (``label_replace`` and
  ``label_join`` add their target label).

A query that selects nothing does not fail in Prometheus: the autoscaler silently holds its minimum,
the alert never fires. That is why these are blocking findings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser as pp

from blueprint.preview.analyses import AnalysisResult, Finding
from blueprint.preview.analyses._plan_k8s import k8s_objects, meta, series
from blueprint.preview.plan import Plan
from components._contracts import TARGET_LABELS

NAME = "metric-contract"
_ADDS_LABEL = {"label_replace", "label_join"}


@dataclass
class _Query:
    where: str
    """The object and field, e.g. ``ScaledObject serving/llama-3-8b trigger 0``."""
    expr: str
    contracts: list[dict[str, Any]]
    """The producers the query may read (the scaled workload's, or every producer for an alert)."""
    problems: list[tuple[str, str]] = field(default_factory=list)


def _labels_of(contracts: list[dict[str, Any]], metric: str) -> set[str] | None:
    found = [set(c["metrics"][metric]) | set(c.get("labels", [])) for c in contracts if metric in c["metrics"]]
    if not found:
        return None
    return set().union(*found) | set(TARGET_LABELS)


class _Checker:
    def __init__(self, query: _Query):
        self.q = query

    def problem(self, rule: str, fix: str) -> None:
        self.q.problems.append((rule, fix))

    def selector(self, vs: Any) -> set[str] | None:
        name = vs.name
        if not name:
            return None
        labels = _labels_of(self.q.contracts, name)
        if labels is None:
            scope = "the workload it scales" if len(self.q.contracts) == 1 else "any workload in this stack"
            self.problem(
                f"Metric {name} is not emitted by {scope}, so the query selects nothing.",
                "use a metric from the producer's contract (docs/metrics-contract.md), or declare the producer's metrics",
            )
            return None
        producers = [c for c in self.q.contracts if name in c["metrics"]]
        for m in vs.matchers.matchers:
            if m.name == "__name__":
                continue
            if m.name not in labels:
                self.problem(
                    f"{name} has no label {m.name!r} (its labels: {', '.join(sorted(labels))}).",
                    f"match on a label {name} carries, e.g. model for the model key",
                )
                continue
            allowed = [set(c.get("values", {}).get(m.name, [])) for c in producers]
            if m.op == pp.MatchOp.Equal and m.value and all(allowed):
                values = set().union(*allowed)
                if m.value not in values:
                    self.problem(
                        f"{name}{{{m.name}={m.value!r}}} matches nothing: the producer sets {m.name} to "
                        f"{', '.join(sorted(values))}.",
                        f"select {m.name} by a value it takes; for vLLM the served name is the model key "
                        "(--served-model-name, set by the platform)",
                    )
        return labels

    def walk(self, e: Any) -> set[str] | None:
        """The labels the expression's result carries (None: unknown or scalar), checking as it goes."""
        if isinstance(e, pp.VectorSelector):
            return self.selector(e)
        if isinstance(e, pp.MatrixSelector):
            return self.selector(e.vector_selector)
        if isinstance(e, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
            return self.walk(e.expr)
        if isinstance(e, pp.Call):
            out = None
            for a in e.args:
                got = self.walk(a)
                out = got if out is None else (out | got if got is not None else out)
            if e.func.name in _ADDS_LABEL and out is not None and len(e.args) > 1:
                out = out | {e.args[1].val}
            return out
        if isinstance(e, pp.AggregateExpr):
            inner = self.walk(e.expr)
            if e.param is not None:
                self.walk(e.param)
            if e.modifier is None:
                return set()
            labels = set(e.modifier.labels)
            if e.modifier.type == pp.AggModifierType.By:
                self._need(labels, inner, f"{e.op} by")
                return labels
            return None if inner is None else inner - labels
        if isinstance(e, pp.BinaryExpr):
            lhs, rhs = self.walk(e.lhs), self.walk(e.rhs)
            mod = e.modifier
            if mod is not None and mod.matching is not None and mod.matching.type == pp.LabelModifierType.Include:
                on = set(mod.matching.labels)
                self._need(on, lhs, "on")
                self._need(on, rhs, "on")
            if lhs is None:
                return rhs
            if mod is not None and mod.group_labels:
                return lhs | set(mod.group_labels)
            return lhs
        return None

    def _need(self, labels: set[str], available: set[str] | None, what: str) -> None:
        if available is None:
            return
        for label in sorted(labels - available):
            self.problem(
                f"{what} ({label}) groups by a label the selected series do not carry, so every series lands in one group.",
                f"group by a label the producer emits or its ServiceMonitor adds ({', '.join(sorted(available))})",
            )


def _queries(plan: Plan, contracts: list[dict[str, Any]]) -> Iterator[_Query]:
    for _, so in k8s_objects(plan, "ScaledObject"):
        ns, name = meta(so)
        spec = so.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        mine = [
            c
            for c in contracts
            if c.get("workload")
            == {"namespace": ns, "kind": target.get("kind", "Deployment"), "name": target.get("name")}
        ]
        for i, trig in enumerate(spec.get("triggers") or []):
            if trig.get("type") == "prometheus":
                yield _Query(f"ScaledObject {ns}/{name} trigger {i}", str(trig["metadata"]["query"]), mine)
    for _, rule in k8s_objects(plan, "PrometheusRule"):
        ns, name = meta(rule)
        for group in (rule.get("spec") or {}).get("groups") or []:
            for r in group.get("rules") or []:
                label = r.get("alert") or r.get("record")
                yield _Query(f"PrometheusRule {ns}/{name} rule {label}", str(r["expr"]), contracts)


def check(query: _Query) -> _Query:
    """Parse and check one query (problems land on it)."""
    if not query.contracts:
        query.problems.append(
            (
                "No metric contract covers the workload this query scales, so nothing checks that it selects anything.",
                "declare the server's metrics (serving.models.<name>.server / .metrics)",
            )
        )
        return query
    try:
        expr = pp.parse(query.expr)
    except (ValueError, RuntimeError) as err:
        query.problems.append((f"The query does not parse: {err}.", "fix the PromQL"))
        return query
    _Checker(query).walk(expr)
    return query


def scale_from_zero_findings(plan: Plan) -> list[Finding]:
    """ScaledObjects that may reach zero replicas but can never come back.

    A ``prometheus`` trigger of a ScaledObject may only read series of the workload it scales (checked
    above), and those series vanish with its last pod. At zero replicas the query returns an empty
    vector, which KEDA's Prometheus scaler treats as 0 (``ignoreNullValues`` defaults to true,
    keda.sh/docs/2.20/scalers/prometheus/), so the ScaledObject never activates again. Scaling from
    zero needs a trigger whose signal exists without the pods (the KEDA HTTP add-on, or the load
    balancer's request count from CloudWatch).
    """
    out = []
    for _, so in k8s_objects(plan, "ScaledObject"):
        spec = so.get("spec") or {}
        triggers = spec.get("triggers") or []
        if spec.get("minReplicaCount", 1) != 0 or not triggers:
            continue
        if all(t.get("type") == "prometheus" for t in triggers):
            ns, name = meta(so)
            out.append(
                Finding(
                    NAME,
                    f"ScaledObject {ns}/{name}",
                    "minReplicaCount is 0, but every trigger reads series that only the scaled pods emit: at zero "
                    "replicas the queries return nothing, KEDA reads 0 and never scales the model up again.",
                    "keep serving.models.<name>.minReplicas >= 1 in stacks/Pulumi.<stack>.yaml until a request "
                    "signal that exists without the pods (KEDA HTTP add-on, or the ALB's CloudWatch RequestCount) "
                    "is configured",
                )
            )
    return out


def analyse(plan: Plan, root: Path) -> AnalysisResult:
    """Check every autoscaler and alert query against the declared metric contracts."""
    result = AnalysisResult(NAME)
    contracts = series(plan)
    queries = [check(q) for q in _queries(plan, contracts)]
    for q in queries:
        for rule, fix in q.problems:
            result.findings.append(Finding(NAME, f"{q.where}: {q.expr.strip()}", rule, fix))
    result.findings += scale_from_zero_findings(plan)
    external = sorted(m for c in contracts if c.get("external") for m in c["metrics"])
    result.checked = {"queries": len(queries), "metric contracts": len(contracts)}
    if external:
        result.data = {"externally produced": external}
    return result


def contracts_by_producer(plan: Plan) -> Mapping[str, list[str]]:
    """Producer -> metric names (for docs and debugging)."""
    return {c["producer"]: sorted(c["metrics"]) for c in series(plan)}
