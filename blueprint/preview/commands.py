"""The preview tool's commands, in the order ``blueprint --help`` lists them (registry: blueprint/cli.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from blueprint.preview import command, policy_config, prices

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    command.register,
    prices.register,
    policy_config.register,
]
