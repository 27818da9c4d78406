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

from infra import input_rules
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


MAX_FILE_BYTES = 1 << 20
"""A stack file is a few kilobytes; anything past 1 MiB is refused before it is parsed."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and sequences a stack file may use (the config schema needs < 10)."""


class _StackFileError(Exception):
    """A stack file that cannot be read safely; the message names what is wrong and where."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, duplicate keys and deep nesting while composing.

    Aliases are refused outright: each one re-uses a whole subtree, so a few kilobytes of nested aliases
    expand to billions of nodes (the "billion laughs" bomb) before any check could see them. Stack files
    do not need them; Pulumi writes config without anchors. The composer is recursive, so depth is
    bounded here too, before Python's recursion limit is reached.
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _StackFileError(
                f"line {event.start_mark.line + 1}: YAML alias *{event.anchor} is not allowed in stack files "
                "(anchors and aliases can expand without bound); write the value out"
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _StackFileError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:
                raise _StackFileError(f"line {line}: a mapping key must be a plain value") from None
            if first != line:
                raise _StackFileError(
                    f"duplicate key {str(key)[:80]!r} at lines {first} and {line}; "
                    "YAML keeps only the last one, so one of the two settings would be silently lost"
                )
        return super().construct_mapping(node, deep=deep)


def _read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise _StackFileError(f"is {size} bytes; a stack file may be at most {MAX_FILE_BYTES} bytes")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _StackFileError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); is it a binary file?"
        ) from None


_PARSED: dict[str, Any] = {}
"""Documents already parsed, by their text: a preview reads each stack file twice (the program, the policy
pack's environment) and the strict pure-Python parse costs ~25 ms a file. Keyed by content, so an edited
file is parsed again. Callers only read the result."""


def _load_yaml(path: Path, source: str) -> Any:
    """Parse a YAML file strictly. Every failure is a one-line ConfigError naming ``source``."""
    try:
        text = _read_text(path)
        if text not in _PARSED:
            if len(_PARSED) >= 64:
                _PARSED.clear()
            _PARSED[text] = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        return _PARSED[text]
    except _StackFileError as exc:
        message = str(exc)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        message = f"is not valid YAML{where}: {problem}"
    except (RecursionError, MemoryError, OSError) as exc:
        message = f"cannot be read: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    raise ConfigError(source, [Problem("(file)", config_key=False, message=message)]) from None


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


def foreign_credential_problems(key: str, value: Any) -> list[Problem]:
    """Plaintext credentials under another namespace (``aws:secretKey``, a provider token)."""
    return [Problem(path, msg, config_key=False) for path, msg in input_rules.foreign_credential_findings(key, value)]


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
        elif not full.startswith(f"{name}:"):
            problems += foreign_credential_problems(full, stripped)
        flat[full] = _encode(stripped)
    if problems:
        raise ConfigError(source, problems)
    return StackSettings(stack=stack, project=name, source=source, config=flat, secret_keys=sorted(secret_keys))
