"""Cross-stack checks: account-wide singletons have exactly one owner, and no two stacks share a physical name.

AWS holds some resources once per account (the GitHub OIDC provider; the audit archive and trail, by this
project's one-owner rule) or once per account and region (ECR's registry scanning configuration, registry
policy and pull-through cache rules). Several stacks may share an account (docs: README, "Adding a stack");
exactly one of them creates each singleton, chosen in its stack file. Each stack previews alone, so
neither the program nor the policy pack can see a second owner: :func:`singleton_problems` reads every
stack file (YAML only, no engine) and reports, one line each,

- two stacks of one account (and region) that both claim a singleton;
- an ``ownedBy`` key naming a stack that does not exist, lives in another account (or region), or does
  not own the singleton;
- a stack that relies on ECR registry settings no stack in its account and region creates, or on a
  pull-through cache rule its owner does not create.

:func:`physical_name_clashes` compares finished plans: two stacks in one account (or region, or anywhere for
S3 buckets) that would create resources with the same physical name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# libyaml when PyYAML was built with it: ~10x faster, and this runs before every preview.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Pull-through rules a stack has when `registry.pullThroughCache` is unset (infra/config.py RegistryConfig).
DEFAULT_PULL_THROUGH = ("ecr-public", "k8s", "quay")


@dataclass(frozen=True)
class Singleton:
    """One account-wide (or account-and-region-wide) resource and the stack-file keys that assign it."""

    what: str
    section: str
    key: str
    """The claim: true (or unset: every key defaults to true) means this stack creates it."""
    owned_by: str | None
    """Key, in the same section, naming the owner from a non-owner; None when the singleton has none."""
    regional: bool
    gate: str | None = None
    """A key of the section that, when false, turns the whole feature (and so the claim) off."""


SINGLETONS: tuple[Singleton, ...] = (
    Singleton("the GitHub OIDC provider", "delivery", "createOidcProvider", None, regional=False, gate="enabled"),
    Singleton("the audit archive and trail", "audit", "enabled", "ownedBy", regional=False),
    Singleton(
        "the ECR registry settings (scanning configuration, registry policy, pull-through cache rules)",
        "registry",
        "createRegistrySettings",
        "registrySettingsOwnedBy",
        regional=True,
    ),
)


@dataclass(frozen=True)
class StackFacts:
    """What the checks need from one stack file."""

    stack: str
    account: str
    region: str
    sections: Mapping[str, Mapping[str, Any]]

    @property
    def file(self) -> str:
        return f"stacks/Pulumi.{self.stack}.yaml"

    def flag(self, section: str, key: str) -> bool:
        value = self.sections.get(section, {}).get(key, True)
        return str(value).lower() != "false"

    def claims(self, s: Singleton) -> bool:
        return (s.gate is None or self.flag(s.section, s.gate)) and self.flag(s.section, s.key)

    def group(self, s: Singleton) -> tuple[str, ...]:
        return (self.account, self.region) if s.regional else (self.account,)

    def pull_through(self) -> set[str]:
        rules = self.sections.get("registry", {}).get("pullThroughCache")
        if not isinstance(rules, dict):
            return set(DEFAULT_PULL_THROUGH)
        return {k for k, v in rules.items() if not (isinstance(v, dict) and str(v.get("enabled")).lower() == "false")}


def read_stacks(root: Path) -> dict[str, StackFacts]:
    """Every stack file's account, region and sections; files that do not parse are left to the per-stack load."""
    project = (yaml.load((root / "Pulumi.yaml").read_text(), Loader=_Loader) or {}).get("name", "")  # noqa: S506
    out: dict[str, StackFacts] = {}
    for path in sorted((root / "stacks").glob("Pulumi.*.yaml")):
        try:
            doc = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a safe loader
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue
        config = doc.get("config") if isinstance(doc, dict) else None
        if not isinstance(config, dict):
            continue
        ns = f"{project}:"
        values = {str(k).removeprefix(ns): v for k, v in config.items() if ":" not in str(k) or str(k).startswith(ns)}
        sections = {k: v for k, v in values.items() if isinstance(v, dict)}
        stack = path.name[len("Pulumi.") : -len(".yaml")]
        out[stack] = StackFacts(stack, str(values.get("accountId", "")), str(values.get("region", "")), sections)
    return out


def _where(s: Singleton, facts: StackFacts) -> str:
    return f"account {facts.account}" + (f" region {facts.region}" if s.regional else "")


def _two_owners(s: Singleton, stacks: Iterable[StackFacts]) -> list[tuple[set[str], str]]:
    owners: dict[tuple[str, ...], StackFacts] = {}
    out: list[tuple[set[str], str]] = []
    for facts in stacks:
        if not facts.claims(s):
            continue
        first = owners.setdefault(facts.group(s), facts)
        if first is not facts:
            out.append(
                (
                    {first.stack, facts.stack},
                    f"{first.file} and {facts.file} both create {s.what} of {_where(s, facts)} "
                    f"({s.section}.{s.key} is true or unset in both): keep it in the stack that already created it "
                    f"and, in the other (e.g. {facts.file} if it is the newer), set {s.section}.{s.key}: false"
                    + (f" and {s.section}.{s.owned_by}: <the owner>" if s.owned_by else ""),
                )
            )
    return out


def _named_owner(s: Singleton, facts: StackFacts, stacks: Mapping[str, StackFacts]) -> str | None:
    """Why ``facts``'s ``ownedBy`` does not name the owner, or None when it does (or is unset)."""
    assert s.owned_by is not None
    named = facts.sections.get(s.section, {}).get(s.owned_by)
    if named is None or facts.claims(s):
        return None
    key = f"{facts.file}: {s.section}.{s.owned_by}: {named}"
    owner = stacks.get(str(named))
    if owner is None:
        return f"{key} names no stack (no stacks/Pulumi.{named}.yaml); {s.what} of {_where(s, facts)} needs an owner"
    if owner.group(s) != facts.group(s):
        return f"{key} is in {_where(s, owner)}, not {_where(s, facts)}: name the stack of {_where(s, facts)} that owns {s.what}"
    if not owner.claims(s):
        return f"{key} does not create {s.what} ({owner.file} sets {s.section}.{s.key}: false): set it true in one stack of {_where(s, facts)}"
    return None


def _registry_reliance(s: Singleton, facts: StackFacts, stacks: Mapping[str, StackFacts]) -> str | None:
    """A non-owner's registry needs an owner in its account and region, with the pull-through rules it uses."""
    if facts.claims(s):
        return None
    owner = next((o for o in stacks.values() if o.group(s) == facts.group(s) and o.claims(s)), None)
    if owner is None:
        return (
            f"{facts.file}: {s.section}.{s.key} is false but no stack of {_where(s, facts)} creates {s.what}: "
            f"set {s.section}.{s.key}: true in one of them"
        )
    missing = sorted(facts.pull_through() - owner.pull_through())
    if missing:
        return (
            f"{facts.file}: registry.pullThroughCache uses {', '.join(missing)}, which {owner.file}, the owner of "
            f"{_where(s, facts)}'s registry settings, does not create: enable them in {owner.file}"
        )
    return None


def singleton_problems(root: Path, only: Sequence[str] | None = None) -> list[str]:
    """One line per singleton problem among the stack files under ``root``; with ``only``, those involving them."""
    stacks = read_stacks(root)
    found: list[tuple[set[str], str]] = []
    for s in SINGLETONS:
        found += _two_owners(s, stacks.values())
        for facts in stacks.values():
            for why in (
                _named_owner(s, facts, stacks) if s.owned_by else None,
                _registry_reliance(s, facts, stacks) if s.section == "registry" else None,
            ):
                if why:
                    found.append(({facts.stack}, why))
    return [msg for involved, msg in found if only is None or involved & set(only)]


# --------------------------------------------------------------------------- physical names
# Type -> (physical-name input, scope). Scope: "global" (S3 bucket names), "account" (IAM), "region"
# (everything regional, per account). Auto-named resources (no such input) get a random suffix from the
# provider and never collide; prefixes likewise.
PHYSICAL_NAMES: Mapping[str, tuple[str, str]] = {
    "aws:iam/role:Role": ("name", "account"),
    "aws:iam/policy:Policy": ("name", "account"),
    "aws:iam/instanceProfile:InstanceProfile": ("name", "account"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url", "account"),
    "aws:s3/bucket:Bucket": ("bucket", "global"),
    "aws:ecr/repository:Repository": ("name", "region"),
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": ("ecrRepositoryPrefix", "region"),
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate": ("prefix", "region"),
    "aws:ecr/registryPolicy:RegistryPolicy": ("", "region"),
    "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration": ("", "region"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "region"),
    "aws:cloudwatch/eventRule:EventRule": ("name", "region"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", "region"),
    "aws:cloudtrail/trail:Trail": ("name", "region"),
    "aws:codebuild/project:Project": ("name", "region"),
    "aws:eks/cluster:Cluster": ("name", "region"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("name", "region"),
    "aws:kms/alias:Alias": ("name", "region"),
    "aws:sqs/queue:Queue": ("name", "region"),
    "aws:sns/topic:Topic": ("name", "region"),
    "aws:secretsmanager/secret:Secret": ("name", "region"),
    "aws:rds/instance:Instance": ("identifier", "region"),
    "aws:rds/subnetGroup:SubnetGroup": ("name", "region"),
}


@dataclass(frozen=True)
class Named:
    """One resource's place in the namespace it must be unique in."""

    scope: tuple[str, ...]
    type: str
    name: str


def physical_names(resources: Iterable[Any], account: str, region: str) -> dict[Named, str]:
    """``Named`` -> logical name for every resource of ``resources`` (``.type``, ``.name``, ``.inputs``)."""
    out: dict[Named, str] = {}
    for r in resources:
        entry = PHYSICAL_NAMES.get(r.type)
        if entry is None or getattr(r, "custom", True) is False:
            continue
        key, scope = entry
        inputs = r.inputs or {}
        if r.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider" and not inputs:
            continue  # a read (`OpenIdConnectProvider.get`) creates nothing
        name = str(inputs.get(key) or "") if key else "(the registry's)"
        if not name:
            continue
        where = {"global": (), "account": (account,), "region": (account, region)}[scope]
        out[Named(where, r.type, name)] = r.name
    return out


def physical_name_clashes(plans: Mapping[str, tuple[str, str, Iterable[Any]]]) -> list[str]:
    """One line per physical name two stacks would both create. ``plans``: stack -> (account, region, resources)."""
    owner: dict[Named, tuple[str, str]] = {}
    out: list[str] = []
    for stack, (account, region, resources) in plans.items():
        for named, logical in physical_names(resources, account, region).items():
            first = owner.setdefault(named, (stack, logical))
            if first[0] != stack:
                where = {0: "globally", 1: f"in account {account}", 2: f"in account {account} region {region}"}
                out.append(
                    f"stacks {first[0]} ({first[1]}) and {stack} ({logical}) both create "
                    f"{named.type.rsplit(':', 1)[-1]} '{named.name}' {where[len(named.scope)]}: "
                    "derive the name from the stack, or leave the resource to one stack"
                )
    return out


def clashes_of(root: Path, results: Iterable[tuple[str, Any]]) -> list[str]:
    """:func:`physical_name_clashes` of the plans among ``results`` (stack -> plan, or an error string)."""
    facts = read_stacks(root)
    plans = {
        stack: (facts[stack].account, facts[stack].region, plan.resources)
        for stack, plan in results
        if not isinstance(plan, str) and stack in facts
    }
    return physical_name_clashes(plans)
