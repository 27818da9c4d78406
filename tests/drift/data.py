"""Synthetic feature tables with known drift (fixed seeds, no network)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

ROWS = 5000
NUMERIC = ("prompt_tokens", "temperature", "latency_ms")
SIGMA = {"prompt_tokens": 120.0, "temperature": 0.2, "latency_ms": 35.0}
MEAN = {"prompt_tokens": 600.0, "temperature": 0.7, "latency_ms": 250.0}
LANGUAGES = ("en", "de", "fr", "ja")
LANGUAGE_P = (0.6, 0.2, 0.15, 0.05)


def features(seed: int, *, shift_sigmas: float = 0.0, rows: int = ROWS, categorical: bool = True) -> pa.Table:
    """Normal numeric columns (mean moved by ``shift_sigmas`` standard deviations) and a language column."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {n: rng.normal(MEAN[n] + shift_sigmas * SIGMA[n], SIGMA[n], rows) for n in NUMERIC}
    if categorical:
        cols["language"] = rng.choice(LANGUAGES, size=rows, p=LANGUAGE_P)
    return pa.table(cols)
