"""Policy config: one rule, tier defaults plus per-stack overrides, merged by one function.

``policy/config/tiers/<tier>.json`` holds every policy's level and settings for a tier (dev, staging,
prod: a stack's ``environment``); ``policy/config/stacks/<stack>.json``, optional, holds only what
differs for one stack. :func:`merged` is the rule, used alike by

- the offline preview (``blueprint preview``, :mod:`blueprint.preview.policy_eval`, the cost analysis),
- CI, where ``blueprint policy-config STACK --output FILE`` writes the file the workflows pass to
  ``pulumi preview|up --policy-pack-config`` (pulumi/actions ``policyPackConfigs``),
- a hand-run ``pulumi preview --policy-pack policy --policy-pack-config FILE`` (same command first).

Merge: a policy named in the stack file takes its enforcement level from there, and each of its
settings replaces the tier's setting of the same name (a list is replaced, not appended), as the CLI
applies one config over another (pulumi ``pkg/resource/analyzer/config.go`` ``applyConfig``).

Derived, never listed: the stack's own ECR registry (``<accountId>.dkr.ecr.<region>.amazonaws.com``)
and its region come from the stack file and are written into the merged file as the settings
``stackRegistry`` (``k8s-container-image-pinned``) and ``stackRegion``
(``aws-provider-region-allowlist``), which the pack always allows; ``configFiles`` (the tier and
stack file paths) goes to every policy whose schema declares it, so its messages name the files a change
would go in (``config_files_hint`` in the pack). Moving a stack to another account or region
needs no policy-config edit. The pack itself stays self-contained: it reads only its config.

Errors are one line naming the file and the key (:class:`PolicyConfigError`; the CLI exits 2).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel

from blueprint.stackfiles import load_stack, project_root, stack_names

CODE_ROOT = Path(__file__).resolve().parent.parent.parent
"""The checkout this package was installed from."""

LEVELS: tuple[str, ...] = tuple(e.value for e in EnforcementLevel)
"""advisory, mandatory, remediate, disabled: pulumi_policy 1.21 ``EnforcementLevel``, the values the CLI's
``apitype.EnforcementLevel.IsValid`` accepts in a ``--policy-pack-config`` file."""

CONFIG_DIR = "policy/config"
TIERS_DIR = f"{CONFIG_DIR}/tiers"
STACKS_DIR = f"{CONFIG_DIR}/stacks"

REGISTRY_POLICY = "k8s-container-image-pinned"
REGION_POLICY = "aws-provider-region-allowlist"
DERIVED_KEYS = ("configFiles", "stackRegion", "stackRegistry")
"""Settings :func:`merged` writes from the stack file; a config file that sets them is refused."""


class PolicyConfigError(Exception):
    """A policy config file that cannot be used: one line, naming the file and the key."""


@dataclass(frozen=True)
class StackFacts:
    """What the merge needs from a stack file."""

    tier: str
    account: str
    region: str


@dataclass(frozen=True)
class Merged:
    """A stack's ``--policy-pack-config`` document and the files it came from."""

    stack: str
    tier: str
    tier_file: str
    stack_file: str
    """``policy/config/stacks/<stack>.json``, whether or not it exists (see :attr:`has_stack_file`)."""
    has_stack_file: bool
    doc: dict[str, Any]

    @property
    def files(self) -> list[str]:
        """The files applied, tier first."""
        return [self.tier_file, *([self.stack_file] if self.has_stack_file else [])]

    def describe(self) -> str:
        """The line the preview prints: both paths, and whether the stack file exists."""
        stack = self.stack_file if self.has_stack_file else f"no {self.stack_file}"
        return f"policy config: {self.tier_file} (tier {self.tier}) + {stack}"

    def text(self) -> str:
        """The document as written by ``blueprint policy-config`` (sorted keys, so diffs are stable)."""
        return dump(self.doc)


def dump(doc: Mapping[str, Any]) -> str:
    """The layout of every policy config file: JSON, 2-space indent, sorted keys, trailing newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- reading
def read_config(path: Path, rel: str, policies: frozenset[str]) -> dict[str, Any]:
    """One config file, checked: a JSON object of policy name (or ``all``) -> level or settings."""
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{rel}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except OSError as exc:
        raise PolicyConfigError(f"{rel}: cannot read: {exc.strerror or exc}") from None
    if not isinstance(doc, dict):
        raise PolicyConfigError(f"{rel}: must be a JSON object of policy name -> enforcement level or settings")
    for name, entry in doc.items():
        _check_entry(rel, name, entry, policies)
    return doc


def _check_entry(rel: str, name: str, entry: Any, policies: frozenset[str]) -> None:
    if name != "all" and name not in policies:
        near = difflib.get_close_matches(name, sorted(policies), n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise PolicyConfigError(f"{rel}: {name}: no policy of that name in the pack{hint}")
    if isinstance(entry, str):
        _check_level(rel, name, entry)
        return
    if not isinstance(entry, dict) or name == "all":
        what = "an enforcement level" if name == "all" else "an enforcement level or an object of settings"
        raise PolicyConfigError(f"{rel}: {name}: must be {what}, not {json.dumps(entry)}")
    if "enforcementLevel" in entry:
        _check_level(rel, f"{name}.enforcementLevel", entry["enforcementLevel"])
    for key in DERIVED_KEYS:
        if key in entry:
            raise PolicyConfigError(f"{rel}: {name}.{key}: derived from the stack file by the merge; remove it")


def _check_level(rel: str, key: str, level: Any) -> None:
    if level not in LEVELS:
        raise PolicyConfigError(
            f"{rel}: {key}: {json.dumps(level)} is not an enforcement level (allowed: {', '.join(LEVELS)})"
        )


# --------------------------------------------------------------------------- merging
def _as_object(entry: Any) -> dict[str, Any]:
    return {"enforcementLevel": entry} if isinstance(entry, str) else dict(entry)


def merge(tier: Mapping[str, Any], stack: Mapping[str, Any]) -> dict[str, Any]:
    """The stack's file over the tier's: its levels win, each of its settings replaces the tier's."""
    out = {k: (v if isinstance(v, str) else dict(v)) for k, v in tier.items()}
    for name, entry in stack.items():
        if name not in out or name == "all":
            out[name] = entry if isinstance(entry, str) else dict(entry)
            continue
        combined = {**_as_object(out[name]), **_as_object(entry)}
        out[name] = _compact(combined)
    return out


def _compact(entry: dict[str, Any]) -> Any:
    """``{"enforcementLevel": x}`` alone is written as ``x``, as the files spell it."""
    return entry["enforcementLevel"] if set(entry) == {"enforcementLevel"} else entry


def with_derived(
    doc: dict[str, Any], facts: StackFacts, files: Mapping[str, str], named_files: Iterable[str] = ()
) -> dict[str, Any]:
    """``doc`` plus the settings derived from the stack file: the stack's registry and region, and
    ``configFiles`` for the policies whose schema declares it (``named_files``), so their messages name
    the files a change would go in."""
    out = dict(doc)
    registry = f"{facts.account}.dkr.ecr.{facts.region}.amazonaws.com"
    derived: dict[str, dict[str, Any]] = {name: {"configFiles": dict(files)} for name in named_files}
    derived.setdefault(REGISTRY_POLICY, {})["stackRegistry"] = registry
    derived.setdefault(REGION_POLICY, {})["stackRegion"] = facts.region
    for name, settings in derived.items():
        entry = _as_object(out[name]) if name in out else {}
        out[name] = {**entry, **settings}
    return out


# --------------------------------------------------------------------------- the rule
def merged(stack: str, root: Path | None = None, *, tier: str | None = None) -> Merged:
    """The ``--policy-pack-config`` document of ``stack``: tier file, stack file, derived settings.

    ``tier`` evaluates the stack under another tier's file (tests of "this plan in prod").
    """
    project = root or project_root()
    facts = stack_facts(stack, project)
    root = config_root(project)
    policies, named_files = policy_names(root), _policies_naming_files(root)
    check_stack_files(root, policies, project)
    if tier is not None:
        facts = StackFacts(tier, facts.account, facts.region)
    tier_rel, stack_rel = f"{TIERS_DIR}/{facts.tier}.json", f"{STACKS_DIR}/{stack}.json"
    tier_path = root / tier_rel
    if not tier_path.is_file():
        known = ", ".join(sorted(p.stem for p in (root / TIERS_DIR).glob("*.json"))) or "none"
        raise PolicyConfigError(
            f"stacks/Pulumi.{stack}.yaml: environment: tier {facts.tier!r} has no {tier_rel} (tiers with a file: {known})"
        )
    doc = read_config(tier_path, tier_rel, policies)
    has_stack = (root / stack_rel).is_file()
    if has_stack:
        doc = merge(doc, read_config(root / stack_rel, stack_rel, policies))
    doc = with_derived(doc, facts, {"stack": stack_rel, "tier": tier_rel}, named_files)
    return Merged(stack, facts.tier, tier_rel, stack_rel, has_stack, doc)


def config_root(project: Path) -> Path:
    """Where ``policy/config/`` is read: the project directory (``BLUEPRINT_PROJECT_DIR`` may point at a fork's
    copy), or this code checkout when the project has no ``policy/config/tiers/`` (a copy of the stacks only)."""
    return project if (project / TIERS_DIR).is_dir() else CODE_ROOT


def check_stack_files(root: Path, policies: frozenset[str] | None = None, project: Path | None = None) -> None:
    """Every ``policy/config/stacks/<stack>.json`` belongs to a stack that has a stack file."""
    known = set(stack_names(project or root))
    for path in sorted((root / STACKS_DIR).glob("*.json")):
        if path.stem not in known:
            raise PolicyConfigError(
                f"{STACKS_DIR}/{path.name}: no stack {path.stem!r} (no stacks/Pulumi.{path.stem}.yaml); "
                f"stacks: {', '.join(sorted(known)) or 'none'}"
            )
        if policies is not None:
            read_config(path, f"{STACKS_DIR}/{path.name}", policies)


def _pack(root: Path | None) -> Any:
    from blueprint.preview.policy_eval import load_pack

    # A project directory without its own pack (a test's copy of stacks/ and policy/config/) uses this checkout's.
    return load_pack(root if root is not None and (root / "policy" / "ai_platform_policies").is_dir() else None)


def policy_names(root: Path | None = None) -> frozenset[str]:
    """The names of the policies in the pack of this checkout."""
    return frozenset(p.name for p in _pack(root).ALL_POLICIES)


def _policies_naming_files(root: Path | None) -> list[str]:
    """Policies whose config schema declares ``configFiles`` (their messages name the config files)."""
    return sorted(
        p.name
        for p in _pack(root).ALL_POLICIES
        if p.config_schema is not None and "configFiles" in (p.config_schema.properties or {})
    )


def stack_facts(stack: str, root: Path | None = None) -> StackFacts:
    """Tier, account and region from ``stacks/Pulumi.<stack>.yaml``."""
    base = root or project_root()
    path = base / "stacks" / f"Pulumi.{stack}.yaml"
    return _facts(stack, str(base), path.stat().st_mtime_ns if path.exists() else 0)


@functools.lru_cache(maxsize=32)
def _facts(stack: str, root: str, _mtime: int) -> StackFacts:
    # Parsing YAML in pure Python costs ~40 ms; the stack file rarely changes within a process.
    from infra.config import decode_flat

    # A stack file that does not load raises its ConfigError: the stack's own run reports every problem.
    raw, _ = decode_flat(load_stack(stack, Path(root)).config)
    return StackFacts(
        str(raw.get("environment") or stack), str(raw.get("accountId") or ""), str(raw.get("region") or "")
    )


# --------------------------------------------------------------------------- command
def register(sub: argparse._SubParsersAction) -> None:
    """Add ``policy-config STACK [--output FILE]`` to the CLI."""
    p = sub.add_parser(
        "policy-config",
        help="write a stack's merged policy config (tier + stack file + derived), the --policy-pack-config file",
    )
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    p.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")
    p.set_defaults(handler=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from blueprint.common import UsageError
    from blueprint.stackfiles import project_root, stack_names
    from infra.config import ConfigError

    known = stack_names(project_root())
    if args.stack not in known:
        raise UsageError(f"policy-config: unknown stack {args.stack!r}; known stacks: {', '.join(known)}")
    try:
        result = merged(args.stack)
    except ConfigError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    print(result.describe(), file=sys.stderr)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(result.text())
    else:
        sys.stdout.write(result.text())
    return 0
