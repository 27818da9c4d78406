"""Repository upkeep commands: ``fork`` (rename the project and its GitHub repository) and
``stack add`` (a new stack from an existing one).

``blueprint.cli`` loads :data:`COMMANDS`: each entry adds one subcommand to the CLI. These
commands edit the files of the project directory (``BLUEPRINT_PROJECT_DIR``, else the checkout the
tool was installed from, as for ``preview``); they never touch the cloud.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from blueprint.upkeep import fork, stack_add

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    fork.register,
    stack_add.register,
]
