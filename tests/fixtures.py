"""EXAMPLE DATA, in one place: what the tests need to know about this repository's stacks.

Everything here is *read* from the project's files (``Pulumi.yaml``, ``stacks/``), never written, so a
fork (``blueprint fork``, new ``accountId``s, ``blueprint stack add``) changes these values and the
tests that use them keep holding. A test that needs "a stack of the prod tier" or "the account of
that stack" asks this module; it never spells ``prod``'s account id or the example's org.

The only literals are values no stack may use (:data:`FOREIGN_ACCOUNT`), for tests that need an
account that is *not* one of the project's.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from blueprint.stackfiles import stack_names

ROOT = Path(__file__).resolve().parent.parent
TIERS = ("dev", "staging", "prod")

PROJECT: str = str((yaml.safe_load((ROOT / "Pulumi.yaml").read_text()) or {})["name"])
"""``Pulumi.yaml`` ``name``: the config namespace and the prefix of physical names."""

STACKS: list[str] = stack_names(ROOT)


@cache
def config(stack: str) -> dict[str, Any]:
    """A stack file's keys under the project namespace, namespace stripped (secure values kept as dicts)."""
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()) or {}
    prefix = f"{PROJECT}:"
    return {k[len(prefix) :]: v for k, v in (doc.get("config") or {}).items() if k.startswith(prefix)}


def tier(stack: str) -> str:
    """The stack's deployment tier (its ``environment`` key)."""
    return str(config(stack)["environment"])


def account(stack: str) -> str:
    return str(config(stack)["accountId"])


def region(stack: str) -> str:
    return str(config(stack)["region"])


def stacks_of_tier(name: str) -> list[str]:
    """Stacks of one tier, in :func:`stack_names` order."""
    return [s for s in STACKS if tier(s) == name]


def of_tier(name: str) -> str:
    """The first stack of a tier: the one a test uses when it needs "a staging stack"."""
    found = stacks_of_tier(name)
    assert found, f"no stack of tier {name}: the tests need one of each tier ({', '.join(TIERS)})"
    return found[0]


DEV, STAGING, PROD = (of_tier(t) for t in TIERS)
"""A stack of each tier (in the example, the stacks named after their tier)."""

REPOSITORY: str = next(
    str((config(s).get("delivery") or {})["githubRepository"])
    for s in STACKS
    if (config(s).get("delivery") or {}).get("githubRepository")
)
"""``delivery.githubRepository`` (``OWNER/REPO``, GitHub's spelling)."""
ORG: str = REPOSITORY.split("/")[0]

ACCOUNTS: frozenset[str] = frozenset(account(s) for s in STACKS)
FOREIGN_ACCOUNT: str = next(a for a in ("999999999999", "999999999998", "999999999997") if a not in ACCOUNTS)
"""An account id no stack uses."""
