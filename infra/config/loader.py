"""Stack file -> :class:`PlatformConfig`: decoding, validation, one error listing every problem."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import pulumi
from pydantic import (
    BaseModel,
    ValidationError,
)

from infra import input_rules
from infra.config._base import _SECRETISH, OPTIONAL_SECRET_KEYS, PROJECT, SECRET_KEYS
from infra.config.audit import AuditConfig
from infra.config.ci import CiRunnersConfig, ImagesConfig
from infra.config.cluster import ClusterConfig
from infra.config.delivery import DeliveryConfig
from infra.config.ml import DriftConfig, DvcConfig, MlflowConfig
from infra.config.monitoring import GpuConfig, MonitoringConfig
from infra.config.network import NetworkConfig
from infra.config.node_pools import NodePoolSpec
from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p
from infra.config.registry import ArtifactsConfig, RegistryConfig
from infra.config.rules import cross_field_problems
from infra.config.serving import ServingConfig


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. The message lists every problem; it prints without a traceback."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        if len(problems) == 1 and problems[0].path == "(file)":
            # The file itself is unreadable: one line, naming it and what is wrong.
            super().__init__(f"{source}: {input_rules.redact(problems[0].message)}")
            return
        lines = [f"{source}: invalid configuration ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"]
        for p in problems:
            where = p.path if not p.config_key or ":" in p.path.split(".")[0] else f"{PROJECT}:{p.path}"
            shown = f" (got {_show(p.value)})" if p.has_value else ""
            lines.append(f"  - {input_rules.safe_key(where, 300)}: {input_rules.redact(p.message + shown)}")
        super().__init__("\n".join(lines))


def _show(v: Any) -> str:
    s = json.dumps(v, default=str) if not isinstance(v, str) else repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


def _loc_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str] | None:
    """The keys allowed at the mapping that holds ``loc[-1]``, for 'unknown key' messages."""
    model: Any = PlatformConfig
    for part in loc[:-1]:
        if isinstance(model, type) and issubclass(model, BaseModel):
            fld = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
            if fld is None:
                return None
            model = _unwrap(fld.annotation)
        elif isinstance(model, tuple) and model[0] is dict:
            model = _unwrap(model[1])
        else:
            return None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return None


def _unwrap(annotation: Any) -> Any:
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is dict:
        return (dict, args[1])
    if origin in (list,):
        return (list, args[0])
    if args and origin is not Literal:
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def problems_from_validation(exc: ValidationError) -> list[Problem]:
    """Turn pydantic errors into problems with key paths and allowed values."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # Errors raised inside a field validator carry the field as the last loc part.
        path = _loc_path(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            msg = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
            out.append(_p(path, msg))
            continue
        if err["type"] == "missing":
            out.append(_p(path, "required key is missing"))
            continue
        value = err.get("input")
        if path.split(".")[-1] in SECRET_KEYS:
            out.append(_p(path, msg))
        else:
            out.append(_p(path, msg, value))
    return out


def _secret_problems(raw: Mapping[str, Any], secret_keys: set[str]) -> list[Problem]:
    out = []
    for key in SECRET_KEYS:
        if key in raw and raw[key] is not None and key not in secret_keys:
            out.append(
                _p(
                    key,
                    f"is a secret: set it with `pulumi config set --secret {key} ...` so the stack file holds a `secure:` value",
                )
            )

    def walk(v: Any, path: str) -> None:
        if isinstance(v, Mapping):
            for k, sub in v.items():
                p = f"{path}.{k}"
                if (
                    isinstance(sub, str)
                    and sub
                    and _SECRETISH.search(str(k))
                    and not str(k).endswith(("Arn", "Name", "Ref", "Alias"))
                ):
                    out.append(_p(p, "looks like a plaintext secret; use a `secure:` config value or a secret store"))
                else:
                    walk(sub, p)
        elif isinstance(v, list):
            for i, sub in enumerate(v):
                walk(sub, f"{path}[{i}]")

    for key, value in raw.items():
        if key not in SECRET_KEYS and key not in secret_keys:
            walk(value, key)
    return out


def _input_problems(raw: Mapping[str, Any], secret_keys: set[str]) -> list[Problem]:
    """Hostile or mistaken values anywhere (infra/input_rules.py): credentials, sizes, tag and label syntax.

    Never shows the value: it may be a credential, or megabytes long.
    """
    found: dict[str, list[str]] = {}

    def add(findings: Iterable[tuple[str, str]]) -> None:
        for path, msg in findings:
            found.setdefault(path, [])
            if msg not in found[path]:
                found[path].append(msg)

    plain = {k: v for k, v in raw.items() if k not in SECRET_KEYS and k not in secret_keys}
    for key, value in plain.items():
        add(input_rules.size_findings(value, key))
        add((p, f"{m}; {input_rules.CREDENTIAL_ADVICE}") for p, m in input_rules.credential_findings(value, key))
    tags = raw.get("tags")
    if isinstance(tags, Mapping):
        add(input_rules.aws_tag_findings(tags, "tags"))
    for path, labels in _label_maps(raw):
        add(input_rules.k8s_label_findings(labels, path))
    return [_p(path, "; ".join(msgs)) for path, msgs in found.items()]


def _label_maps(raw: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    defaults = raw.get("nodePoolDefaults")
    if isinstance(defaults, Mapping) and isinstance(defaults.get("labels"), Mapping):
        yield "nodePoolDefaults.labels", defaults["labels"]
    pools = raw.get("nodePools")
    for name, pool in pools.items() if isinstance(pools, Mapping) else ():
        if isinstance(pool, Mapping) and isinstance(pool.get("labels"), Mapping):
            yield f"nodePools.{name}.labels", pool["labels"]


def parse_config(
    raw: Mapping[str, Any], *, secret_keys: Iterable[str], source: str, stack: str | None = None
) -> PlatformConfig:
    """Validate a raw ``{key: value}`` map (project namespace stripped; objects already decoded).

    ``stack`` is the stack's name (role names and the GitHub Environment follow it); without it, the tier.
    Raises :class:`ConfigError` listing every problem.
    """

    required = [f.alias or n for n, f in PlatformConfig.model_fields.items() if f.is_required()]
    if not any(k in raw for k in required):
        # One line instead of one "required key is missing" per key.
        msg = f"sets none of the required `{PROJECT}:` keys ({', '.join(required)}); is the file empty?"
        raise ConfigError(source, [Problem("(file)", msg, config_key=False)])
    secret_set = set(secret_keys)
    # Pulumi.yaml gives optional secrets (a receiver that is off) the default "", so the CLI does not demand
    # a value for them; "" is "not set".
    raw = {k: v for k, v in raw.items() if not (k in OPTIONAL_SECRET_KEYS and v == "")}
    problems = _secret_problems(raw, secret_set)
    seen = {p.path for p in problems}
    problems += [p for p in _input_problems(raw, secret_set) if p.path not in seen]
    cfg: PlatformConfig | None = None
    try:
        cfg = PlatformConfig.model_validate(dict(raw))
        cfg._stack = stack
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc))
    if cfg is not None:
        problems.extend(cross_field_problems(cfg))
    if problems or cfg is None:
        raise ConfigError(source, [_without_credential(p) for p in problems])
    return cfg


def _without_credential(p: Problem) -> Problem:
    """A problem whose value holds a credential is reported without it."""
    if p.has_value and input_rules.credential_kind(json.dumps(p.value, default=str)):
        return Problem(p.path, p.message, config_key=p.config_key)
    return p


def decode_flat(flat: Mapping[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    """Project keys of a flat Pulumi config map (``ai-platform:key`` -> string) decoded to values.

    Objects and arrays arrive JSON-encoded, booleans and numbers as strings; foreign
    namespaces (``aws:``) are ignored because the program configures its providers itself.
    Secrets (``SECRET_KEYS``) stay strings: a PEM key, password or webhook URL that happens to start
    with ``{`` or equal ``true`` is still that string.
    """
    raw: dict[str, Any] = {}
    problems = _stale_namespace_problems(flat)
    for full, text in flat.items():
        ns, _, key = full.partition(":")
        if ns != PROJECT:
            continue
        if key in SECRET_KEYS:
            raw[key] = text
        elif isinstance(text, str) and text[:1] in "{[":
            try:
                raw[key] = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(_p(key, f"is not valid JSON ({exc.msg})"))
        elif text in ("true", "false"):
            raw[key] = text == "true"
        else:
            raw[key] = text
    return raw, problems


def _stale_namespace_problems(flat: Mapping[str, str]) -> list[Problem]:
    """Project keys under another project's namespace (left by a rename) would be ignored silently: refuse them."""
    ours = {f.alias or n for n, f in PlatformConfig.model_fields.items()} | set(SECRET_KEYS)
    keys: dict[str, list[str]] = {}
    for full in flat:
        ns, _, key = full.partition(":")
        # Providers' namespaces share key names with ours (`aws:region`, `pulumi:tags`).
        if ns != PROJECT and ns not in ("aws", "kubernetes", "docker", "pulumi") and key in ours:
            keys.setdefault(ns, []).append(key)
    return [
        Problem(
            f"{ns}:",
            f"found {len(found)} key{'s' if len(found) != 1 else ''} under `{ns}:` ({_some(found)}), the project is "
            f"`{PROJECT}`: rename them to `{PROJECT}:…`",
            config_key=False,
        )
        for ns, found in sorted(keys.items())
    ]


def _some(keys: list[str], shown: int = 5) -> str:
    """The first few keys, sorted, and how many more."""
    names = sorted(keys)
    more = len(names) - shown
    return ", ".join(f"`{k}`" for k in names[:shown]) + (f" and {more} more" if more > 0 else "")


def load_config() -> PlatformConfig:
    """Load and validate this stack's configuration from the running Pulumi program.

    This is the only place the program reads configuration.
    """
    from pulumi.runtime import config as rc

    flat: dict[str, Any] = {**rc.get_config_env(), **rc.CONFIG.get()}
    secret_keys = set(rc.get_config_secret_keys_env()) | rc._SECRET_KEYS.get()
    source = f"stacks/Pulumi.{pulumi.get_stack()}.yaml"
    raw, problems = decode_flat(flat)
    problems += [
        _p(path, msg)
        for full, text in flat.items()
        if not full.startswith(PROJECT + ":") and full not in secret_keys
        for path, msg in input_rules.foreign_credential_findings(full, text)
    ]
    secret_names = {k.partition(":")[2] for k in secret_keys if k.startswith(PROJECT + ":")}
    try:
        cfg = parse_config(raw, secret_keys=secret_names, source=source, stack=pulumi.get_stack())
    except ConfigError as err:
        raise ConfigError(source, problems + err.problems) from None
    if problems:
        raise ConfigError(source, problems)
    return cfg


# Exposed for docs generation: the sections and their Args-like models.
SECTIONS: Mapping[str, type[BaseModel]] = {
    "network": NetworkConfig,
    "registry": RegistryConfig,
    "artifacts": ArtifactsConfig,
    "cluster": ClusterConfig,
    "nodePoolDefaults": NodePoolSpec,
    "gpu": GpuConfig,
    "monitoring": MonitoringConfig,
    "serving": ServingConfig,
    "ciRunners": CiRunnersConfig,
    "images": ImagesConfig,
    "delivery": DeliveryConfig,
    "drift": DriftConfig,
    "mlflow": MlflowConfig,
    "dvc": DvcConfig,
    "audit": AuditConfig,
}
