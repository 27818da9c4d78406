"""What every ``blueprint`` command shares: exit codes, the usage-error parser, the consoles.

Exit codes, the same for every command: 0 success, 1 failure (program or config error, a mandatory policy
violation, an output that cannot be written, a failed AWS call), 2 usage error. Every error is one line.
"""

from __future__ import annotations

import argparse
import os

from rich.console import Console

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

# Width of the output when it is not a terminal (a CI log, a file, the PR comment's artifact). rich would
# assume 80 columns and cut long URNs and type tokens with "…"; logs and the comment scroll sideways, so
# lines stay whole up to this width, and table cells fold (wrap, never cut) beyond it. COLUMNS still wins.
PIPE_WIDTH = 240


class UsageError(Exception):
    """A bad command-line argument."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors raise :class:`UsageError` (exit 2, one line) instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def console(stderr: bool = False) -> Console:
    """A rich console; not a terminal means no styling (rich honours NO_COLOR) and lines up to PIPE_WIDTH."""
    out = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH
    return out


def one_line(text: str) -> str:
    """``text`` on one line, at most 2000 characters (an error message for a log)."""
    return " ".join(text.split())[:2000]
