"""Make the pack's package importable from this checkout (the CLI runs it from policy/)."""

from __future__ import annotations

import sys

from tests.conftest import ROOT

if str(ROOT / "policy") not in sys.path:
    sys.path.insert(0, str(ROOT / "policy"))
