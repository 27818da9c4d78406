"""Fixtures for the ops commands: moto in server mode, reached over real HTTP.

One moto server runs per test session on 127.0.0.1 and a free port; every test starts from an
empty emulator (``/moto-api/reset``) with fake credentials and config files of its own, so the
developer's real AWS profile can never be used. The commands reach moto through
``BLUEPRINT_AWS_ENDPOINT_URL``, the same override a user would pass as ``--endpoint-url``.
"""

from __future__ import annotations

import json
import os
import shutil
import types
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.endpoint
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from moto.server import ThreadedMotoServer

from blueprint.cli import main
from blueprint.ops import _aws
from tests.fixtures import PROJECT

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-west-2"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake ambient credentials, private AWS config files and a reset emulator."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "aws").mkdir()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws" / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv(_aws.ENDPOINT_ENV, moto_url)
    return moto_url


@dataclass
class Result:
    code: int
    out: str
    err: str


def assert_one_line_error(res: Result, start: str) -> None:
    """Exit 1 with exactly one line on stderr starting with ``start``, and no traceback."""
    assert res.code == 1, res.out
    assert res.err.count("\n") == 1, res.err
    assert "Traceback" not in res.err
    assert res.err.startswith(start), res.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``blueprint ARGS…`` in-process; return exit code, stdout and stderr."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def client(service: str, moto_url: str, region: str = REGION, **creds: str) -> Any:
    """A plain boto3 client on the emulator, for arranging and inspecting state."""
    return boto3.client(service, region_name=region, endpoint_url=moto_url, **creds)


def account_profile(moto_url: str, account: str, profile: str, role: str = "ops-test") -> dict[str, str]:
    """Credentials of ``account`` in moto (an assumed role there), saved as an AWS profile.

    moto maps the access key of an assumed role to the role's account, so two profiles give the
    two sides of a promotion, or a caller in another account than the stack expects.
    """
    sts = client("sts", moto_url)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="ops-test")["Credentials"]
    keys = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    path = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    with path.open("a") as fh:
        fh.write(f"[{profile}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    return keys


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Callable[[dict[str, Any]], None]], None]:
    """A copy of the project's stack files under tmp; ``edit(stack, fn)`` mutates one stack's config."""
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    for f in (ROOT / "stacks").glob("Pulumi.*.yaml"):
        shutil.copy(f, root / "stacks" / f.name)
    monkeypatch.setenv("BLUEPRINT_PROJECT_DIR", str(root))

    def edit(stack: str, fn: Callable[[dict[str, Any]], None]) -> None:
        path = root / "stacks" / f"Pulumi.{stack}.yaml"
        doc = yaml.safe_load(path.read_text())
        raw = {k.split(":", 1)[1]: v for k, v in doc["config"].items()}
        fn(raw)
        doc["config"] = {f"{PROJECT}:{k}": v for k, v in raw.items()}
        path.write_text(yaml.safe_dump(doc))

    return edit


# --------------------------------------------------------------------------- fault injection
class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


_XML_ERRORS = {
    "ec2": "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
    "<RequestID>{rid}</RequestID></Response>",
    "query": "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>{rid}</RequestId></ErrorResponse>",
    "rest-xml": "<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{rid}</RequestId></Error>",
}


def _error_response(protocol: str, code: str, message: str, status: int) -> AWSResponse:
    """An error response in the wire format of ``protocol`` (what the real service would send)."""
    rid = str(uuid.uuid4())
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"x-amzn-RequestId": rid, "x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.1"}
    else:
        body = _XML_ERRORS[protocol].format(code=code, message=message, rid=rid).encode()
        headers = {"Content-Type": "text/xml"}
    return AWSResponse("https://fault.invalid/", status, headers, _Body(body))


@dataclass
class Faults:
    """Errors injected at botocore's ``before-send`` hook, i.e. after signing, instead of the HTTP call."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    """Every operation the commands tried to send, as ``service.Operation`` (faulted or not)."""
    backoffs: list[float] = field(default_factory=list)
    """The delays botocore's retry handler asked to sleep before each retry (recorded, not slept)."""

    def add(
        self,
        service: str,
        operation: str,
        code: str,
        status: int = 400,
        times: int = 1_000_000,
        message: str = "injected by the test",
    ) -> None:
        """Answer the next ``times`` calls of ``service.operation`` (``*`` = any) with ``code``."""
        rule = {"service": service, "op": operation, "code": code, "status": status, "left": times, "message": message}
        self.rules.append(rule)

    def fired(self, code: str) -> int:
        return sum(1 for s in self.sent if s.endswith(f"!{code}"))

    def handler(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, op = event_name.split(".", 2)
        for rule in self.rules:
            if rule["left"] > 0 and rule["service"] == service and rule["op"] in ("*", op):
                rule["left"] -= 1
                self.sent.append(f"{service}.{op}!{rule['code']}")
                protocol = _PROTOCOLS.get(service, "json")
                return _error_response(protocol, rule["code"], rule["message"], rule["status"])
        self.sent.append(f"{service}.{op}")
        return None


_PROTOCOLS = {"s3": "rest-xml", "ec2": "ec2", "sts": "query", "eks": "rest-json"}


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    """Register the fault hook on every session the commands create."""
    f = Faults()
    real = _aws.boto3.Session

    def session(*args: Any, **kwargs: Any) -> Any:
        s = real(*args, **kwargs)
        s.events.register("before-send", f.handler)
        return s

    monkeypatch.setattr(_aws.boto3, "Session", session)
    # botocore's retry backoff (endpoint.py `_needs_retry`: `time.sleep(delay)`) is recorded, not waited:
    # the retries and their order are botocore's, only the seconds of sleeping between them go.
    # The adaptive rate limiter's clock (retries/bucket.py) is left alone: it re-checks real time.
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=f.backoffs.append))
    return f
