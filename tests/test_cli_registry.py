"""One command registry: every tool's commands behind `blueprint`, listed by tool, each with a handler."""

from __future__ import annotations

import argparse
import re

import pytest

from blueprint import cli
from blueprint.cli import EXIT_OK, EXIT_USAGE, main


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_help_lists_every_command_once_under_its_tool(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == EXIT_OK
    text = capsys.readouterr().out
    sections = re.split(r"^(\w+) \(.*\):$", text, flags=re.M)
    listed = {
        tool: re.findall(r"^  ([a-z-]+)  ", body, flags=re.M)
        for tool, body in zip(sections[1::2], sections[2::2], strict=True)
    }
    assert list(listed) == [tool for tool, _, _ in cli.TOOLS]
    names = [name for names in listed.values() for name in names]
    assert sorted(names) == sorted(_commands(cli._parser()))
    assert len(names) == len(set(names))
    assert {"preview", "prices"} <= set(listed["preview"])
    assert {"bootstrap", "preflight", "promote", "records"} <= set(listed["ops"])
    assert {"fork", "stack", "docs", "delivery"} <= set(listed["upkeep"])


def test_every_command_has_a_handler() -> None:
    def leaves(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return [(path, parser)]
        return [leaf for name, p in subs[0].choices.items() for leaf in leaves(p, f"{path} {name}")]

    for name, parser in _commands(cli._parser()).items():
        for path, leaf in leaves(parser, name):
            handler = leaf.get_default("handler") or parser.get_default("handler")
            assert callable(handler), f"blueprint {path} has no handler"


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["records", "write"], "usage error: blueprint records write: "),
        (["delivery"], "usage error: blueprint delivery: "),
        (["docs", "--frobnicate"], "usage error: blueprint: unrecognized arguments: --frobnicate"),
    ],
)
def test_subcommand_usage_errors_exit_2_on_one_line(
    argv: list[str], prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(prefix), err
    assert err.count("\n") == 1
