"""The ops tool's commands, in the order ``blueprint --help`` lists them (registry: blueprint/cli.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from blueprint.ops import bootstrap, image_cache, preflight, promote, records

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    bootstrap.register,
    preflight.register,
    promote.register,
    records.register,
    image_cache.register,
]
