"""From the evaluator to the alert: the exposition the drift job pushes, as Prometheus scrapes it off the
Pushgateway, fires ModelDriftHigh (promtool), and a job that stops pushing fires ModelDriftNotEvaluated.

The series are built from what ``prometheus_client.push_to_gateway`` actually sends (its text
exposition, parsed back), with the labels the scrape adds: the Pushgateway's ServiceMonitor keeps the
pushed ``job``/``model`` labels (``honorLabels: true``) and Prometheus adds the target's namespace.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from components.monitoring import RULES_DIR
from tests.drift.data import features
from tests.monitoring.test_promtool import _run, _tool

from drift_eval import evaluate  # isort: skip
from drift_eval.push import JOB, registry_for  # isort: skip

MODEL = "llama-3-8b"


def _pushed_series(model: str, score: float, now: float) -> dict[str, tuple[str, float]]:
    """metric name -> (promtool series selector, value) as scraped from the Pushgateway."""
    text = generate_latest(registry_for(model, score, now=now)).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {**sample.labels, "job": JOB, "model": model, "namespace": "monitoring", "instance": ""}
            selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if v)
            out[sample.name] = (f"{sample.name}{{{selector}}}", sample.value)
    return out


def _promtool_test(tmp_path: Path, tests: list[dict]) -> str:
    path = tmp_path / "pushed_test.yaml"
    doc = {"rule_files": [str(RULES_DIR / "drift.yaml")], "evaluation_interval": "1m", "tests": tests}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return _run(_tool("promtool"), "test", "rules", path).stdout


def test_the_pushed_timestamp_is_unix_seconds() -> None:
    series = _pushed_series(MODEL, 0.1, now=time.time())
    assert abs(series["model_drift_last_evaluation_timestamp_seconds"][1] - time.time()) < 60
    assert set(series) == {"model_drift_score", "model_drift_last_evaluation_timestamp_seconds"}


@pytest.mark.promtool
def test_model_drift_high_fires_from_the_pushed_score(tmp_path: Path) -> None:
    score = evaluate(features(1, categorical=False), features(2, shift_sigmas=1.5, categorical=False))
    drifted = _pushed_series(MODEL, score.model_drift_score, now=0)
    calm = _pushed_series("mistral", evaluate(features(1), features(2)).model_drift_score, now=0)
    selector, value = drifted["model_drift_score"]
    out = _promtool_test(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    {"series": selector, "values": f"{value!r}x60"},
                    {"series": calm["model_drift_score"][0], "values": f"{calm['model_drift_score'][1]!r}x60"},
                ],
                "alert_rule_test": [
                    {"eval_time": "20m", "alertname": "ModelDriftHigh", "exp_alerts": []},
                    {
                        "eval_time": "45m",
                        "alertname": "ModelDriftHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "model": MODEL},
                                "exp_annotations": {
                                    "summary": f"Model {MODEL} drift score is {value!r}",
                                    "description": "Live inputs no longer look like the evaluation data; "
                                    "re-evaluate or retrain the model.",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    )
    assert "SUCCESS" in out


@pytest.mark.promtool
def test_a_job_that_stops_pushing_fires_not_evaluated(tmp_path: Path) -> None:
    """The Pushgateway keeps serving the last push: only the timestamp shows that the job stopped."""
    selector, _ = _pushed_series(MODEL, 0.05, now=0)["model_drift_last_evaluation_timestamp_seconds"]
    out = _promtool_test(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [{"series": selector, "values": "0x4400"}],
                "alert_rule_test": [
                    {"eval_time": "2d", "alertname": "ModelDriftNotEvaluated", "exp_alerts": []},
                    {
                        "eval_time": "3d",
                        "alertname": "ModelDriftNotEvaluated",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "model": MODEL},
                                "exp_annotations": {
                                    "summary": f"Drift of model {MODEL} has not been evaluated for 3d 0h 0m 0s",
                                    "description": "The drift job stopped; model_drift_score is stale.",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    )
    assert "SUCCESS" in out
