"""The captured plan: every resource the program registered, and how to print, save and diff it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Wire-format sentinels (pulumi/sdk/python/lib/pulumi/runtime/rpc.py).
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105 - a protocol sentinel, not a secret
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

MASK = "[secret]"

SCHEMA_VERSION = 1
"""``schemaVersion`` of the plan JSON (docs/plan-json.md, tests/schemas/plan.schema.json). Bump it when a
field is removed, renamed or changes meaning; adding a field is compatible and keeps the version."""

# Top-level ``estimates`` keys of the plan JSON and the analyses that compute them.
ESTIMATES = {"cost": "cost", "deployTime": "deploy-time", "coldStart": "cold-start"}


@dataclass
class Resource:
    """One registered resource, with its inputs as the provider (and a policy analyzer) receives them."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str
    inputs: dict[str, Any]
    """Wire form: camelCase keys, numbers as floats, secrets wrapped in the secret signature."""
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    retain_on_delete: bool
    ignore_changes: list[str]
    aliases: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    """What the mock engine returned (inputs plus computed outputs), in Python form."""

    def public(self) -> dict[str, Any]:
        """The JSON shape of ``--json`` and the snapshots, with secrets masked."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "inputs": mask(self.inputs),
            "dependencies": sorted(self.dependencies),
            "propertyDependencies": {k: sorted(v) for k, v in sorted(self.property_dependencies.items()) if v},
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "ignoreChanges": sorted(self.ignore_changes),
        }


@dataclass
class Plan:
    """Everything one offline preview of one stack produced."""

    stack: str
    project: str
    resources: list[Resource]
    outputs: dict[str, Any]
    policy: dict[str, Any] | None = None
    """The policy report (``blueprint.preview.policy_eval``), once evaluated."""
    analyses: dict[str, Any] | None = None
    """Name -> ``AnalysisResult`` of each behaviour analysis (``blueprint.preview.analyses``), once run."""

    def by_type(self, type_: str) -> list[Resource]:
        """Resources of one type token."""
        return [r for r in self.resources if r.type == type_]

    def get(self, type_: str, name: str) -> Resource:
        """The resource with this type and logical name."""
        for r in self.resources:
            if r.type == type_ and r.name == name:
                return r
        raise KeyError(f"{type_}::{name}")

    def public(self) -> dict[str, Any]:
        """The ``--json`` document."""
        doc: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "stack": self.stack,
            "project": self.project,
            "resources": [r.public() for r in sorted(self.resources, key=lambda r: r.urn)],
            "outputs": mask(self.outputs),
        }
        if self.policy is not None:
            doc["policy"] = self.policy
        if self.analyses:
            doc["analyses"] = {name: result.public() for name, result in sorted(self.analyses.items())}
            for result in doc["analyses"].values():
                # Pods are visited in registration order, which the engine does not fix: sort, so a
                # snapshot is the same on every run and diffs only when a finding does.
                result["findings"].sort(key=lambda f: (f["object"], f["rule"], f["fix"]))
            estimates = self.estimates()
            if estimates:
                doc["estimates"] = estimates
                for name in ESTIMATES.values():  # the numbers live under `estimates`, once
                    doc["analyses"].get(name, {}).pop("data", None)
        return integral(doc)

    def estimates(self) -> dict[str, Any]:
        """``estimates.cost``, ``estimates.deployTime`` and ``estimates.coldStart`` (docs/cost-and-time.md)."""
        out: dict[str, Any] = {}
        for key, name in ESTIMATES.items():
            result = (self.analyses or {}).get(name)
            if result is not None and result.data:
                out[key] = result.data.get("models", []) if key == "coldStart" else result.data
        return out

    def write_json(self, path: Path) -> None:
        """Write the ``--json`` document (stable order, so it diffs well in review)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.public(), indent=1, sort_keys=True) + "\n")


def is_secret(value: Any) -> bool:
    """Whether a wire value is a wrapped secret."""
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def mask(value: Any) -> Any:
    """A copy of a wire value with every secret replaced by ``[secret]`` and unknowns by ``[unknown]``."""
    if is_secret(value):
        return MASK
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == RESOURCE_SIG:
            return {"resourceRef": value.get("urn")}
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if value == UNKNOWN:
        return "[unknown]"
    return value


def integral(value: Any) -> Any:
    """A copy with every integral float as an int: the wire format (protobuf ``Value``) carries every number
    as a double, so ``replicas: 2`` arrives as ``2.0``; the plan JSON gives ``2`` back, and a check written
    against it can compare integers. Non-integral numbers, NaN and infinities are left as they are."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [integral(v) for v in value]
    return value


# --------------------------------------------------------------------------- diff
ABSENT = "(absent)"
"""Shown as the old or new value of a key that exists on one side only."""

# Options compared besides the inputs; a change in ``dependencies`` alone moves no property.
OPTIONS = ("protect", "retainOnDelete", "ignoreChanges", "provider", "parent", "dependencies")


@dataclass(frozen=True)
class Delta:
    """One changed input (or option) of an updated resource, with its old and new (masked) values."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    """One line of a snapshot diff."""

    op: str
    """``+`` create, ``-`` delete, ``~`` update."""
    urn: str
    deltas: tuple[Delta, ...] = ()
    """For updates: what changed, old and new value (secrets are masked in both documents)."""

    @property
    def paths(self) -> tuple[str, ...]:
        """The input (or ``(option)``) paths that changed."""
        return tuple(d.path for d in self.deltas)

    @property
    def name(self) -> str:
        """The logical name (the URN's last segment)."""
        return self.urn.rsplit("::", 1)[-1]

    @property
    def dependency_only(self) -> bool:
        """An update whose only change is the resource's dependency list (no property changes)."""
        return self.op == "~" and all(d.path == "(dependencies)" for d in self.deltas)


def _json_doc(value: Any) -> Any:
    """A string that holds a JSON object or array (IAM policies, container definitions), parsed; else None."""
    if not isinstance(value, str) or not value.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _deltas(old: Any, new: Any, prefix: str = "") -> list[Delta]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Delta] = []
        for k in sorted(set(old) | set(new)):
            p = f"{prefix}.{k}" if prefix else str(k)
            if k not in old or k not in new:
                out.append(Delta(p, old.get(k, ABSENT), new.get(k, ABSENT)))
            else:
                out.extend(_deltas(old[k], new[k], p))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(_deltas(a, b, f"{prefix}[{i}]"))
        return out
    if old == new:
        return []
    parsed_old, parsed_new = _json_doc(old), _json_doc(new)
    if isinstance(parsed_old, dict | list) and isinstance(parsed_new, dict | list):
        # A JSON document inside a string (an IAM policy): name the changed keys inside it.
        return _deltas(parsed_old, parsed_new, f"{prefix or '(value)'}(json)")
    return [Delta(prefix or "(value)", old, new)]


def diff(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> list[Change]:
    """Compare two ``--json`` documents resource by resource."""
    # integral(): a snapshot written before schemaVersion 1 has 2.0 where the plan now has 2.
    old = {r["urn"]: integral(r) for r in old_doc.get("resources", [])}
    new = {r["urn"]: integral(r) for r in new_doc.get("resources", [])}
    changes: list[Change] = []
    for urn in sorted(set(old) | set(new)):
        if urn not in old:
            changes.append(Change("+", urn))
        elif urn not in new:
            changes.append(Change("-", urn))
        else:
            a, b = old[urn], new[urn]
            deltas = _deltas(a["inputs"], b["inputs"])
            for opt in OPTIONS:
                if a.get(opt) != b.get(opt):
                    deltas.append(Delta(f"({opt})", a.get(opt, ABSENT), b.get(opt, ABSENT)))
            if deltas:
                changes.append(Change("~", urn, tuple(deltas)))
    return changes


def resource_to_dict(r: Resource) -> dict[str, Any]:
    """Plain-dict form (for debugging and tests)."""
    return asdict(r)
