"""``blueprint``: the platform's command-line tool, one registry for its three tools.

- preview (``blueprint/preview/``): run the program offline under the mock engine, evaluate the policy pack and
  the behaviour analyses, report the plan; the price tables behind the cost estimate.
- ops (``blueprint/ops/``): boto3 commands against the stack's AWS account (bootstrap, preflight, promote, the
  deployment records).
- upkeep (``blueprint/upkeep/``): the repository itself (fork, stack add, the generated reference, the stack
  facts the workflows read).

Exit codes, the same for every command: 0 success, 1 failure (program or config error, a mandatory policy
violation, an output that cannot be written, a failed AWS call), 2 usage error or an unusable policy config
file (``blueprint.preview.policy_config``). Every error is one line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from blueprint.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, Parser, UsageError, console, one_line
from blueprint.preview.policy_config import PolicyConfigError

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "TOOLS", "UsageError", "main"]

# (tool, what it is for, the module listing its COMMANDS): `blueprint --help` lists them in this order, grouped.
TOOLS = (
    ("preview", "the offline plan, its checks and estimates", "blueprint.preview.commands"),
    ("ops", "boto3 against a stack's AWS account", "blueprint.ops.commands"),
    ("upkeep", "this repository's files", "blueprint.upkeep.commands"),
)


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI; with ``only``, just that tool's commands (``preview`` needs neither boto3 nor the upkeep
    helpers, ~0.15 s of imports it would otherwise pay on every run)."""
    p = Parser(
        prog="blueprint",
        usage="blueprint <command> [options]",
        description="Offline preview, operations and upkeep for the ai-platform blueprint.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The flat list argparse would print is replaced by the grouped one in the epilog.
    sub = p.add_subparsers(
        dest="command",
        prog="blueprint",
        required=True,
        parser_class=Parser,
        metavar="<command>",
        help=argparse.SUPPRESS,
    )
    groups: list[str] = []
    for tool, purpose, module in TOOLS:
        if only not in (None, tool):
            continue
        before = len(sub._choices_actions)
        for register in importlib.import_module(module).COMMANDS:
            register(sub)
        rows = [(a.dest, a.help or "") for a in sub._choices_actions[before:]]
        width = max(len(name) for name, _ in rows)
        groups.append(f"{tool} ({purpose}):\n" + "\n".join(f"  {n:<{width}}  {h}" for n, h in rows))
    p.epilog = "commands:\n\n" + "\n\n".join(groups) + "\n\n`blueprint <command> --help` describes each."
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``blueprint`` console script."""
    err = console(stderr=True)
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = _parser("preview" if argv[:1] == ["preview"] else None).parse_args(argv)
        return int(args.handler(args))
    except UsageError as exc:
        err.print(f"[red]usage error:[/] {one_line(str(exc))}", markup=True)
        return EXIT_USAGE
    except PolicyConfigError as exc:
        err.print(f"error: {one_line(str(exc))}", markup=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        # An output that cannot be written (a directory given as a file, a full disk, /proc): one line.
        where = f" {exc.filename}" if exc.filename else ""
        err.print(f"error: cannot write{where}: {exc.strerror or exc}", markup=False)
        return EXIT_ERROR
    except Exception as exc:
        if os.environ.get("BLUEPRINT_DEBUG"):
            raise
        err.print(f"error: {type(exc).__name__}: {one_line(str(exc))} (BLUEPRINT_DEBUG=1 shows the traceback)")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
