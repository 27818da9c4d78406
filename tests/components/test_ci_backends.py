"""GitLab Runner, Jenkins and the CircleCI container agent under mocks, with stand-in cluster and registry."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from blueprint.preview.plan import Plan, Resource, is_secret
from components import _ci
from components._common import Irsa
from components.circleci_agent import CHART as CIRCLECI_CHART
from components.circleci_agent import CircleciAgent, CircleciAgentArgs
from components.gitlab_runner import CHART as GITLAB_CHART
from components.gitlab_runner import GitlabRunner, GitlabRunnerArgs
from components.jenkins import CHART as JENKINS_CHART
from components.jenkins import PLUGINS, Jenkins, JenkinsArgs
from tests.components.harness import ACCOUNT, StandIns, run_program, stand_in_irsa

CHARTS = Path(__file__).parent.parent / "charts"
HELM = "kubernetes:helm.sh/v3:Release"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/ai-platform-boundary"
GPU = _ci.JobProfile(cpu="8", memory="32Gi", ephemeral_storage_gib=100, gpus=1)
CPU = _ci.JobProfile(cpu="4", memory="8Gi", ephemeral_storage_gib=50, node_selector={"platform.ai/pool": "build"})


def _irsa() -> Irsa:
    return stand_in_irsa(permissions_boundary=BOUNDARY)


def backends(push: bool = True) -> Plan:
    def program() -> None:
        s = StandIns()
        arns = [r.arn for r in s.repositories.values()] if push else []
        context = s.context(irsa=_irsa(), tags={})
        common: dict[str, Any] = {
            "push_repository_arns": arns,
            "cpu_job": CPU,
            "gpu_job": GPU,
        }
        GitlabRunner(
            "gitlab",
            GitlabRunnerArgs(
                gitlab_url="https://gitlab.com/",
                runner_token="glrt-cpu-token",
                gpu_runner_token="glrt-gpu-token",
                concurrent=7,
                gpu_concurrent=2,
                check_interval_seconds=5,
                **common,
            ),
            context,
        )
        Jenkins(
            "jenkins",
            JenkinsArgs(admin_password="jenkins-pw", max_agents=4, **common),
            dataclasses.replace(context, storage_class_name="gp3"),
        )
        CircleciAgent(
            "circleci",
            CircleciAgentArgs(
                cpu_resource_class="example-org/cpu",
                cpu_token="cc-cpu",
                gpu_resource_class="example-org/gpu",
                gpu_token="cc-gpu",
                max_concurrent_tasks=6,
                **common,
            ),
            context,
        )

    return run_program(program)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return backends()


def release(plan: Plan, name: str) -> Resource:
    (r,) = [r for r in plan.by_type(HELM) if r.inputs.get("name") == name]
    return r


def kinds(plan: Plan, kind: str, namespace: str) -> list[Resource]:
    return [
        r
        for r in plan.by_type(f"kubernetes:core/v1:{kind}")
        if (r.inputs.get("metadata") or {}).get("namespace") == namespace
    ]


# --------------------------------------------------------------------------- chart values exist at the pin
def missing_keys(values: Any, schema: Any, path: str = "") -> list[str]:
    """Key paths of ``values`` the chart's values.yaml does not have ("<object>" and {} take anything)."""
    if schema == "<object>" or schema == {} or not isinstance(values, dict):
        return []
    if not isinstance(schema, dict):
        return [f"{path}.{k}".lstrip(".") for k in values]  # the chart has a scalar here
    out = []
    for key, sub in values.items():
        if key not in schema:
            out.append(f"{path}.{key}".lstrip("."))
        else:
            out += missing_keys(sub, schema[key], f"{path}.{key}")
    return out


@pytest.mark.parametrize(
    ("release_name", "chart", "schema"),
    [
        ("gitlab-runner-cpu", GITLAB_CHART, "gitlab-runner.yaml"),
        ("gitlab-runner-gpu", GITLAB_CHART, "gitlab-runner.yaml"),
        ("jenkins", JENKINS_CHART, "jenkins.yaml"),
        ("container-agent", CIRCLECI_CHART, "container-agent.yaml"),
    ],
)
def test_every_value_set_is_a_key_of_the_pinned_chart(plan: Plan, release_name: str, chart: Any, schema: str) -> None:
    text = (CHARTS / schema).read_text()
    assert chart.version in text.splitlines()[0] or chart.version in text[:600], "re-vendor the keys for the new pin"
    r = release(plan, release_name)
    assert (r.inputs["chart"], r.inputs["version"]) == (chart.chart, chart.version)
    assert r.inputs["repositoryOpts"]["repo"] == chart.repo
    assert missing_keys(r.inputs["values"], yaml.safe_load(text)) == []


def test_the_key_check_catches_a_misspelt_key() -> None:
    schema = yaml.safe_load((CHARTS / "jenkins.yaml").read_text())
    assert missing_keys({"controller": {"adminn": {}}, "agent": {"resources": {"x": 1}}}, schema) == [
        "controller.adminn"
    ]


# --------------------------------------------------------------------------- GitLab
def runner_config(plan: Plan, kind: str) -> dict[str, Any]:
    doc = tomllib.loads(release(plan, f"gitlab-runner-{kind}").inputs["values"]["runners"]["config"])
    (runner,) = doc["runners"]
    return runner


def test_gitlab_tokens_are_secrets_referenced_by_name(plan: Plan) -> None:
    for kind in ("cpu", "gpu"):
        values = release(plan, f"gitlab-runner-{kind}").inputs["values"]
        assert values["runners"]["secret"] == f"gitlab-runner-{kind}"
        assert "runnerToken" not in values
        assert "glrt" not in json.dumps(values)
    secrets = {r.inputs["metadata"]["name"]: r for r in kinds(plan, "Secret", "gitlab-runner")}
    assert set(secrets) == {"gitlab-runner-cpu", "gitlab-runner-gpu"}
    assert all(is_secret(s.inputs["stringData"]) for s in secrets.values())


def test_gitlab_cpu_jobs_have_explicit_resources_and_stay_off_gpu_nodes(plan: Plan) -> None:
    kube = runner_config(plan, "cpu")["kubernetes"]
    assert kube["namespace"] == "gitlab-jobs"
    assert (kube["cpu_request"], kube["cpu_limit"], kube["memory_limit"]) == ("4", "4", "8Gi")
    assert kube["ephemeral_storage_limit"] == "50Gi"
    assert kube["helper_memory_limit"]
    assert kube["service_cpu_limit"]
    assert kube["node_selector"] == {"platform.ai/pool": "build"}
    terms = kube["affinity"]["node_affinity"]["required_during_scheduling_ignored_during_execution"]
    assert terms["node_selector_terms"][0]["match_expressions"][0]["operator"] == "DoesNotExist"
    assert "pod_spec" not in kube
    assert "node_tolerations" not in kube
    assert kube["privileged"] is False
    assert kube["allow_privilege_escalation"] is False


def test_gitlab_gpu_runner_requests_gpus_on_gpu_pools(plan: Plan) -> None:
    runner = runner_config(plan, "gpu")
    kube = runner["kubernetes"]
    assert runner["feature_flags"]["FF_USE_ADVANCED_POD_SPEC_CONFIGURATION"] is True
    (patch,) = kube["pod_spec"]
    (build,) = json.loads(patch["patch"])["containers"]
    assert build["name"] == "build"
    assert build["resources"]["limits"]["nvidia.com/gpu"] == build["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert kube["node_tolerations"] == {"nvidia.com/gpu": "NoSchedule"}
    assert kube["node_selector"]["platform.ai/accelerator"] == "nvidia"
    assert release(plan, "gitlab-runner-gpu").inputs["values"]["concurrent"] == 2
    assert release(plan, "gitlab-runner-cpu").inputs["values"]["checkInterval"] == 5


def test_gitlab_executor_role_lives_in_the_job_namespace_only(plan: Plan) -> None:
    roles = plan.by_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
    gitlab = [r for r in roles if r.inputs["metadata"]["name"] == "gitlab-runner-executor"]
    assert [r.inputs["metadata"]["namespace"] for r in gitlab] == ["gitlab-jobs"]
    for kind in ("cpu", "gpu"):
        assert release(plan, f"gitlab-runner-{kind}").inputs["values"]["rbac"] == {"create": False}


# --------------------------------------------------------------------------- Jenkins
def test_jenkins_admin_password_comes_from_a_secret(plan: Plan) -> None:
    values = release(plan, "jenkins").inputs["values"]
    assert values["controller"]["admin"] == {"createSecret": False, "existingSecret": "jenkins-admin"}
    (secret,) = kinds(plan, "Secret", "jenkins")
    assert is_secret(secret.inputs["stringData"])
    assert "jenkins-pw" not in json.dumps(values)


def test_jenkins_home_is_protected_and_retained(plan: Plan) -> None:
    (pvc,) = plan.by_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert pvc.protect
    assert pvc.retain_on_delete
    assert release(plan, "jenkins").inputs["values"]["persistence"]["existingClaim"] == pvc.inputs["metadata"]["name"]


def test_jenkins_is_not_exposed_and_pins_its_plugins(plan: Plan) -> None:
    ctrl = release(plan, "jenkins").inputs["values"]["controller"]
    assert ctrl["serviceType"] == "ClusterIP"
    assert ctrl["ingress"] == {"enabled": False}
    assert ctrl["installLatestPlugins"] is False
    assert ctrl["installPlugins"] == list(PLUGINS)
    assert all(":" in p and not p.endswith(":latest") for p in PLUGINS)
    assert ctrl["nodeSelector"] == {"platform.ai/pool": "system"}


def jenkins_templates(plan: Plan) -> dict[str, dict[str, Any]]:
    agent = release(plan, "jenkins").inputs["values"]["agent"]
    assert agent["namespace"] == "jenkins-agents"
    assert agent["disableDefaultAgent"] is True
    out = {}
    for name, text in agent["podTemplates"].items():
        (tmpl,) = yaml.safe_load(text)
        out[name] = tmpl
    return out


def test_jenkins_gpu_template_requests_a_gpu_on_gpu_pools(plan: Plan) -> None:
    templates = jenkins_templates(plan)
    assert {t["label"] for t in templates.values()} == {"cpu", "gpu"}
    gpu = json.loads(templates["gpu-job"]["yaml"])["spec"]
    build = next(c for c in gpu["containers"] if c["name"] == "build")
    assert build["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["tolerations"]
    cpu = json.loads(templates["cpu-build"]["yaml"])["spec"]
    assert "tolerations" not in cpu
    jnlp = next(c for c in cpu["containers"] if c["name"] == "jnlp")
    assert jnlp["securityContext"]["runAsNonRoot"] is True
    assert jnlp["resources"]["limits"]["memory"]


# --------------------------------------------------------------------------- CircleCI
def test_circleci_tokens_live_in_the_custom_secret(plan: Plan) -> None:
    values = release(plan, "container-agent").inputs["values"]["agent"]
    assert values["customSecret"] == "circleci-resource-class-tokens"
    assert all("token" not in rc for rc in values["resourceClasses"].values())
    (secret,) = kinds(plan, "Secret", "circleci")
    assert is_secret(secret.inputs["stringData"])
    assert set(secret.inputs["stringData"]["value"]) == {"example-org.cpu", "example-org.gpu"}


def test_circleci_resource_classes_have_resources_and_gpu_placement(plan: Plan) -> None:
    classes = release(plan, "container-agent").inputs["values"]["agent"]["resourceClasses"]
    gpu, cpu = classes["example-org/gpu"]["spec"], classes["example-org/cpu"]["spec"]
    assert gpu["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert gpu["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert cpu["containers"][0]["resources"]["limits"] == {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "50Gi"}
    assert cpu["automountServiceAccountToken"] is False
    assert "tolerations" not in cpu


# --------------------------------------------------------------------------- all backends
@pytest.mark.parametrize("ns", ["gitlab-runner", "gitlab-jobs", "jenkins", "jenkins-agents", "circleci"])
def test_every_namespace_is_default_deny_with_quota_and_build_sized_limits(plan: Plan, ns: str) -> None:
    policies = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in plan.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["namespace"] == ns
    }
    deny = policies["default-deny"]
    assert deny["podSelector"] == {}
    assert deny["ingress"] == []
    assert deny["egress"] == []
    assert kinds(plan, "ResourceQuota", ns)
    (lr,) = kinds(plan, "LimitRange", ns)
    default = lr.inputs["spec"]["limits"][0]["default"]
    if ns in ("gitlab-jobs", "jenkins-agents", "circleci"):
        assert default == {"cpu": "4", "memory": "8Gi"}, "builds get the CPU job profile, not 500m/1Gi"


def test_gpu_quota_matches_gpu_concurrency(plan: Plan) -> None:
    def gpus(ns: str) -> str:
        (q,) = kinds(plan, "ResourceQuota", ns)
        return q.inputs["spec"]["hard"]["requests.nvidia.com/gpu"]

    assert (gpus("gitlab-jobs"), gpus("jenkins-agents"), gpus("circleci")) == ("2", "4", "6")


def test_job_pod_templates_cover_every_profile_with_gpu_ones(plan: Plan) -> None:
    templates = {r.inputs["metadata"]["name"]: r for r in plan.by_type("kubernetes:core/v1:PodTemplate")}
    assert set(templates) == {
        "gitlab-cpu",
        "gitlab-gpu",
        "jenkins-cpu-build",
        "jenkins-gpu-job",
        "circleci-cpu",
        "circleci-gpu",
    }
    for name, t in templates.items():
        spec = t.inputs["template"]["spec"]
        gpu = any("nvidia.com/gpu" in c["resources"]["limits"] for c in spec["containers"])
        assert gpu == name.endswith(("gpu", "gpu-job")), name


def test_push_roles_trust_only_the_job_service_accounts_and_carry_the_boundary(plan: Plan) -> None:
    # "ci-push" is the stand-in registry's ARC role.
    roles = {r.name: r for r in plan.by_type("aws:iam/role:Role") if r.name != "ci-push"}
    expected = {
        "gitlab-push": "gitlab-jobs:gitlab-job",
        "jenkins-push": "jenkins-agents:jenkins-agent",
        "circleci-push": "circleci:circleci-task",
    }
    assert set(roles) == set(expected)
    for name, subject in expected.items():
        role = roles[name]
        assert role.inputs["permissionsBoundary"] == BOUNDARY
        trust = json.loads(role.inputs["assumeRolePolicy"])
        cond = trust["Statement"][0]["Condition"]["StringEquals"]
        assert f"system:serviceaccount:{subject}" in cond.values()
    policies = [json.loads(p.inputs["policy"]) for p in plan.by_type("aws:iam/rolePolicy:RolePolicy")]
    for doc in policies:
        push = next(s for s in doc["Statement"] if s["Sid"] == "PushPlatformRepositories")
        assert "*" not in push["Resource"]
        assert all(":repository/" in a for a in push["Resource"])


def test_no_push_role_without_push_to_registry() -> None:
    plan = backends(push=False)
    assert [r.name for r in plan.by_type("aws:iam/role:Role")] == ["ci-push"]
    for sa in plan.by_type("kubernetes:core/v1:ServiceAccount"):
        assert "eks.amazonaws.com/role-arn" not in (sa.inputs["metadata"].get("annotations") or {})


def test_toml_writer_round_trips_nested_tables_and_arrays() -> None:
    doc = {"a": 1, "runners": [{"name": "x", "kubernetes": {"n": 'q"s', "sel": {"k/x": "v"}}, "f": {"F": True}}]}
    assert tomllib.loads(_ci.toml(doc)) == doc
