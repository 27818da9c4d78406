"""Policy constructors: typed resource and stack policies, and the list each module registers them in.

Each policy module keeps ``POLICIES = PolicyList()`` and registers a policy right above its check::

    @POLICIES.resource("ecr-repository-immutable-tags", "...", Severity.HIGH, [REPOSITORY])
    def _immutable(args: ResourceValidationArgs, report: ReportViolation) -> None:
        '''Repositories set imageTagMutability: IMMUTABLE.'''

so a check always sits beside its name, severity and config schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

STACK_FILE = "stacks/Pulumi.<stack>.yaml"
"""Where a stack's settings live; messages point here (the pack does not know the stack's name)."""
POLICY_CONFIG = "policy/config/tiers/<tier>.json"
"""Where a policy's settings and exemptions live for a tier (a stack's ``environment``)."""
STACK_POLICY_CONFIG = "policy/config/stacks/<stack>.json"
"""Where one stack's differences from its tier live (optional)."""


def config_files_hint(config: Mapping[str, Any]) -> str:
    """The files a change to a policy's settings would go in, named as the merged config names them.

    ``blueprint policy-config`` (the file CI passes as ``--policy-pack-config``) writes ``configFiles``
    into the policies whose messages need it; a hand-written config gets the generic paths.
    """
    files = config.get("configFiles") or {}
    stack = str(files.get("stack") or STACK_POLICY_CONFIG)
    tier = str(files.get("tier") or POLICY_CONFIG)
    return f"{stack} (this stack only) or {tier} (every stack of the tier)"


CONFIG_FILES_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"stack": {"type": "string"}, "tier": {"type": "string"}},
    "default": {},
}
"""``configFiles``: written by the merge (blueprint/preview/policy_config.py), never by hand."""

ReportViolation = Callable[..., None]
"""``report(message, urn=None)``; pulumi_policy types the urn as required, but it is optional."""
Check = Callable[[ResourceValidationArgs, ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation], None]


def _schema(config: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties={k: dict(v) for k, v in config.items()}) if config else None


class TypedResourcePolicy(ResourceValidationPolicy):
    """A resource policy that only looks at the listed type tokens.

    The real analyzer calls every resource policy for every resource; the type check in
    ``_validate`` keeps that correct, and ``resource_types`` lets the offline evaluator index
    resources by type and skip the call entirely.
    """

    resource_types: frozenset[str]
    """Exact type tokens, or prefix patterns ending in ``*`` (``kubernetes:*``)."""
    check: Check
    """The function that inspects one resource and reports violations."""

    def __init__(
        self,
        name: str,
        description: str,
        severity: Severity,
        resource_types: Iterable[str],
        check: Check,
        *,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        remediation: str | None = None,
    ) -> None:
        self.resource_types = frozenset(resource_types)
        self._prefixes = tuple(t[:-1] for t in self.resource_types if t.endswith("*"))
        self.check = check
        super().__init__(
            name,
            description,
            validate=self._validate,
            severity=severity,
            config_schema=_schema(config),
            remediation_steps=remediation,
        )

    def applies_to(self, resource_type: str) -> bool:
        """Whether this policy checks resources of ``resource_type``."""
        return resource_type in self.resource_types or resource_type.startswith(self._prefixes)

    def _validate(self, args: ResourceValidationArgs, report: ReportViolation) -> None:
        if self.applies_to(args.resource_type):
            self.check(args, report)


class PlatformStackPolicy(StackValidationPolicy):
    """A stack policy with the same constructor shape as :class:`TypedResourcePolicy`."""

    check: StackCheck
    """The function that inspects the whole stack and reports violations."""

    def __init__(
        self,
        name: str,
        description: str,
        severity: Severity,
        check: StackCheck,
        *,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        remediation: str | None = None,
    ) -> None:
        self.check = check
        super().__init__(
            name,
            description,
            validate=check,
            severity=severity,
            config_schema=_schema(config),
            remediation_steps=remediation,
        )


class PolicyList(list[Policy]):
    """A module's policies, registered by decorating each check where it is defined."""

    def resource(
        self,
        name: str,
        description: str,
        severity: Severity,
        resource_types: Iterable[str],
        *,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        remediation: str | None = None,
    ) -> Callable[[Check], Check]:
        """Register the decorated check as a :class:`TypedResourcePolicy`; the check is returned unchanged."""

        def register(check: Check) -> Check:
            policy = TypedResourcePolicy(
                name, description, severity, resource_types, check, config=config, remediation=remediation
            )
            self.append(policy)
            return check

        return register

    def stack(
        self,
        name: str,
        description: str,
        severity: Severity,
        *,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        remediation: str | None = None,
    ) -> Callable[[StackCheck], StackCheck]:
        """Register the decorated check as a :class:`PlatformStackPolicy`; the check is returned unchanged."""

        def register(check: StackCheck) -> StackCheck:
            self.append(PlatformStackPolicy(name, description, severity, check, config=config, remediation=remediation))
            return check

        return register


def config_defaults(policy: ResourceValidationPolicy | StackValidationPolicy) -> dict[str, Any]:
    """The ``default`` of every property in a policy's config schema (the CLI fills these in)."""
    schema = policy.config_schema
    if schema is None:
        return {}
    return {k: v["default"] for k, v in schema.properties.items() if "default" in v}
