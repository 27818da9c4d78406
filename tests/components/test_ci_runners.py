"""The CiRunners component under mocks, with stand-in cluster and registry."""

from __future__ import annotations

from typing import Any

import pytest

from blueprint.plan import Plan, is_secret
from blueprint.render import k8s_object
from components.ci_runners import KUBE_MODE_RULES, SCALE_SET_CHART, CiRunners, CiRunnersArgs
from infra.config import RUNNER_SERVICE_ACCOUNT, RunnerScaleSetSpec
from tests.components.harness import StandIns, run_program

IMAGE = "111111111111.dkr.ecr.us-west-2.amazonaws.com/ci-runner@sha256:" + "b" * 64


def spec(**over: Any) -> RunnerScaleSetSpec:
    base = {"min_runners": 0, "max_runners": 5, "gpus": 0, "cpu": "2", "memory": "4Gi", "container_mode": "kubernetes"}
    return RunnerScaleSetSpec(**{**base, **over})


def runners(scale_sets: dict[str, RunnerScaleSetSpec]) -> Plan:
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
                k8s_provider=s.k8s_provider,
                push_role=s.push_role,
                system_node_selector={"platform.ai/pool": "system"},
            ),
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


def test_kubernetes_mode_with_an_encrypted_rwo_work_volume(plan: Plan) -> None:
    mode = values(plan, "cpu")["containerMode"]
    assert mode["type"] == "kubernetes"
    claim = mode["kubernetesModeWorkVolumeClaim"]
    assert claim["accessModes"] == ["ReadWriteOnce"]
    assert claim["storageClassName"] == "gp3-encrypted"


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
    assert set(namespaces) == {"arc-systems", "arc-runners"}
    for ns in namespaces.values():
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    denies = [k8s_object(r) for r in plan.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]
    deny_ns = {d["metadata"]["namespace"] for d in denies if d and d["metadata"]["name"] == "default-deny"}
    assert deny_ns == set(namespaces)


def test_docker_in_docker_is_opt_in_and_makes_the_namespace_privileged() -> None:
    plan = runners({"dind": spec(container_mode="dind")})
    assert values(plan, "dind")["containerMode"] == {"type": "dind"}
    ns = [k8s_object(r) for r in plan.by_type("kubernetes:core/v1:Namespace")]
    labels = {n["metadata"]["name"]: n["metadata"]["labels"] for n in ns if n}
    assert labels["arc-runners"]["pod-security.kubernetes.io/enforce"] == "privileged"
