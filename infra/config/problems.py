"""A config problem: key path, message, offending value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
