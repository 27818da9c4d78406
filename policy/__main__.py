"""Entry point the Pulumi CLI runs for ``--policy-pack policy``: build the pack and serve it.

Constructing ``PolicyPack`` starts the analyzer's gRPC server and blocks, so this file does nothing
else; the policies live in the importable ``ai_platform_policies`` package. Per-policy enforcement
comes from ``--policy-pack-config policy/config/tiers/<tier>.json``; without it every policy is advisory.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from ai_platform_policies import ALL_POLICIES, PACK_NAME

PolicyPack(
    name=PACK_NAME,
    policies=ALL_POLICIES,
    enforcement_level=EnforcementLevel.ADVISORY,
    description="Guardrails for the ai-platform blueprint (see docs/policy-pack.md).",
)
