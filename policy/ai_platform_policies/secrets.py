"""Secrets: no credential literals in container args, command or env (SEC-01).

A credential in a pod spec is in the plan, the Pulumi state, the Kubernetes API (readable by anyone who can
get the Deployment) and often in process listings. Containers get credentials from a Secret:
``env[].valueFrom.secretKeyRef`` or a mounted file. The patterns match ``infra/input_rules.py``, which
refuses the same literals in the stack files (tests/test_hostile_input.py keeps the two tables equal).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from ._util import (
    WORKLOAD_TYPES,
    PolicyList,
    ReportViolation,
    as_list,
    iter_containers,
    workload_label,
)

CREDENTIAL_PATTERNS: tuple[tuple[str, str], ...] = (
    ("an OpenAI/Anthropic-style API key (sk-…)", r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}"),
    ("a Hugging Face token (hf_…)", r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}"),
    ("a GitHub token (ghp_/gho_/ghu_/ghs_/ghr_…)", r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{30,}"),
    ("a GitHub fine-grained token (github_pat_…)", r"github_pat_[A-Za-z0-9_]{22,}"),
    ("an AWS access key ID (AKIA…/ASIA…)", r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ("a Slack token (xox…)", r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}"),
    ("a Slack webhook URL", r"hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
    ("a Google API key (AIza…)", r"AIza[0-9A-Za-z_-]{35}"),
    ("a PEM private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    (
        "a URL with a password (scheme://user:password@host)",
        r"[a-z][a-z0-9+.-]{0,20}://[^/\s:@]{1,256}:[^/\s@]{1,256}@",
    ),
)
_CREDENTIALS = [(what, re.compile(rx)) for what, rx in CREDENTIAL_PATTERNS]
_SECRET_WORDS = {"password", "passwd", "secret", "token", "apikey", "credential", "credentials"}
_SECRET_PAIRS = {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("hf", "token")}
_REFERENCE_WORDS = {"file", "path", "dir", "env", "name", "ref", "arn", "alias", "id", "url", "length", "len"}
_REFERENCE_VALUE = re.compile(r"^(\$\(|\$\{|\$[A-Z_]|/|\./|~/|file:|arn:|secret:|valueFrom)")
_MAX = 4096
_ADVICE = "take it from a Kubernetes Secret (env valueFrom.secretKeyRef or a mounted file) in components/*.py"


POLICIES = PolicyList()


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name.lstrip("-"))
    return [w for w in re.split(r"[\s_.\-]+", spaced.lower()) if w]


def secretish_name(name: str) -> bool:
    """Whether a variable name says it holds a secret (``HF_TOKEN``), not a reference to one (``HF_TOKEN_FILE``)."""
    words = _words(name)
    if not words or words[-1] in _REFERENCE_WORDS:
        return False
    return bool(_SECRET_WORDS & set(words) or _SECRET_PAIRS & set(itertools.pairwise(words)))


def credential_kind(value: str) -> str | None:
    """The kind of credential a literal value looks like (``None`` when it looks like none)."""
    if len(value) > _MAX:
        return None
    return next((what for what, rx in _CREDENTIALS if rx.search(value)), None)


def _literal(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not _REFERENCE_VALUE.match(value.strip())


def _arg_findings(items: list[Any], field: str) -> Iterator[str]:
    for i, item in enumerate(items):
        if not isinstance(item, str):
            continue
        flag, eq, inline = item.partition("=")
        kind = credential_kind(item)
        if kind:
            yield f"{field}[{i}] contains {kind}"
        elif item.startswith("-") and secretish_name(flag):
            nxt = items[i + 1] if i + 1 < len(items) else None
            if eq and _literal(inline):
                yield f"{field}[{i}] passes a credential inline ({flag}=…)"
            elif not eq and _literal(nxt) and not str(nxt).startswith("-"):
                yield f"{field}[{i + 1}] is the value of {flag}, a credential"


def _env_findings(env: list[Any]) -> Iterator[str]:
    for e in env:
        if not isinstance(e, Mapping) or not _literal(e.get("value")):
            continue
        name, kind = str(e.get("name") or "?"), credential_kind(str(e.get("value")))
        if kind:
            yield f"env {name} contains {kind}"
        elif secretish_name(name):
            yield f"env {name} holds a literal value, and its name says it is a credential"


@POLICIES.resource(
    "k8s-container-no-secret-literals",
    "No credential literals in container command, args or env: credentials come from Secrets (SEC-01).",
    Severity.CRITICAL,
    sorted(WORKLOAD_TYPES),
)
def _no_secret_literals(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Container command, args and env values hold no credential literals."""
    for c, _ in iter_containers(args):
        found = [
            *_arg_findings(as_list(c.get("command")), "command"),
            *_arg_findings(as_list(c.get("args")), "args"),
            *_env_findings(as_list(c.get("env"))),
        ]
        for what in found:
            report(f"{workload_label(args)} container '{c.get('name') or '?'}': {what}; {_ADVICE}")
