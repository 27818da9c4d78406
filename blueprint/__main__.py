"""``python -m blueprint``."""

import sys

from blueprint.cli import main

sys.exit(main())
