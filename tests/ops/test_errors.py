"""Every ops command fails the same way: one line on stderr, exit 2 for usage errors, 1 for failures."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from blueprint.ops import preflight
from tests.fixtures import PROJECT, unused_stack_name
from tests.ops.conftest import REGION, Result, assert_one_line_error

UNKNOWN = unused_stack_name()  # the README's example names may be real stacks in a fork


def _usage(res: Result, start: str) -> None:
    assert res.code == 2, res.out + res.err
    assert res.err.count("\n") == 1, res.err
    assert "Traceback" not in res.err
    assert res.err.startswith(start), res.err


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (("bootstrap",), "usage error: blueprint bootstrap: the following arguments are required: --region, --bucket"),
        (("bootstrap", "--region", REGION, "--bucket", "acme-state", "--noncurrent-days", "0"),
         "usage error: blueprint bootstrap: argument --noncurrent-days: must be a whole number of days"),
        (("preflight",), "usage error: blueprint preflight: the following arguments are required: stack"),
        (("preflight", UNKNOWN), f"usage error: blueprint preflight: unknown stack '{UNKNOWN}'"),
        (("promote", "vllm", "--from", "staging", "--to", "prod"), "usage error: blueprint promote: argument"),
        (("promote", "vllm:v1", "--from", UNKNOWN, "--to", "prod"), f"usage error: blueprint promote: unknown stack '{UNKNOWN}'"),
        (("promote", "vllm:v1", "--from", "prod", "--to", "prod"),
         "usage error: blueprint promote: --from and --to name the same stack"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_on_one_line(argv: tuple[str, ...], start: str, cli: Callable[..., Result]) -> None:
    _usage(cli(*argv), start)


def test_an_invalid_stack_config_is_one_line_naming_the_file(
    cli: Callable[..., Result], project: Callable[..., None]
) -> None:
    def breaks(c: dict) -> None:
        c["cluster"]["version"] = "1.20"
        c["network"]["natGateways"] = "none"

    project("dev", breaks)
    res = cli("preflight", "dev")
    assert_one_line_error(res, "error: stacks/Pulumi.dev.yaml: invalid configuration (2 problems):")
    assert f"{PROJECT}:cluster.version" in res.err
    assert f"{PROJECT}:network.natGateways" in res.err


def test_an_unexpected_exception_is_one_line(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(preflight, "load_stack_config", boom)
    res = cli("preflight", "dev")
    assert_one_line_error(res, "error: blueprint preflight failed: RuntimeError: first line second line")
    assert "BLUEPRINT_DEBUG=1" in res.err
