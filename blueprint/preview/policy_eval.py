"""Evaluate the CrossGuard pack (``policy/``) offline, against a captured plan, like the real analyzer.

What matches ``pulumi preview --policy-pack policy --policy-pack-config FILE``, where FILE is what
``blueprint policy-config STACK --output FILE`` writes (CI does exactly that):

- the same policy objects (``policy/ai_platform_policies``) and the same merged config
  (:func:`blueprint.preview.policy_config.merged`: tier file, stack file, derived registry and region);
- resource policies get ``unknown_checking_proxy(deserialize_properties(inputs))`` with camelCase
  wire names, the resource options and the explicit provider (as a ``PolicyProviderResource``);
- stack policies get ``PolicyResource`` objects linked by parent, dependencies and property
  dependencies (pulumi_policy ``AnalyzeStack``);
- config is the schema defaults overlaid by the file's entry (the CLI fills defaults the same way),
  the file's ``all`` entry sets the default enforcement level, and ``disabled`` policies do not run;
- reading an unknown value raises ``UnknownValueError``, reported as an advisory "can't run policy …
  during preview" note, as the analyzer does.

Differences from a real preview: no provider Check defaults (``tagsAll``, auto-names), so policies
fall back to ``tags`` plus the provider's ``defaultTags``; stack policies see inputs merged with
the captured inputs rather than real outputs (policies are written to work on inputs).
"""

from __future__ import annotations

import functools
import gc
import importlib
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from blueprint.preview.plan import RESOURCE_SIG, SECRET_SIG_KEY, Plan, Resource
from blueprint.stackfiles import project_root

Policy = ResourceValidationPolicy | StackValidationPolicy
_LEVELS = {e.value: e for e in EnforcementLevel}


CODE_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this package was installed from (the pack's code lives in its ``policy/``)."""


def pack_dir(root: Path | None = None) -> Path:
    """The policy pack directory (``policy/``) of this code checkout, or of ``root`` when given."""
    return (root or CODE_ROOT) / "policy"


def load_pack(root: Path | None = None) -> Any:
    """The ``ai_platform_policies`` package of this checkout (its directory wins over an installed copy)."""
    path = str(pack_dir(root))
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("ai_platform_policies")


def load_config_file(tier: str, root: Path | None = None) -> dict[str, Any]:
    """``policy/config/tiers/<tier>.json``, checked (a tier's defaults, before any stack's overrides).

    A stack's effective config is :func:`blueprint.preview.policy_config.merged`; this is one of its inputs.
    """
    from blueprint.preview.policy_config import TIERS_DIR, config_root, policy_names, read_config

    base = config_root(root or project_root())
    rel = f"{TIERS_DIR}/{tier}.json"
    return read_config(base / rel, rel, policy_names(base))


@dataclass(frozen=True)
class Resolved:
    """A policy's effective enforcement level and config for one environment."""

    level: EnforcementLevel
    config: dict[str, Any]


def resolve(policy: Policy, file: Mapping[str, Any], defaults: Mapping[str, Any]) -> Resolved:
    """Enforcement and settings as the CLI computes them from a ``--policy-pack-config`` file."""
    base = file.get("all", EnforcementLevel.ADVISORY.value)
    level = _LEVELS[str(base)] if isinstance(base, str) else EnforcementLevel.ADVISORY
    if policy.enforcement_level is not None and "all" not in file:
        level = policy.enforcement_level
    entry = file.get(policy.name)
    settings: dict[str, Any] = {}
    if isinstance(entry, str):
        level = _LEVELS[entry]
    elif isinstance(entry, Mapping):
        if "enforcementLevel" in entry:
            level = _LEVELS[str(entry["enforcementLevel"])]
        settings = {k: v for k, v in entry.items() if k != "enforcementLevel"}
    return Resolved(level, {**defaults, **settings})


def environment_of(stack: str, root: Path | None = None) -> str:
    """The stack's ``environment`` config value: its tier (dev, staging or prod)."""
    from blueprint.preview.policy_config import stack_facts

    return stack_facts(stack, root).tier


# --------------------------------------------------------------------------- props
def _to_policy_value(v: Any) -> Any:
    """Wire value -> what ``MessageToDict`` gives the analyzer: resource references become their id/URN."""
    if isinstance(v, dict) and RESOURCE_SIG not in json.dumps(v):
        return v  # the common case, checked at C speed
    return _replace_refs(v)


def _replace_refs(v: Any) -> Any:
    if isinstance(v, dict):
        if v.get(SECRET_SIG_KEY) == RESOURCE_SIG:
            return v.get("id") or v.get("urn") or UNKNOWN_STRING_VALUE
        return {k: _replace_refs(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_replace_refs(x) for x in v]
    return v


def props_of(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``props`` a resource policy sees for these wire inputs."""
    return unknown_checking_proxy(deserialize_properties(_to_policy_value(dict(inputs))))


def _opts(r: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        r.protect, list(r.ignore_changes), False, list(r.aliases), PolicyCustomTimeouts(0, 0, 0), [], r.parent or None
    )


def _provider_urn(ref: str) -> str:
    return ref.rsplit("::", 1)[0] if ref else ""


@dataclass
class _Prepared:
    resource: Resource
    props: Mapping[str, Any]
    opts: PolicyResourceOptions
    provider: PolicyProviderResource | None


def _prepare(plan: Plan) -> list[_Prepared]:
    by_urn = {r.urn: r for r in plan.resources}
    providers: dict[str, PolicyProviderResource] = {}
    out = []
    for r in plan.resources:
        purn = _provider_urn(r.provider)
        prov = None
        if purn in by_urn:
            if purn not in providers:
                p = by_urn[purn]
                providers[purn] = PolicyProviderResource(p.type, props_of(p.inputs), p.urn, p.name)
            prov = providers[purn]
        out.append(_Prepared(r, props_of(r.inputs), _opts(r), prov))
    return out


def _stack_resources(prepared: Iterable[_Prepared]) -> list[PolicyResource]:
    items = list(prepared)
    res: dict[str, PolicyResource] = {}
    for p in items:
        r = p.resource
        # The real engine passes outputs here; offline the mock's outputs are stand-ins, so stack
        # policies see the same inputs as resource policies (and are written against inputs).
        res[r.urn] = PolicyResource(r.type, p.props, r.urn, r.name, p.opts, p.provider, None, [], {})
    for p in items:
        r, pr = p.resource, res[p.resource.urn]
        pr.parent = res.get(r.parent)
        pr.dependencies = [res[d] for d in r.dependencies if d in res]
        pr.property_dependencies = {k: [res[d] for d in v if d in res] for k, v in r.property_dependencies.items()}
    return list(res.values())


# --------------------------------------------------------------------------- evaluation
def evaluate_plan(plan: Plan, *, environment: str | None = None, root: Path | None = None) -> dict[str, Any]:
    """Run every enabled policy over the plan with the stack's merged policy config; a JSON-able report.

    The config is :func:`blueprint.preview.policy_config.merged` (tier file + stack file + derived settings), the
    document CI passes as ``--policy-pack-config``; ``environment`` evaluates under another tier's file.
    The preview prints the files applied (``Merged.describe``); the report stays as the snapshots hold it.
    """
    from blueprint.preview.policy_config import merged

    pack = load_pack(root)
    cfg = merged(plan.stack, root, tier=environment)
    return evaluate(plan, pack.ALL_POLICIES, cfg.doc, environment=cfg.tier, pack_name=pack.PACK_NAME)


def evaluate(
    plan: Plan,
    policies: Iterable[Policy],
    file: Mapping[str, Any],
    *,
    environment: str,
    pack_name: str = "ai-platform-guardrails",
) -> dict[str, Any]:
    """The evaluation itself (``evaluate_plan`` with explicit policies and config)."""
    was_enabled = gc.isenabled()
    gc.disable()  # the proxies allocate many small objects; collection cycles cost 4x the evaluation itself
    try:
        return _evaluate(plan, list(policies), file, environment, pack_name)
    finally:
        if was_enabled:
            gc.enable()


def _evaluate(
    plan: Plan, policies: list[Policy], file: Mapping[str, Any], environment: str, pack_name: str
) -> dict[str, Any]:
    from ai_platform_policies import config_defaults  # the pack is importable once load_pack ran

    prepared = _prepare(plan)
    by_type: dict[str, list[_Prepared]] = defaultdict(list)
    for p in prepared:
        by_type[p.resource.type].append(p)
    violations: list[dict[str, Any]] = []
    count = 0
    stack_resources: list[PolicyResource] | None = None

    for policy in policies:
        count += 1
        rv = resolve(policy, file, config_defaults(policy))
        if rv.level == EnforcementLevel.DISABLED:
            continue
        level = EnforcementLevel.MANDATORY if rv.level == EnforcementLevel.REMEDIATE else rv.level
        add = functools.partial(_record, violations, policy, level)

        if isinstance(policy, StackValidationPolicy):
            if stack_resources is None:
                stack_resources = _stack_resources(prepared)
            _run(policy, StackValidationArgs(stack_resources, rv.config), add, None, pack_name)
            continue
        applies = getattr(policy, "applies_to", None)
        targets = [p for t, ps in by_type.items() if applies(t) for p in ps] if applies is not None else prepared
        for p in targets:
            r = p.resource
            args = ResourceValidationArgs(r.type, p.props, r.urn, r.name, p.opts, p.provider, rv.config, {})
            _run(policy, args, add, r.urn, pack_name)

    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    violations.sort(key=lambda v: (v["enforcement"] != "mandatory", order.get(v["severity"], 4), v["policy"], v["urn"]))
    return {
        "pack": pack_name,
        "environment": environment,
        "policies": count,
        "mandatory": sum(v["enforcement"] == "mandatory" for v in violations),
        "advisory": sum(v["enforcement"] == "advisory" for v in violations),
        "violations": violations,
    }


def _record(
    violations: list[dict[str, Any]],
    policy: Policy,
    level: EnforcementLevel,
    message: str,
    urn: str | None,
    override: EnforcementLevel | None = None,
) -> None:
    violations.append(
        {
            "policy": policy.name,
            "severity": policy.severity.value if policy.severity is not None else "low",
            "enforcement": (override or level).value,
            "message": message,
            "urn": urn or "",
        }
    )


def _run(policy: Policy, args: Any, add: Callable[..., None], urn: str | None, pack_name: str) -> None:
    def report(message: str, violation_urn: str | None = None) -> None:
        add(message, urn or violation_urn)

    try:
        policy.validate(args, report)
    except UnknownValueError as exc:
        # pulumi_policy's Analyze turns this into an advisory diagnostic, whatever the policy's level.
        add(
            f"can't run policy '{policy.name}' from policy pack '{pack_name}' during preview: {exc.message}",
            urn,
            EnforcementLevel.ADVISORY,
        )
    except _NotApplicableError:
        pass
