"""Readers of the provider's wire props (through pulumi_policy's unknown-checking proxies) and IAM documents.

Policies read the provider's *wire* props (camelCase, numbers as floats, explicit-provider
config as JSON strings) through ``pulumi_policy``'s unknown-checking proxy, so every reader here
works on ``Mapping``/``Sequence`` (the proxies), never on ``dict``/``list`` alone.

Standard library only (like ``_gpu``), so the cost estimator can share them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def get(obj: Any, path: str, default: Any = None) -> Any:
    """``get(props, "vpcConfig.endpointPublicAccess")``; list indexes as ``a.0.b``. Missing -> default.

    Unknown values still raise ``UnknownValueError`` (the proxy raises on access), like the real analyzer.
    """
    cur = obj
    for part in path.split("."):
        if isinstance(cur, Mapping):
            if part not in cur:
                return default
            cur = cur[part]
        elif is_seq(cur) and part.isdigit():
            idx = int(part)
            if idx >= len(cur):
                return default
            cur = cur[idx]
        else:
            return default
        if cur is None:
            return default
    return cur


def is_seq(v: Any) -> bool:
    """A list-like value (not a string)."""
    return isinstance(v, Sequence) and not isinstance(v, (str, bytes))


def as_list(v: Any) -> list[Any]:
    """``None`` -> [], scalar -> [scalar], sequence -> list."""
    if v is None:
        return []
    if is_seq(v):
        return list(v)
    return [v]


def truthy(v: Any) -> bool:
    """True for ``True`` and ``"true"`` (launch-template EBS flags and provider config are strings)."""
    return v is True or (isinstance(v, str) and v.lower() == "true")


def falsy_explicit(v: Any) -> bool:
    """False only for an explicit ``False``/``"false"``."""
    return v is False or (isinstance(v, str) and v.lower() == "false")


def num(v: Any, default: float | None = None) -> float | None:
    """A number from a float/int/numeric string."""
    if isinstance(v, bool):
        return default
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return default
    return default


def plain(v: Any) -> Any:
    """A proxy (or nested proxies) copied into plain dicts/lists (raises on unknowns inside)."""
    if isinstance(v, Mapping):
        return {k: plain(v[k]) for k in v}
    if is_seq(v):
        return [plain(x) for x in v]
    return v


def json_doc(v: Any) -> Any:
    """A JSON document that may arrive as a string (IAM policies, provider config) or an object."""
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return None
    return plain(v) if v is not None else None


def statements(doc: Any) -> list[Mapping[str, Any]]:
    """The statements of an IAM policy document (string or object)."""
    d = json_doc(doc)
    if not isinstance(d, Mapping):
        return []
    st = d.get("Statement")
    return [s for s in as_list(st) if isinstance(s, Mapping)]


def principals(stmt: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[(kind, value)]`` of a statement's Principal; ``("*", "*")`` for ``Principal: "*"``."""
    p = stmt.get("Principal")
    if p == "*":
        return [("*", "*")]
    out: list[tuple[str, str]] = []
    if isinstance(p, Mapping):
        for kind, vals in p.items():
            out.extend((str(kind), str(v)) for v in as_list(vals))
    return out


def allows(stmt: Mapping[str, Any]) -> bool:
    """Whether an IAM statement allows (Effect defaults to Allow)."""
    return stmt.get("Effect", "Allow") == "Allow"
