"""Operations commands on boto3: ``bootstrap``, ``preflight``, ``promote`` and ``image-cache``.

``blueprint.cli`` loads :data:`COMMANDS`: each entry adds one subcommand to the CLI.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from blueprint.ops import bootstrap, image_cache, preflight, promote

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    bootstrap.register,
    preflight.register,
    promote.register,
    image_cache.register,
]
