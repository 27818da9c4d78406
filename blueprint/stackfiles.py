"""Read ``Pulumi.yaml`` and ``stacks/Pulumi.<stack>.yaml`` the way the Pulumi CLI does, without the CLI.

The result is the flat config map the language host hands the program (``ai-platform:key`` ->
string, objects JSON-encoded), with project defaults applied and every ``secure:`` value
replaced by a placeholder and listed as a secret key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.config import PROJECT, ConfigError, Problem

SECRET_PLACEHOLDER = "offline-preview-secret"  # noqa: S105 - a stand-in, not a secret
"""What a ``secure:`` value becomes offline: the ciphertext needs the stack's secrets provider."""

_STACK_FILE_KEYS = {"config", "secretsprovider", "encryptedkey", "encryptionsalt"}


def project_root() -> Path:
    """The directory holding ``Pulumi.yaml`` and ``stacks/``.

    The checkout this package was installed from, unless ``BLUEPRINT_PROJECT_DIR`` points
    elsewhere (a fork's copy of the stack files, or a test's).
    """
    override = os.environ.get("BLUEPRINT_PROJECT_DIR")
    return Path(override).resolve() if override else Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StackSettings:
    """A stack's config as the language host would pass it."""

    stack: str
    project: str
    source: str
    """The stack file, relative to the project root (for messages)."""
    config: dict[str, str]
    secret_keys: list[str]


def stack_names(root: Path | None = None) -> list[str]:
    """Stacks that have a ``stacks/Pulumi.<stack>.yaml`` file, in a stable order (dev, staging, prod first)."""
    root = root or project_root()
    names = [p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml")]
    return sorted(names, key=stack_sort_key)


def stack_sort_key(name: str) -> tuple[int, str]:
    """The order of :func:`stack_names` (and of the workflows' stack matrices)."""
    return ({"dev": 0, "staging": 1, "prod": 2}.get(name, 3), name)


def _load_yaml(path: Path, source: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(
            source,
            [Problem("(file)", config_key=False, message=f"is not valid YAML{where}: {getattr(exc, 'problem', exc)}")],
        ) from None


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _strip_secure(value: Any, path: str, secret_paths: list[str]) -> Any:
    """Replace nested ``{secure: …}`` values with the placeholder, remembering where they were."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            secret_paths.append(path)
            return SECRET_PLACEHOLDER
        return {k: _strip_secure(v, f"{path}.{k}", secret_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secure(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    return value


def load_stack(stack: str, root: Path | None = None) -> StackSettings:
    """Load one stack's flat config. Raises ConfigError for a missing or malformed stack file."""
    root = root or project_root()
    source = f"stacks/Pulumi.{stack}.yaml"
    path = root / source
    if not path.is_file():
        known = ", ".join(stack_names(root)) or "none"
        raise ConfigError(
            source, [Problem("(file)", config_key=False, message=f"no such stack file; known stacks: {known}")]
        )
    project = _load_yaml(root / "Pulumi.yaml", "Pulumi.yaml") or {}
    name = project.get("name", PROJECT)
    doc = _load_yaml(path, source) or {}
    if not doc:
        raise ConfigError(source, [Problem("(file)", config_key=False, message="the file is empty")])
    problems: list[Problem] = []
    if not isinstance(doc, dict):
        raise ConfigError(
            source, [Problem("(file)", config_key=False, message="must be a mapping with a `config:` key")]
        )
    for key in sorted(set(doc) - _STACK_FILE_KEYS):
        why = (
            "Pulumi ESC environments need the Pulumi Cloud backend; this project uses a self-managed backend"
            if key == "environment"
            else f"unknown top-level key; allowed: {', '.join(sorted(_STACK_FILE_KEYS))}"
        )
        problems.append(Problem(key, why, config_key=False))
    stack_cfg = doc.get("config") or {}
    if not stack_cfg and not problems:
        raise ConfigError(source, [Problem("config", "is empty: the file sets no configuration", config_key=False)])
    if not isinstance(stack_cfg, dict):
        raise ConfigError(source, [Problem("config", "must be a mapping of `namespace:key: value`", config_key=False)])

    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    declared = project.get("config") or {}
    for key, decl in declared.items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(decl, dict):
            if "default" in decl:
                flat[full] = _encode(decl["default"])
            elif "value" in decl:
                flat[full] = _encode(decl["value"])
        else:
            flat[full] = _encode(decl)

    for key, value in stack_cfg.items():
        full = str(key)
        if ":" not in full:
            full = f"{name}:{full}"  # the CLI namespaces bare keys with the project name
        paths: list[str] = []
        stripped = _strip_secure(value, full, paths)
        if paths:
            secret_keys.append(full)
        flat[full] = _encode(stripped)
    if problems:
        raise ConfigError(source, problems)
    return StackSettings(stack=stack, project=name, source=source, config=flat, secret_keys=sorted(secret_keys))
