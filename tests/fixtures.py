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


def unused_stack_name(preferred: str = "qa") -> str:
    """A stack name no stack file uses: ``preferred`` (often one the README's examples spell, ``qa``,
    ``prod-eu``), or ``preferred-2``, ``-3``... when a fork has already added a stack of that name."""
    if preferred not in STACKS:
        return preferred
    return next(f"{preferred}-{i}" for i in range(2, 100) if f"{preferred}-{i}" not in STACKS)


def unused_region(account_id: str, preferred: str = "eu-central-1") -> str:
    """A region in which ``account_id`` has no stack (``preferred`` if free), for tests that place a copy of a
    stack beside it and must not collide with a real stack of the checkout."""
    taken = {region(s) for s in STACKS if account(s) == account_id}
    candidates = (preferred, "eu-central-1", "eu-north-1", "ap-southeast-2", "ca-central-1", "sa-east-1")
    return next(r for r in candidates if r not in taken)


def unused_account() -> str:
    """An account id no stack uses (a "new account"), distinct from :data:`FOREIGN_ACCOUNT`."""
    return next(a for a in ("444455556666", "123412341234", "135713571357") if a not in ACCOUNTS | {FOREIGN_ACCOUNT})
