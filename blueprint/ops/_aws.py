"""boto3 plumbing shared by the ops commands: sessions, clients, stack config, one-line errors.

Every client retries throttled and transient errors with botocore's *adaptive* retry mode
(exponential backoff plus a client-side rate limiter that slows down after a throttle) and has
explicit connect/read timeouts, so a command never hangs on a dead endpoint
(https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html).

``--endpoint-url`` / ``BLUEPRINT_AWS_ENDPOINT_URL`` points every client at one endpoint: the
tests run the commands against moto in server mode through it. Real use leaves it unset.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    TokenRetrievalError,
)
from rich.console import Console
from rich.table import Table

from infra.config import PlatformConfig

# The same codes as every blueprint command (blueprint.cli): 0 success, 1 failure, 2 usage error.
# `preflight` adds EXIT_NOT_BOOTSTRAPPED (see blueprint.ops.preflight).
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
ENDPOINT_ENV = "BLUEPRINT_AWS_ENDPOINT_URL"
DEFAULT_RETRIES = 7
"""Retries per call after the first attempt (botocore's ``max_attempts`` counts retries only).
Adaptive mode backs off exponentially, up to 20 s between attempts."""
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_READ_TIMEOUT = 60

# Error codes that mean "the caller may not do this", across services' spellings.
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "AuthorizationError",
    "Forbidden",
    "403",
}
_BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
}


class OpsError(Exception):
    """A failure the user can act on; printed as one line, without a traceback (exit 1)."""


class OpsUsageError(OpsError):
    """A bad command line found after parsing (an unknown stack, contradictory options): exit 2."""


@dataclass(frozen=True)
class Aws:
    """A boto3 session bound to one region, handing out configured clients."""

    session: boto3.Session
    region: str
    endpoint_url: str | None
    config: Config

    def client(self, service: str) -> Any:
        """A client for ``service`` with retries, timeouts and the endpoint override applied."""
        return self.session.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            config=self.config,
        )


def connect(
    region: str,
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
    retries: int = DEFAULT_RETRIES,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> Aws:
    """A session for ``region`` with the named profile (None: the ambient credential chain)."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise OpsError(f"AWS profile {profile!r} is not configured (see `aws configure list-profiles`)") from None
    config = Config(
        retries={"mode": "adaptive", "max_attempts": retries},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent_extra="ai-platform-blueprint",
    )
    return Aws(session, region, endpoint_url or os.environ.get(ENDPOINT_ENV) or None, config)


def connect_from_args(args: argparse.Namespace, region: str, profile: str | None = None) -> Aws:
    """:func:`connect` with the common command-line options."""
    return connect(
        region,
        profile=profile,
        endpoint_url=args.endpoint_url,
        retries=args.retries,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
    )


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every ops command takes."""
    g = parser.add_argument_group("AWS connection")
    g.add_argument(
        "--endpoint-url",
        metavar="URL",
        help=f"send every AWS call to this endpoint (an emulator in tests); default ${ENDPOINT_ENV}",
    )
    g.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        metavar="N",
        help=f"retries per AWS call, with adaptive backoff on throttling (default {DEFAULT_RETRIES})",
    )
    g.add_argument(
        "--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT, metavar="S", help="seconds (default 10)"
    )
    g.add_argument("--read-timeout", type=float, default=DEFAULT_READ_TIMEOUT, metavar="S", help="seconds (default 60)")


def error_code(exc: ClientError) -> str:
    """The service's error code (``NoSuchBucket``, ``RepositoryNotFoundException`` …)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def explain(exc: BaseException) -> str:
    """One line that says what went wrong and what to do about it."""
    if isinstance(exc, OpsError):
        return str(exc)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return (
            "no AWS credentials found: set AWS_PROFILE (or pass the command's --profile option), "
            "run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, TokenRetrievalError):
        return f"the AWS SSO session has expired: run `aws sso login` ({exc})"
    if isinstance(exc, NoRegionError):
        return "no AWS region: the stack config sets one; pass --region to bootstrap"
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return f"could not reach the AWS endpoint: {exc}"
    if isinstance(exc, ReadTimeoutError):
        return f"the AWS endpoint did not answer in time (raise --read-timeout): {exc}"
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
        op = exc.operation_name
        if code in _DENIED:
            return f"access denied calling {op} ({code}): {message or 'no details'}; check the IAM policy of the caller"
        if code in _BAD_CREDENTIALS:
            return f"AWS rejected the credentials calling {op} ({code}): {message}"
        if code in _THROTTLED:
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            return f"AWS kept throttling {op} after {attempts + 1} attempts ({code}); retry later or raise --retries"
        if code == "NoSuchBucket":
            return f"bucket does not exist ({op}): {message}; run `blueprint bootstrap` to create it"
        if code == "RepositoryNotFoundException":
            return f"ECR repository not found ({op}): {message}; deploy the stack that owns it first"
        return f"{op} failed ({code}): {message}"
    if isinstance(exc, BotoCoreError):
        return f"AWS client error: {exc}"
    return f"{type(exc).__name__}: {exc}"


def guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command handler; every error becomes one line on stderr: exit 2 for usage errors, 1 otherwise.

    ``BLUEPRINT_DEBUG=1`` re-raises instead, for a traceback.
    """
    from infra.config import ConfigError

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except OpsUsageError as exc:
            stderr().print(f"usage error: blueprint {args.command}: {exc}", markup=False)
            return EXIT_USAGE
        except ConfigError as exc:
            if os.environ.get("BLUEPRINT_DEBUG"):
                raise
            stderr().print(f"error: {one_line_config_error(exc)}", markup=False)
            return EXIT_ERROR
        except (OpsError, BotoCoreError, ClientError) as exc:
            if os.environ.get("BLUEPRINT_DEBUG"):
                raise
            stderr().print(f"error: {one_line(explain(exc))}", markup=False)
            return EXIT_ERROR
        except Exception as exc:  # a bug or an unforeseen environment problem: still one line
            if os.environ.get("BLUEPRINT_DEBUG"):
                raise
            detail = one_line(f"{type(exc).__name__}: {exc}")
            stderr().print(
                f"error: blueprint {args.command} failed: {detail} (BLUEPRINT_DEBUG=1 shows the traceback)",
                markup=False,
            )
            return EXIT_ERROR

    return run


def one_line(text: str) -> str:
    """Collapse whitespace and newlines, so that an error is always one line."""
    return " ".join(text.split())


def one_line_config_error(exc: Any) -> str:
    """A config error (every problem, each with its file and key path) on one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    head, items = lines[0], [ln.removeprefix("- ") for ln in lines[1:]]
    return one_line(f"{head} {'; '.join(items)}" if items else head)


@dataclass(frozen=True)
class Row:
    """One line of a command's result table: what, its status, and why."""

    name: str
    status: str
    detail: str


def print_rows(title: str, headers: tuple[str, str, str], rows: list[Row], styles: dict[str, str]) -> None:
    """A three-column table on stdout; long details fold instead of being cut off."""
    table = Table(title=title, title_justify="left")
    table.add_column(headers[0], no_wrap=True)
    table.add_column(headers[1], no_wrap=True)
    table.add_column(headers[2], overflow="fold")
    for r in rows:
        style = styles.get(r.status, "")
        table.add_row(r.name, f"[{style}]{r.status}[/]" if style else r.status, r.detail)
    stdout().print(table)


def stdout() -> Console:
    """Console for results. rich drops styling without a TTY and honours NO_COLOR."""
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    """Console for errors."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def load_stack_config(stack: str) -> PlatformConfig:
    """The validated config of ``stacks/Pulumi.<stack>.yaml`` (OpsError for an unknown stack)."""
    from blueprint.stackfiles import load_stack, project_root, stack_names
    from infra.config import PROJECT, ConfigError, decode_flat, parse_config

    root = project_root()
    known = stack_names(root)
    if stack not in known:
        raise OpsUsageError(f"unknown stack {stack!r}; known stacks: {', '.join(known) or 'none'}")
    settings = load_stack(stack, root)
    raw, problems = decode_flat(settings.config)
    names = {k.partition(":")[2] for k in settings.secret_keys if k.startswith(PROJECT + ":")}
    try:
        cfg = parse_config(raw, secret_keys=names, source=settings.source, stack=stack)
    except ConfigError as err:
        raise ConfigError(settings.source, problems + err.problems) from None
    if problems:
        raise ConfigError(settings.source, problems)
    return cfg
