"""A config problem: key path, message, offending value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Problem:
    """One invalid setting."""

    path: str
    """Key path without the project prefix, e.g. ``nodePools.gpu.maxSize``."""
    message: str
    """What is wrong and what is allowed."""
    value: Any = None
    """The offending value, when there is one (never a secret)."""
    has_value: bool = False
    config_key: bool = True
    """False for problems with the stack file itself (its YAML, its top-level keys)."""


def _p(path: str, message: str, *value: Any) -> Problem:
    return Problem(path, message, value[0] if value else None, bool(value))


def missing_required(path: str, section: BaseModel) -> list[Problem]:
    """The fields of an enabled ``section`` (at key ``path``) that have no safe default and are still unset:
    those declared with :func:`infra.config._base.required_when`."""
    out = []
    for name, info in type(section).model_fields.items():
        extra = info.json_schema_extra
        if (
            isinstance(extra, dict)
            and str(extra.get("derived", "")).startswith("required with")
            and not getattr(section, name)
        ):
            what = (info.description or "").split(". ")[0].rstrip(".").replace("``", "`")
            out.append(_p(f"{path}.{info.alias or name}", f"required when {path}.enabled (no default): {what}"))
    return out
