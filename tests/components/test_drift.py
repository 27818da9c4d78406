"""The DriftMonitoring component under mocks: Pushgateway values, per-model CronJobs, IAM scoping, NetworkPolicies."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from blueprint.preview.plan import Plan
from blueprint.preview.render import k8s_object
from components.drift import (
    DRIFT_JOB_LABEL,
    PUSHGATEWAY_CHART,
    PUSHGATEWAY_POD_LABELS,
    DriftJob,
    DriftMonitoring,
    DriftMonitoringArgs,
)
from tests.components.harness import REGION, StandIns, run_program

IMAGE = f"111111111111.dkr.ecr.{REGION}.amazonaws.com/drift-job@sha256:" + "b" * 64
JOBS = {
    "llm": DriftJob("drift/llm/reference/", "drift/llm/current/", "17 * * * *"),
    "embed": DriftJob("drift/embed/ref/", "logs/embed/", "@daily"),
}


def drift_plan(jobs: dict[str, DriftJob] = JOBS, **over: Any) -> Plan:
    def program() -> None:
        s = StandIns()
        args = DriftMonitoringArgs(
            artifacts_bucket=s.bucket,
            artifacts_key=s.key,
            image=IMAGE,
            jobs=jobs,
            monitoring_crds=s.crds,
        )
        DriftMonitoring("drift", replace(args, **over), s.context(tags={"owner": "ml-team"}))

    return run_program(program)


def objects(plan: Plan, kind: str) -> dict[str, dict[str, Any]]:
    out = {}
    for r in plan.resources:
        if r.type.endswith(f":{kind}"):
            o = k8s_object(r)
            if o is not None:
                out[o["metadata"]["name"]] = o
    return out


@pytest.fixture(scope="module")
def plan() -> Plan:
    return drift_plan()


def test_one_cronjob_per_model_runs_the_evaluator_and_pushes(plan: Plan) -> None:
    jobs = objects(plan, "CronJob")
    assert set(jobs) == {"drift-llm", "drift-embed"}
    spec = jobs["drift-llm"]["spec"]
    assert spec["schedule"] == "17 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == IMAGE
    args = c["args"]
    assert args[args.index("--reference") + 1] == "s3://ai-platform-artifacts/drift/llm/reference/"
    assert args[args.index("--current") + 1] == "s3://ai-platform-artifacts/drift/llm/current/"
    assert args[args.index("--model") + 1] == "llm"
    assert args[args.index("--push-gateway") + 1] == ("http://pushgateway-prometheus-pushgateway.model-drift.svc:9091")
    assert pod["serviceAccountName"] == "drift-llm"
    assert pod["nodeSelector"] == {"platform.ai/pool": "system"}


def test_job_pods_are_restricted_with_explicit_resources(plan: Plan) -> None:
    for job in objects(plan, "CronJob").values():
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (c,) = pod["containers"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert c["resources"]["requests"] == c["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
        assert job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 3600
        labels = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        assert labels[DRIFT_JOB_LABEL]
        assert labels["team"] == "ml-team"


def _role_policy(plan: Plan, model: str) -> dict[str, Any]:
    (pol,) = [
        r
        for r in plan.resources
        if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name == f"drift-{model}-role-policy"
    ]
    return json.loads(pol.inputs["policy"])


def test_each_role_reads_only_its_models_prefixes(plan: Plan) -> None:
    stmts = {s["Sid"]: s for s in _role_policy(plan, "embed")["Statement"]}
    assert stmts["ReadDriftData"]["Action"] == ["s3:GetObject"]
    assert sorted(stmts["ReadDriftData"]["Resource"]) == sorted(
        f"{arn}/{p}*" for arn in ["arn:aws:s3:::ai-platform-artifacts"] for p in ("drift/embed/ref/", "logs/embed/")
    )
    assert stmts["ListDriftData"]["Condition"]["StringLike"]["s3:prefix"] == [
        "drift/embed/ref/", "drift/embed/ref/*", "logs/embed/", "logs/embed/*",
    ]  # fmt: skip
    actions = {a for s in stmts.values() for a in s["Action"]}
    assert actions == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
    trust = json.loads(
        next(r for r in plan.resources if r.type == "aws:iam/role:Role" and r.name == "drift-embed-role").inputs[
            "assumeRolePolicy"
        ]
    )
    cond = trust["Statement"][0]["Condition"]["StringEquals"]
    assert "system:serviceaccount:model-drift:drift-embed" in cond.values()


def test_pushgateway_chart_is_pinned_persistent_and_scraped_with_honor_labels(plan: Plan) -> None:
    (rel,) = [r for r in plan.resources if r.name == "drift-pushgateway"]
    assert rel.inputs["chart"] == PUSHGATEWAY_CHART.chart
    assert rel.inputs["version"] == "3.8.0"
    values = rel.inputs["values"]
    assert values["serviceMonitor"] == {"enabled": True, "namespace": "model-drift", "honorLabels": True}
    assert values["persistentVolume"]["enabled"] is True
    assert "--persistence.file=/data/pushgateway.db" in values["extraArgs"]
    assert values["containerSecurityContext"]["readOnlyRootFilesystem"] is True
    assert values["resources"]["limits"]["memory"]
    assert values["nodeSelector"] == {"platform.ai/pool": "system"}


def test_network_policies_default_deny_and_allow_only_the_drift_flows(plan: Plan) -> None:
    pols = objects(plan, "NetworkPolicy")
    assert pols["default-deny"]["spec"] == {
        "podSelector": {},
        "ingress": [],
        "egress": [],
        "policyTypes": ["Ingress", "Egress"],
    }
    gw = pols["allow-pushgateway"]["spec"]
    assert gw["podSelector"] == {"matchLabels": PUSHGATEWAY_POD_LABELS}
    sources = [rule["from"][0] for rule in gw["ingress"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in sources
    assert all(p["port"] == 9091 for rule in gw["ingress"] for p in rule["ports"])
    jobs = pols["allow-drift-jobs"]["spec"]
    assert "ingress" not in jobs
    ports = sorted({p["port"] for rule in jobs["egress"] for p in rule["ports"]})
    assert ports == [53, 443, 9091]


def test_no_models_with_drift_still_deploys_the_pushgateway() -> None:
    plan = drift_plan(jobs={})
    assert not objects(plan, "CronJob")
    assert [r for r in plan.resources if r.name == "drift-pushgateway"]


def test_no_monitoring_means_no_service_monitor() -> None:
    plan = drift_plan(monitoring_crds=None)
    (rel,) = [r for r in plan.resources if r.name == "drift-pushgateway"]
    assert rel.inputs["values"]["serviceMonitor"]["enabled"] is False


@pytest.mark.parametrize("prefix", ["/drift/x/", "drift/*/", "drift/x"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(Exception, match="drift prefixes are key prefixes"):
        drift_plan(jobs={"m": DriftJob(prefix, "drift/cur/")})
