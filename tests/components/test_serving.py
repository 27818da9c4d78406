"""The Serving component under mocks, with stand-in cluster/registry/artifacts/monitoring."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from blueprint.preview.plan import Plan
from blueprint.preview.render import k8s_object
from components.model_spec import CanarySettings, ModelAutoscaling, ModelImage, ModelSettings, WeightsSource
from components.serving import (
    KEDA_CHART,
    IngressSettings,
    Serving,
    ServingArgs,
    canary_replicas,
    mebibytes,
    millicores,
    quota_for,
    strip_prefix_transform,
)
from tests.components.harness import REGION, StandIns, run_program

DIGEST = "sha256:" + "a" * 64
SYNC_IMAGE = f"111111111111.dkr.ecr.{REGION}.amazonaws.com/ecr-public/aws-cli/aws-cli:2.31.21@{DIGEST}"


def model(name: str = "llm", **over: Any) -> ModelSettings:
    base = ModelSettings(
        name=name,
        image=ModelImage(repository="vllm", digest=DIGEST),
        args=("--model", f"/models/{name}"),
        port=8000,
        gpus=1,
        cpu="4",
        memory="16Gi",
        min_replicas=1,
        max_replicas=4,
        shm_size="4Gi",
        source=WeightsSource(s3_prefix=f"models/{name}"),
        env={"VLLM_LOGGING_LEVEL": "INFO"},
        startup_budget_seconds=1205,
        autoscaling=ModelAutoscaling(type="keda", query='sum(queue{model="$model"})', threshold=5),
        canary=None,
        weights_size_gib=15.5,
    )
    return replace(base, **over)


def serve(models: dict[str, ModelSettings], **over: Any) -> Plan:
    def program() -> None:
        s = StandIns()
        args = ServingArgs(
            namespace="serving",
            models=models,
            repositories=s.repositories,
            artifacts_bucket=s.bucket,
            artifacts_key=s.key,
            prometheus_url="http://prometheus.monitoring.svc:9090",
            monitoring_crds=s.crds,
            model_sync_image=SYNC_IMAGE,
        )
        Serving("serving", replace(args, **over), s.context(tags={}, system_node_selector={}))

    return run_program(program)


def obj(plan: Plan, kind: str, name: str) -> dict[str, Any]:
    for r in plan.resources:
        o = k8s_object(r) if r.type.endswith(f":{kind}") else None
        if o is not None and o["metadata"]["name"] == name:
            return o
    raise KeyError(f"{kind}/{name}")


@pytest.fixture(scope="module")
def canary_plan() -> Plan:
    return serve(
        {
            "llm": model(canary=CanarySettings(image=ModelImage(repository="vllm", tag="v2"), weight=20)),
            "embed": model(
                "embed",
                gpus=0,
                cpu="2",
                memory="4Gi",
                source=WeightsSource(),
                autoscaling=ModelAutoscaling(type="cpu", target_cpu_percent=60),
                image=ModelImage(repository="model-server", tag="v1"),
            ),
        }
    )


def test_gpu_model_requests_gpus_with_guaranteed_qos_and_gpu_placement(canary_plan: Plan) -> None:
    spec = obj(canary_plan, "Deployment", "llm")["spec"]["template"]["spec"]
    (server,) = spec["containers"]
    # 2 GiB /tmp + 20 GiB cache + 2 GiB writable layer + 18 GiB weights volume (15.5 GiB + 10%).
    assert server["resources"]["limits"] == {
        "cpu": "4",
        "memory": "16Gi",
        "nvidia.com/gpu": "1",
        "ephemeral-storage": "42Gi",
    }
    assert server["resources"]["requests"] == server["resources"]["limits"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "platform.ai/accelerator", "operator": "In", "values": ["nvidia"]}]
    assert "topology.kubernetes.io/zone" in [c["topologyKey"] for c in spec["topologySpreadConstraints"]]
    assert server["image"].endswith(f"/llm@{DIGEST}") or server["image"].endswith(f"/vllm@{DIGEST}")


def test_cpu_model_stays_off_gpu_nodes_and_scales_on_cpu(canary_plan: Plan) -> None:
    spec = obj(canary_plan, "Deployment", "embed")["spec"]["template"]["spec"]
    assert "tolerations" not in spec
    assert "nvidia.com/gpu" not in spec["containers"][0]["resources"]["limits"]
    hpa = obj(canary_plan, "HorizontalPodAutoscaler", "embed")["spec"]
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 4)
    assert "initContainers" not in spec  # no S3 source: weights are in the image


def test_restricted_security_context_with_writable_scratch(canary_plan: Plan) -> None:
    spec = obj(canary_plan, "Deployment", "llm")["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] >= 1000
    for c in spec["containers"] + spec["initContainers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert {"/dev/shm", "/tmp", "/cache", "/models"} <= mounts


def test_startup_budget_is_failure_threshold_times_period(canary_plan: Plan) -> None:
    (server,) = obj(canary_plan, "Deployment", "llm")["spec"]["template"]["spec"]["containers"]
    probe = server["startupProbe"]
    assert probe["failureThreshold"] * probe["periodSeconds"] >= 1205
    assert probe["failureThreshold"] * probe["periodSeconds"] < 1205 + probe["periodSeconds"]
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[kind]["httpGet"] == {"path": "/health", "port": "http"}


def test_init_container_syncs_only_the_models_prefix_with_the_pinned_cli(canary_plan: Plan) -> None:
    spec = obj(canary_plan, "Deployment", "llm")["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert init["image"] == SYNC_IMAGE
    assert init["args"][:4] == ["s3", "sync", "s3://ai-platform-artifacts/models/llm/", "/models/llm"]
    assert spec["serviceAccountName"] == "llm"


def test_model_role_reads_only_its_prefix_and_decrypts_through_s3(canary_plan: Plan) -> None:
    role = canary_plan.get("aws:iam/role:Role", "serving-llm-role")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:serving:llm" in trust["Condition"]["StringEquals"].values()
    stmts = json.loads(canary_plan.get("aws:iam/rolePolicy:RolePolicy", "serving-llm-role-policy").inputs["policy"])[
        "Statement"
    ]
    by_sid = {s["Sid"]: s for s in stmts}
    assert by_sid["ReadModel"]["Action"] == ["s3:GetObject"]
    assert by_sid["ReadModel"]["Resource"] == ["arn:aws:s3:::ai-platform-artifacts/models/llm/*"]
    assert by_sid["ListModel"]["Condition"] == {"StringLike": {"s3:prefix": ["models/llm/", "models/llm/*"]}}
    assert by_sid["DecryptViaS3"]["Action"] == ["kms:Decrypt"]
    assert by_sid["DecryptViaS3"]["Condition"]["StringEquals"]["kms:ViaService"] == f"s3.{REGION}.amazonaws.com"
    sa = obj(canary_plan, "ServiceAccount", "llm")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    # No S3 source, no role.
    assert "eks.amazonaws.com/role-arn" not in obj(canary_plan, "ServiceAccount", "embed")["metadata"].get(
        "annotations", {}
    )


def test_canary_gets_its_own_track_and_weighted_alb_action(canary_plan: Plan) -> None:
    primary, canary = obj(canary_plan, "Deployment", "llm"), obj(canary_plan, "Deployment", "llm-canary")
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"].endswith("/vllm:v2")
    assert primary["spec"]["selector"]["matchLabels"] != canary["spec"]["selector"]["matchLabels"]
    assert obj(canary_plan, "Service", "llm-canary")["spec"]["selector"] == canary["spec"]["selector"]["matchLabels"]
    ingress = obj(canary_plan, "Ingress", "models")
    notes = ingress["metadata"]["annotations"]
    action = json.loads(notes["alb.ingress.kubernetes.io/actions.llm"])
    assert action["type"] == "forward"
    assert action["forwardConfig"]["targetGroups"] == [
        {"serviceName": "llm", "servicePort": "http", "weight": 80},
        {"serviceName": "llm-canary", "servicePort": "http", "weight": 20},
    ]
    assert notes["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert notes["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert notes["alb.ingress.kubernetes.io/inbound-cidrs"] == "10.0.0.0/16"
    assert ingress["spec"]["ingressClassName"] == "alb"
    paths = {p["path"]: p["backend"]["service"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/llm"] == {"name": "llm", "port": {"name": "use-annotation"}}
    # Canary bounds: at least one replica, at most its share of maxReplicas.
    assert obj(canary_plan, "ScaledObject", "llm-canary")["spec"]["maxReplicaCount"] == 1
    assert obj(canary_plan, "PodDisruptionBudget", "llm-canary")["spec"]["maxUnavailable"] == 1


def test_keda_scaled_object_queries_prometheus_for_this_model(canary_plan: Plan) -> None:
    so = obj(canary_plan, "ScaledObject", "llm")["spec"]
    (trigger,) = so["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"] == {
        "serverAddress": "http://prometheus.monitoring.svc:9090",
        "query": 'sum(queue{model="llm"})',
        "threshold": "5",
    }
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (1, 4)
    (keda,) = [r for r in canary_plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "keda"]
    assert keda.inputs["version"] == KEDA_CHART.version
    scaled = canary_plan.get("kubernetes:keda.sh/v1alpha1:ScaledObject", "serving-llm-scaledobject")
    assert keda.urn in scaled.dependencies


def test_service_monitors_wait_for_the_prometheus_crds(canary_plan: Plan) -> None:
    crds = canary_plan.get("kubernetes:helm.sh/v3:Release", "crds")
    sm = canary_plan.get("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "serving-llm-servicemonitor")
    assert crds.urn in sm.dependencies
    assert sm.inputs["spec"]["endpoints"][0]["path"] == "/metrics"


def test_namespace_is_restricted_with_quota_and_default_deny(canary_plan: Plan) -> None:
    ns = obj(canary_plan, "Namespace", "serving")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    deny = obj(canary_plan, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "ingress": [], "egress": [], "policyTypes": ["Ingress", "Egress"]}
    allow = obj(canary_plan, "NetworkPolicy", "allow-llm")["spec"]
    sources = [(r["from"][0], r["ports"][0]["port"]) for r in allow["ingress"]]
    assert ({"ipBlock": {"cidr": "10.0.0.0/16"}}, 8000) in sources
    assert ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}, 8000) in sources
    egress = obj(canary_plan, "NetworkPolicy", "allow-dns-and-https")["spec"]["egress"]
    assert {p["port"] for rule in egress for p in rule["ports"]} == {53, 443}
    quota = obj(canary_plan, "ResourceQuota", "serving-quota")["spec"]["hard"]
    # llm: 4 + 1 surge, canary: 1 + 1 surge -> 7 GPUs; embed has none.
    assert quota["requests.nvidia.com/gpu"] == "7"
    assert obj(canary_plan, "LimitRange", "serving-limits")["spec"]["limits"][0]["type"] == "Container"


def test_internet_facing_alb_uses_https_with_redirect() -> None:
    cert = "arn:aws:acm:us-west-2:111111111111:certificate/abc"
    plan = serve(
        {"llm": model()},
        ingress=IngressSettings(scheme="internet-facing", certificate_arn=cert, inbound_cidrs=("203.0.113.0/24",)),
    )
    notes = obj(plan, "Ingress", "models")["metadata"]["annotations"]
    assert notes["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert notes["alb.ingress.kubernetes.io/certificate-arn"] == cert
    assert json.loads(notes["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert notes["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert notes["alb.ingress.kubernetes.io/inbound-cidrs"] == "203.0.113.0/24"


def test_pvc_source_mounts_an_encrypted_volume() -> None:
    plan = serve({"llm": model(source=WeightsSource(pvc_size_gib=100), max_replicas=1)})
    pvc = obj(plan, "PersistentVolumeClaim", "llm-models")["spec"]
    assert pvc["storageClassName"] == "gp3-encrypted"
    assert pvc["resources"]["requests"]["storage"] == "100Gi"
    spec = obj(plan, "Deployment", "llm")["spec"]["template"]["spec"]
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "llm-models"}} in spec["volumes"]
    assert not plan.by_type("aws:iam/role:Role")[1:]  # only the stand-in push role; no model role


def test_scale_to_zero_is_refused_unless_allowed() -> None:
    with pytest.raises(Exception, match="minReplicas 0"):
        serve({"llm": model(min_replicas=0)})
    plan = serve({"llm": model(min_replicas=0)}, allow_scale_to_zero=True)
    assert obj(plan, "ScaledObject", "llm")["spec"]["minReplicaCount"] == 0


def test_quantities_and_quota_arithmetic() -> None:
    assert millicores("4") == 4000
    assert millicores("500m") == 500
    assert mebibytes("16Gi") == 16384
    assert mebibytes("512Mi") == 512
    m = model(canary=CanarySettings(image=ModelImage(repository="vllm", tag="v2"), weight=30), max_replicas=10)
    assert canary_replicas(m) == (1, 3)
    q = quota_for({"m": m}, "1", "2Gi")
    assert q["requests.nvidia.com/gpu"] == str(11 + 4)
    assert q["limits.cpu"] == f"{15 * 4000}m"


def test_prefix_rewrite_strips_only_the_model_prefix() -> None:
    (rule,) = json.loads(strip_prefix_transform("llama-3-8b"))[0]["urlRewriteConfig"]["rewrites"]
    regex = re.compile(rule["regex"])
    for path, want in (("/llama-3-8b/v1/completions", "/v1/completions"), ("/llama-3-8b", "/")):
        assert regex.sub(rule["replace"].replace("$2", r"\2"), path) == want
    assert not regex.match("/llama-3-8bx/v1")


# --------------------------------------------------------------------------- issue 11: admission, storage, rollout
def test_every_model_pod_passes_admission_init_containers_and_cpu_models_included(canary_plan: Plan) -> None:
    """Defect 1: a GPU `max` without a default handed 8 GPUs to fetch-model and to CPU-only models."""
    from blueprint.preview.analyses.admission import analyse

    result = analyse(canary_plan, Path("."))
    assert [f.line() for f in result.findings] == []
    assert result.checked["pod templates"] == 3  # llm, llm-canary, embed
    for item in obj(canary_plan, "LimitRange", "serving-limits")["spec"]["limits"]:
        if item["type"] == "Container":
            assert not set(item.get("max", {})) - set(item.get("default", {})), "a max without a default"


def test_weights_volume_and_ephemeral_storage_are_sized_from_the_model(canary_plan: Plan) -> None:
    """Defect 10 and issue 12 item 8: no emptyDir without sizeLimit; pods request the disk they fill."""
    spec = obj(canary_plan, "Deployment", "llm")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["models"]["emptyDir"] == {"sizeLimit": "18Gi"}  # 15.5 GiB weights + 10%
    assert all("sizeLimit" in v["emptyDir"] for v in spec["volumes"] if "emptyDir" in v)
    (server,) = spec["containers"]
    disk = sum(
        int(v["emptyDir"]["sizeLimit"][:-2])
        for v in spec["volumes"]
        if "medium" not in v.get("emptyDir", {"medium": 1})
    )
    assert int(server["resources"]["requests"]["ephemeral-storage"][:-2]) >= disk


def test_an_s3_model_without_a_weights_size_is_refused() -> None:
    with pytest.raises(Exception, match="weights_size_gib"):
        serve({"llm": model(weights_size_gib=None)})


def test_gpu_models_roll_in_place_and_cpu_models_surge(canary_plan: Plan) -> None:
    """Defect 7: maxSurge 1 on one-GPU nodes needs a new GPU node for every rollout."""
    gpu = obj(canary_plan, "Deployment", "llm")["spec"]["strategy"]["rollingUpdate"]
    assert gpu == {"maxSurge": 0, "maxUnavailable": 1}
    plan = serve({"llm": model(rollout="surge")})
    assert obj(plan, "Deployment", "llm")["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_rollout_timeout_covers_a_node_an_image_pull_the_weights_and_the_startup_budget(canary_plan: Plan) -> None:
    """Defect 7: the provider's default 10-minute Deployment await is shorter than one cold GPU start."""
    from components.serving import ROLLOUT_TIMEOUT_CAP_SECONDS, TIMEOUT_ANNOTATION

    meta = obj(canary_plan, "Deployment", "llm")["metadata"]
    timeout = int(meta["annotations"][TIMEOUT_ANNOTATION])
    assert TIMEOUT_ANNOTATION == "pulumi.com/timeoutSeconds"
    # Unknown pools: the slowest node path, then four replicas each waiting out the explicit 1205 s probe.
    assert timeout == min(ROLLOUT_TIMEOUT_CAP_SECONDS, max(timeout, 600 + 1205 * 4))
    assert timeout >= min(ROLLOUT_TIMEOUT_CAP_SECONDS, 600 + 1205 * 4)


def test_without_an_override_the_probe_and_the_await_follow_the_cold_start_estimate() -> None:
    from components import cold_start as cs
    from components.serving import PROBE_PERIOD_SECONDS, TIMEOUT_ANNOTATION

    fast = cs.NodePath("gpu-a10g", "g5", "karpenter", "lazy")
    slow = cs.NodePath("gpu-p4", "p4d", "cluster-autoscaler", "plain")
    streamed = model(startup_budget_seconds=None, weights_load="stream", image_size_gib=9.5, weights_size_gib=16)
    waits = {}
    for nodes in ([fast], [fast, slow]):
        dep = obj(serve({"llm": streamed}, gpu_nodes=nodes), "Deployment", "llm")
        (server,) = dep["spec"]["template"]["spec"]["containers"]
        probe = server["startupProbe"]
        inputs = cs.ColdStartInputs(9.5, 16, "streaming", None)
        expected = cs.startup_budget_seconds(cs.estimate(inputs), PROBE_PERIOD_SECONDS)
        assert probe["failureThreshold"] * probe["periodSeconds"] == expected
        assert expected >= cs.PROBE_MARGIN * (16 * cs.STREAM_S_PER_GIB.seconds + cs.SERVER_INIT.seconds)
        waits[len(nodes)] = int(dep["metadata"]["annotations"][TIMEOUT_ANNOTATION])
        rollout = cs.rollout_seconds(inputs, nodes, streamed.max_replicas)
        assert waits[len(nodes)] == math.ceil(cs.TIMEOUT_MARGIN * rollout)
    # The slowest GPU pool sets the await: a p4d pool scaled by the cluster-autoscaler with a plain pull.
    assert waits[2] > waits[1]
    # Copying the weights first makes the await longer than streaming them.
    copied = obj(serve({"llm": replace(streamed, weights_load="copy")}, gpu_nodes=[fast]), "Deployment", "llm")
    assert int(copied["metadata"]["annotations"][TIMEOUT_ANNOTATION]) > waits[1]


def test_a_model_not_yet_deployable_gets_its_identity_but_no_workload() -> None:
    """Defect 7: `deploy: false` until the image and the weights exist (first `up`)."""
    plan = serve({"llm": model(deploy=False), "embed": model("embed", gpus=0, source=WeightsSource())})
    names = {(r.type.rsplit(":", 1)[-1], r.name) for r in plan.resources}
    assert ("ServiceAccount", "serving-llm-sa") in names
    assert not any(kind == "Deployment" and "llm" in n for kind, n in names)
    paths = [p["path"] for p in obj(plan, "Ingress", "models")["spec"]["rules"][0]["http"]["paths"]]
    assert paths == ["/embed"]
    assert not serve({"llm": model(deploy=False)}).by_type("kubernetes:networking.k8s.io/v1:Ingress")


def test_a_streamed_model_uses_the_run_ai_streamer_flags_vllm_0_11_reads() -> None:
    """The flags and variables vLLM v0.11.0 reads (components/serving.py ``streamer_env`` cites the files):
    the S3 URI as the model, ``--load-format runai_streamer`` last (argparse: the last one wins), the
    streamer's concurrency and memory limit as integers (bytes), and no IMDS wait under IRSA."""
    m = model(weights_load="stream", memory="16Gi")
    dep = obj(serve({"llm": m}), "Deployment", "llm")
    spec = dep["spec"]["template"]["spec"]
    (server,) = spec["containers"]
    args, env = server["args"], {e["name"]: e["value"] for e in server["env"]}
    assert args[args.index("--model") + 1] == "s3://ai-platform-artifacts/models/llm"
    assert args[-2:] == ["--load-format", "runai_streamer"]
    assert args.count("--load-format") == 1
    assert "initContainers" not in spec
    assert "/models" not in {v["mountPath"] for v in server["volumeMounts"]}
    assert int(env["RUNAI_STREAMER_CONCURRENCY"]) > 0
    assert int(env["RUNAI_STREAMER_MEMORY_LIMIT"]) == 16 * 2**30 // 4
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_REGION"] == REGION
    # Config and tokenizer files land under $XDG_CACHE_HOME/vllm/assets: a writable mount.
    mounts = {v["mountPath"]: v for v in server["volumeMounts"]}
    assert env["XDG_CACHE_HOME"] in mounts
    assert not mounts[env["XDG_CACHE_HOME"]].get("readOnly")
