"""Publish a drift report to a Prometheus Pushgateway (the metrics the drift alerts read)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

JOB = "model-drift"


def registry_for(model: str, score: float, now: float | None = None) -> CollectorRegistry:
    """The two gauges of docs/metrics-contract.md for one evaluation of ``model``.

    The ``model`` label is the push's grouping key (``/metrics/job/model-drift/model/<model>``): the
    Pushgateway adds it to both series, and each model's push replaces only its own group.
    """
    reg = CollectorRegistry()
    Gauge("model_drift_score", "Drift of the model's live inputs from its reference data (0 same, 1 disjoint).",
          registry=reg).set(score)  # fmt: skip
    Gauge("model_drift_last_evaluation_timestamp_seconds", "Unix time of the last completed drift evaluation.",
          registry=reg).set(time.time() if now is None else now)  # fmt: skip
    return reg


def push(gateway: str, model: str, score: float, timeout: float = 30.0) -> None:
    """PUT the model's group on the Pushgateway (replacing its previous values)."""
    push_to_gateway(gateway, job=JOB, registry=registry_for(model, score), grouping_key={"model": model},
                    timeout=timeout)  # fmt: skip
