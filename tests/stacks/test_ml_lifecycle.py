"""ML lifecycle guarantees every stack keeps: the MLflow database and server, the DVC remote, the
Pushgateway and one drift CronJob per model with a drift section."""

from __future__ import annotations

import json

from blueprint.preview.plan import Plan
from tests.conftest import stack_raw
from tests.stacks.test_workloads import objects

HELM = "kubernetes:helm.sh/v3:Release"


def _raw(plan: Plan) -> dict:
    return stack_raw(plan.stack)


def test_mlflow_database_is_private_encrypted_and_durable_as_configured(stack_plan: Plan) -> None:
    (db,) = stack_plan.by_type("aws:rds/instance:Instance")
    p = db.inputs
    assert p["publiclyAccessible"] is False
    assert p["storageEncrypted"] is True
    assert p["manageMasterUserPassword"] is True
    assert "password" not in p
    prod = _raw(stack_plan)["environment"] == "prod"
    if prod:
        assert p["multiAz"] is True
        assert p["deletionProtection"] is True
        assert p["backupRetentionPeriod"] >= 7
        assert db.protect is True
    assert db.protect is bool(_raw(stack_plan).get("protectStatefulResources", True))


def test_mlflow_server_is_internal_authenticated_with_s3_artifacts(stack_plan: Plan) -> None:
    (rel,) = [r for r in stack_plan.by_type(HELM) if r.inputs["name"] == "mlflow"]
    v = rel.inputs["values"]
    assert v["service"]["type"] == "ClusterIP"
    assert v["ingress"]["enabled"] is False
    assert v["auth"]["enabled"] is True
    assert v["artifactRoot"]["s3"]["enabled"] is True
    assert stack_plan.outputs["mlflowArtifactUri"].startswith("s3://")
    assert stack_plan.outputs["mlflowArtifactUri"].endswith("/mlflow/")
    doc = json.dumps(stack_plan.public())
    assert "offline#placeholder" not in doc


def test_dvc_remote_is_the_dvc_prefix_of_the_artifact_bucket(stack_plan: Plan) -> None:
    assert stack_plan.outputs["dvcRemote"] == f"s3://{stack_plan.outputs['artifactBucket']}/dvc"


def test_pushgateway_and_a_drift_cronjob_per_drifting_model(stack_plan: Plan) -> None:
    assert [r for r in stack_plan.by_type(HELM) if r.inputs["chart"] == "prometheus-pushgateway"]
    models = _raw(stack_plan)["serving"]["models"]
    drifting = sorted(n for n, m in models.items() if m.get("drift"))
    jobs = sorted(j["metadata"]["name"].removeprefix("drift-") for j in objects(stack_plan, "CronJob"))
    assert jobs == drifting
    assert drifting, "every example stack evaluates drift for at least one model"
