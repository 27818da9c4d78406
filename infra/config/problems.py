"""A config problem: key path, message, offending value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel


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


def component_problems(
    prefix: str, found: Iterable[tuple[str, str]], keys: Mapping[str, str] | None = None
) -> list[Problem]:
    """A component's own invariants (its ``…Args.problems()`` or the pure function behind it), reported at the
    stack file's key path: ``prefix`` plus the config key of each Args field (``keys``, else the field in
    camelCase). The rule lives once, in the component; the config reports it with every other problem."""
    keys = keys or {}
    return [_p(f"{prefix}.{keys.get(path, to_camel(path))}", message) for path, message in found]
