"""The Mlflow component under mocks: the RDS backend store, its network path, the artifact role, the server release."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pulumi
import pytest

from blueprint.preview.plan import Plan
from components.mlflow import (
    MLFLOW_CHART,
    POD_LABELS,
    DatabaseSettings,
    Mlflow,
    MlflowArgs,
    db_secret_data,
)
from tests.components.harness import StandIns, run_program
from tests.components.test_drift import objects


def mlflow_plan(**over: Any) -> Plan:
    def program() -> None:
        s = StandIns()
        args = MlflowArgs(
            identifier="ai-platform-unit-mlflow",
            vpc_id="vpc-123",
            private_subnet_ids=["subnet-a", "subnet-b"],
            cluster_security_group_id="sg-cluster",
            artifacts_bucket=s.bucket,
            artifacts_key=s.key,
            admin_password=pulumi.Output.secret("s3cret-admin"),
            client_namespaces=["arc-runners"],
        )
        Mlflow("mlflow", replace(args, **over), s.context(vpc_cidr="10.20.0.0/16", tags={}))

    return run_program(program)


@pytest.fixture(scope="module")
def prod_like() -> Plan:
    return mlflow_plan(
        database=DatabaseSettings(multi_az=True, backup_retention_days=14, deletion_protection=True), replicas=2
    )


def _one(plan: Plan, type_: str) -> Any:
    (r,) = [r for r in plan.resources if r.type == type_ and r.name.startswith("mlflow")]
    return r


def test_database_is_private_encrypted_managed_and_protected(prod_like: Plan) -> None:
    db = _one(prod_like, "aws:rds/instance:Instance")
    p = db.inputs
    assert p["publiclyAccessible"] is False
    assert p["storageEncrypted"] is True
    assert p["kmsKeyId"].startswith("arn:aws:kms:")
    assert p["manageMasterUserPassword"] is True
    assert "password" not in p
    assert (p["multiAz"], p["deletionProtection"], p["backupRetentionPeriod"]) == (True, True, 14)
    assert p["skipFinalSnapshot"] is False
    assert p["finalSnapshotIdentifier"] == "ai-platform-unit-mlflow-final"
    assert db.protect is True
    assert db.retain_on_delete is True
    subnets = _one(prod_like, "aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"]
    assert subnets == ["subnet-a", "subnet-b"]


def test_unprotected_database_skips_the_final_snapshot() -> None:
    plan = mlflow_plan(protect=False, database=DatabaseSettings(deletion_protection=False))
    db = _one(plan, "aws:rds/instance:Instance")
    assert db.protect is False
    assert db.inputs["skipFinalSnapshot"] is True


def test_only_the_cluster_security_group_reaches_5432(prod_like: Plan) -> None:
    sg = _one(prod_like, "aws:ec2/securityGroup:SecurityGroup").inputs
    assert not sg.get("ingress")
    rule = _one(prod_like, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").inputs
    assert (rule["fromPort"], rule["toPort"], rule["ipProtocol"]) == (5432, 5432, "tcp")
    assert rule["referencedSecurityGroupId"] == "sg-cluster"
    assert "cidrIpv4" not in rule


def test_artifact_role_is_scoped_to_the_mlflow_prefix(prod_like: Plan) -> None:
    pol = json.loads(_one(prod_like, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    stmts = {s["Sid"]: s for s in pol["Statement"]}
    assert stmts["MlflowArtifacts"]["Resource"] == ["arn:aws:s3:::ai-platform-artifacts/mlflow/*"]
    assert stmts["ListMlflowArtifacts"]["Condition"]["StringLike"]["s3:prefix"] == ["mlflow/", "mlflow/*"]
    trust = json.loads(_one(prod_like, "aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert "system:serviceaccount:mlflow:mlflow" in trust["Statement"][0]["Condition"]["StringEquals"].values()


def test_server_is_internal_authenticated_and_stores_artifacts_in_s3(prod_like: Plan) -> None:
    rel = next(r for r in prod_like.resources if r.name == "mlflow-server")
    assert (rel.inputs["chart"], rel.inputs["version"]) == (MLFLOW_CHART.chart, "1.11.5")
    v = rel.inputs["values"]
    assert v["service"]["type"] == "ClusterIP"
    assert v["ingress"] == {"enabled": False}
    assert v["auth"]["enabled"] is True
    assert v["auth"]["appName"] == "basic-auth"
    assert v["auth"]["existingAdminSecret"]["name"] == "mlflow-admin"
    assert v["artifactRoot"]["s3"] == {"enabled": True, "bucket": "ai-platform-artifacts", "path": "mlflow"}
    assert v["artifactRoot"]["proxiedArtifactStorage"] is True
    assert v["backendStore"]["postgres"]["host"].endswith(".rds.amazonaws.com")
    assert v["backendStore"]["existingDatabaseSecret"]["name"] == "mlflow-db"
    assert v["securityContext"]["readOnlyRootFilesystem"] is True
    assert v["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert v["resources"]["limits"]["memory"] == "2Gi"
    assert v["nodeSelector"] == {"platform.ai/pool": "system"}
    assert v["replicaCount"] == 2
    assert v["serviceAccount"]["automount"] is False
    assert v["serviceAccount"]["name"] == "mlflow"  # the subject the IRSA role trusts


def test_pdb_only_with_several_replicas(prod_like: Plan) -> None:
    (pdb,) = objects(prod_like, "PodDisruptionBudget").values()
    assert pdb["spec"]["selector"] == {"matchLabels": POD_LABELS}
    assert not objects(mlflow_plan(), "PodDisruptionBudget")


def test_secrets_hold_no_plaintext_in_the_plan(prod_like: Plan) -> None:
    doc = json.dumps(prod_like.public())
    assert "s3cret-admin" not in doc
    assert "offline#placeholder" not in doc


def test_network_policies_admit_clients_and_reach_only_dns_https_and_the_database(prod_like: Plan) -> None:
    pols = objects(prod_like, "NetworkPolicy")
    assert pols["default-deny"]["spec"]["policyTypes"] == ["Ingress", "Egress"]
    spec = pols["allow-mlflow"]["spec"]
    assert spec["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "arc-runners"}}}],
            "ports": [{"protocol": "TCP", "port": 5000}],
        }
    ]
    db_rule = spec["egress"][-1]
    assert db_rule == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]}


def test_client_namespaces_get_an_egress_allow_to_the_server(prod_like: Plan) -> None:
    (pol,) = [o for o in objects(prod_like, "NetworkPolicy").values() if o["metadata"]["namespace"] == "arc-runners"]
    assert pol["spec"]["policyTypes"] == ["Egress"]
    (rule,) = pol["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5000}]
    assert rule["to"][0]["podSelector"] == {"matchLabels": POD_LABELS}


def test_db_secret_data_survives_sed_configparser_and_the_url() -> None:
    """What the chart and MLflow do with the auth password: sed into an INI, configparser, then the URL
    (SQLAlchemy's make_url percent-decodes the password, as urllib does here)."""
    import configparser
    import re
    from urllib.parse import unquote, urlsplit

    password = "a#b%c&d:e/f\\g@h"
    raw, url = db_secret_data(json.dumps({"username": "mlflow", "password": password}))
    assert raw == {"username": "mlflow", "password": password}
    assert not re.search(r"[&/\\]", url["password"])  # nothing sed's replacement would interpret
    ini = "[mlflow]\ndatabase_uri = postgresql+psycopg2://$(U):$(P)@db.example:5432/mlflow\n"
    ini = ini.replace("$(U)", url["username"]).replace("$(P)", url["password"])
    parser = configparser.ConfigParser()
    parser.read_string(ini)
    parsed = urlsplit(parser["mlflow"]["database_uri"])
    assert (parsed.username, unquote(parsed.password or ""), parsed.hostname) == ("mlflow", password, "db.example")


def test_storage_ceiling_below_allocation_is_refused() -> None:
    with pytest.raises(Exception, match="max_storage_gib"):
        mlflow_plan(database=DatabaseSettings(storage_gib=50, max_storage_gib=20))
