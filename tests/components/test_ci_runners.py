"""The CiRunners component under mocks, with stand-in cluster and registry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from blueprint.preview.plan import Plan, is_secret
from blueprint.preview.render import k8s_object
from components.ci_runners import KUBE_MODE_RULES, SCALE_SET_CHART, CiRunners, CiRunnersArgs, RunnerScaleSet
from components.vocabulary import RUNNER_SERVICE_ACCOUNT
from tests.components.harness import StandIns, run_program

IMAGE = "111111111111.dkr.ecr.us-west-2.amazonaws.com/ci-runner@sha256:" + "b" * 64


def spec(**over: Any) -> RunnerScaleSet:
    return RunnerScaleSet(**over)


def runners(scale_sets: dict[str, RunnerScaleSet]) -> Plan:
    def program() -> None:
        s = StandIns()
        CiRunners(
            "ci",
            CiRunnersArgs(
                github_config_url="https://github.com/example-org",
                github_app_id="123",
                github_app_installation_id="456",
                github_app_private_key="-----BEGIN RSA PRIVATE KEY-----",
                scale_sets=scale_sets,
                runner_image=IMAGE,
                push_role=s.push_role,
            ),
            s.context(),
        )

    return run_program(program)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return runners(
        {
            "cpu": spec(min_runners=1, max_runners=10, node_pool="build"),
            "gpu": spec(gpus=1, cpu="8", memory="32Gi", max_runners=2),
        }
    )


def values(plan: Plan, name: str) -> dict[str, Any]:
    (release,) = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("name") == name]
    assert release.inputs["chart"] == SCALE_SET_CHART.chart
    assert release.inputs["version"] == SCALE_SET_CHART.version
    return release.inputs["values"]


def test_github_app_credentials_live_in_a_secret_referenced_by_name(plan: Plan) -> None:
    (secret,) = plan.by_type("kubernetes:core/v1:Secret")
    data = secret.inputs["stringData"]
    assert is_secret(data)
    assert set(data["value"]) == {"github_app_id", "github_app_installation_id", "github_app_private_key"}
    for name in ("cpu", "gpu"):
        assert values(plan, name)["githubConfigSecret"] == "github-app"


def test_kubernetes_novolume_mode_sends_job_pods_to_the_job_namespace(plan: Plan) -> None:
    v = values(plan, "cpu")
    assert v["containerMode"] == {"type": "kubernetes-novolume"}
    (runner,) = v["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in runner["env"]}
    assert env["ACTIONS_RUNNER_KUBERNETES_NAMESPACE"] == "arc-jobs"
    assert env["ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE"] == "/home/runner/hook-template/job-pod.yaml"
    # The work directory lives in the runner container: its disk is requested, never unbounded.
    assert runner["resources"]["limits"]["ephemeral-storage"] == "20Gi"
    assert v["template"]["spec"]["volumes"] == [{"name": "hook-template", "configMap": {"name": "cpu-hook-template"}}]


def test_min_max_runners_and_runs_on_label(plan: Plan) -> None:
    v = values(plan, "cpu")
    assert (v["minRunners"], v["maxRunners"], v["runnerScaleSetName"]) == (1, 10, "cpu")


def test_gpu_runners_request_gpus_and_tolerate_the_taint(plan: Plan) -> None:
    pod = values(plan, "gpu")["template"]["spec"]
    (runner,) = pod["containers"]
    assert runner["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert runner["resources"]["requests"] == runner["resources"]["limits"]
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "platform.ai/accelerator", "operator": "In", "values": ["nvidia"]} in term["matchExpressions"]


def test_cpu_runners_stay_on_their_cpu_pool(plan: Plan) -> None:
    pod = values(plan, "cpu")["template"]["spec"]
    assert "tolerations" not in pod
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [
        {"key": "platform.ai/accelerator", "operator": "DoesNotExist"},
        {"key": "platform.ai/pool", "operator": "In", "values": ["build"]},
    ]
    assert pod["containers"][0]["image"] == IMAGE


def test_runner_service_account_maps_to_the_push_role(plan: Plan) -> None:
    push = plan.get("aws:iam/role:Role", "ci-push")
    sa = k8s_object(plan.get("kubernetes:core/v1:ServiceAccount", "ci-runner-sa"))
    assert sa is not None
    assert sa["metadata"]["name"] == RUNNER_SERVICE_ACCOUNT
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == push.outputs["arn"]
    for name in ("cpu", "gpu"):
        assert values(plan, name)["template"]["spec"]["serviceAccountName"] == RUNNER_SERVICE_ACCOUNT
    role = plan.get("kubernetes:rbac.authorization.k8s.io/v1:Role", "ci-runner-role")
    assert role.inputs["rules"] == KUBE_MODE_RULES
    # Issue 12 item 3: the hooks' Role (secrets get/list included) is bound in the job namespace only.
    assert role.inputs["metadata"]["namespace"] == "arc-jobs"
    binding = plan.get("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "ci-runner-rolebinding")
    assert binding.inputs["metadata"]["namespace"] == "arc-jobs"
    (secret,) = plan.by_type("kubernetes:core/v1:Secret")
    assert secret.inputs["metadata"]["namespace"] == "arc-runners"


def test_controller_watches_only_the_runner_namespace(plan: Plan) -> None:
    (ctrl,) = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("name") == "arc"]
    v = ctrl.inputs["values"]
    assert v["flags"]["watchSingleNamespace"] == "arc-runners"
    assert values(plan, "cpu")["controllerServiceAccount"] == {
        "namespace": ctrl.inputs["namespace"],
        "name": v["serviceAccount"]["name"],
    }
    assert v["nodeSelector"] == {"platform.ai/pool": "system"}
    assert {"requests", "limits"} <= set(v["resources"])


def test_namespaces_are_isolated_and_pod_security_is_enforced(plan: Plan) -> None:
    namespaces = {
        k["metadata"]["name"]: k for r in plan.by_type("kubernetes:core/v1:Namespace") if (k := k8s_object(r))
    }
    assert set(namespaces) == {"arc-systems", "arc-runners", "arc-jobs"}
    levels = {n: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] for n, ns in namespaces.items()}
    assert levels == {"arc-systems": "baseline", "arc-runners": "restricted", "arc-jobs": "baseline"}
    denies = [k8s_object(r) for r in plan.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]
    deny_ns = {d["metadata"]["namespace"] for d in denies if d and d["metadata"]["name"] == "default-deny"}
    assert deny_ns == set(namespaces)


def test_docker_in_docker_is_opt_in_and_makes_the_namespace_privileged() -> None:
    plan = runners({"dind": spec(container_mode="dind")})
    assert values(plan, "dind")["containerMode"] == {"type": "dind"}
    ns = [k8s_object(r) for r in plan.by_type("kubernetes:core/v1:Namespace")]
    labels = {n["metadata"]["name"]: n["metadata"]["labels"] for n in ns if n}
    assert labels["arc-runners"]["pod-security.kubernetes.io/enforce"] == "privileged"


# --------------------------------------------------------------------------- issue 11 defect 5
def test_job_pods_get_explicit_resources_instead_of_the_namespace_default(plan: Plan) -> None:
    """The job namespace's LimitRange default (500m / 1Gi) must never size a build."""
    from blueprint.preview.analyses.admission import namespace_rules
    from blueprint.preview.analyses.pod_templates import hook_job_pod, pod_templates

    (cm,) = [k8s_object(r) for r in plan.by_type("kubernetes:core/v1:ConfigMap") if r.name == "ci-cpu-hook-template"]
    assert cm is not None
    template = json.loads(cm["data"]["job-pod.yaml"])
    (job,) = template["spec"]["containers"]
    assert job["name"] == "$job"
    assert job["resources"]["limits"] == {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "50Gi"}
    assert job["resources"]["requests"] == job["resources"]["limits"]
    assert template["spec"]["automountServiceAccountToken"] is False
    pod = hook_job_pod(template)
    assert pod["containers"][0]["resources"] == job["resources"]
    jobs = [p for p in pod_templates(plan) if "job pod" in p.where]
    assert {p.namespace for p in jobs} == {"arc-jobs"}
    assert len(jobs) == 2
    assert namespace_rules(plan)["arc-jobs"].limit_ranges


def test_job_resources_are_configurable_per_scale_set() -> None:
    plan = runners({"build": spec(job_cpu="16", job_memory="64Gi", job_ephemeral_storage_gib=200)})
    (cm,) = [k8s_object(r) for r in plan.by_type("kubernetes:core/v1:ConfigMap")]
    assert cm is not None
    (job,) = json.loads(cm["data"]["job-pod.yaml"])["spec"]["containers"]
    assert job["resources"]["limits"] == {"cpu": "16", "memory": "64Gi", "ephemeral-storage": "200Gi"}


def test_gpu_scale_sets_send_job_pods_to_cpu_nodes(plan: Plan) -> None:
    (cm,) = [k8s_object(r) for r in plan.by_type("kubernetes:core/v1:ConfigMap") if r.name == "ci-gpu-hook-template"]
    assert cm is not None
    spec_ = json.loads(cm["data"]["job-pod.yaml"])["spec"]
    assert "tolerations" not in spec_
    (term,) = spec_["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "platform.ai/accelerator", "operator": "DoesNotExist"}]


def test_the_runner_group_scopes_the_scale_sets() -> None:
    def program() -> None:
        s = StandIns()
        CiRunners(
            "ci",
            CiRunnersArgs(
                github_config_url="https://github.com/example-org",
                github_app_id="1",
                github_app_installation_id="2",
                github_app_private_key="k",
                scale_sets={"cpu": spec()},
                runner_image=IMAGE,
                runner_group="ai-platform",
            ),
            s.context(),
        )

    plan = run_program(program)
    assert values(plan, "cpu")["runnerGroup"] == "ai-platform"
    sa = k8s_object(plan.get("kubernetes:core/v1:ServiceAccount", "ci-runner-sa"))
    assert sa is not None
    assert sa["metadata"]["annotations"] == {}, "no push role: no AWS identity for the runners"
