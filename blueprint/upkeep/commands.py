"""The upkeep tool's commands, in the order ``blueprint --help`` lists them (registry: blueprint/cli.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from blueprint.upkeep import delivery, docs, fork, stack_add

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    fork.register,
    stack_add.register,
    docs.register,
    delivery.register,
]
