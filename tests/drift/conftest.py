"""The drift evaluator lives in images/drift-job (its own image); its tests import it from there."""

from __future__ import annotations

import sys
from pathlib import Path

DRIFT_JOB = Path(__file__).resolve().parents[2] / "images" / "drift-job"
if str(DRIFT_JOB) not in sys.path:
    sys.path.insert(0, str(DRIFT_JOB))
