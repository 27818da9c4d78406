"""Run single policies through the offline evaluator (the same path `blueprint preview` takes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from blueprint.preview.plan import Plan, Resource
from blueprint.preview.policy_eval import evaluate, load_pack
from tests.conftest import ROOT

PACK = load_pack(ROOT)
POLICIES = {p.name: p for p in PACK.ALL_POLICIES}
PROJECT = "ai-platform"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::{PROJECT}::{type_}::{name}"


@dataclass
class R:
    """A resource for a test plan: wire-format props; dependencies by logical name."""

    type: str
    props: Mapping[str, Any]
    name: str = "res"
    deps: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Property dependencies: input name -> names of the resources it depends on."""
    depends_on: Sequence[str] = ()
    parent: str | None = None
    provider: str | None = None
    ignore_changes: Sequence[str] = ()
    protect: bool = False


def plan_of(resources: Sequence[R]) -> Plan:
    by_name = {r.name: r for r in resources}

    def u(n: str) -> str:
        return urn(by_name[n].type, n)

    out = []
    for r in resources:
        prop_deps = {k: [u(n) for n in v] for k, v in r.deps.items()}
        deps = sorted({d for v in prop_deps.values() for d in v} | {u(n) for n in r.depends_on})
        out.append(
            Resource(
                urn=u(r.name),
                type=r.type,
                name=r.name,
                parent=u(r.parent) if r.parent else "",
                custom=True,
                provider=f"{u(r.provider)}::{r.provider}-id" if r.provider else "",
                inputs=dict(r.props),
                dependencies=deps,
                property_dependencies=prop_deps,
                protect=r.protect,
                retain_on_delete=False,
                ignore_changes=list(r.ignore_changes),
            )
        )
    return Plan(stack="test", project=PROJECT, resources=out, outputs={})


def violations(
    policy: str, resources: Sequence[R] | R, settings: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The violations of one policy (mandatory) over these resources, with these settings."""
    rs = [resources] if isinstance(resources, R) else list(resources)
    file = {"all": "disabled", policy: {"enforcementLevel": "mandatory", **(settings or {})}}
    report = evaluate(plan_of(rs), [POLICIES[policy]], file, environment="test")
    return list(report["violations"])


def messages(policy: str, resources: Sequence[R] | R, settings: Mapping[str, Any] | None = None) -> list[str]:
    return [v["message"] for v in violations(policy, resources, settings)]
