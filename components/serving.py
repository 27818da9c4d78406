"""Serving: the models the platform serves, their autoscaling, A/B canaries and the ALB in front.

Provisions:
- the serving namespace with Pod Security Admission ``restricted`` enforced, a ResourceQuota sized
  from the models' maximum footprint (GPUs included) and a LimitRange for anything else;
- a default-deny NetworkPolicy (ingress and egress) plus allows: the ALB (target type ``ip``, so
  traffic comes from the VPC CIDR) to each model's port, Prometheus (monitoring namespace) to the
  metrics port, egress to CoreDNS and to HTTPS (S3/STS through the VPC endpoints);
- KEDA from its pinned chart (own namespace, restricted, default-deny ingress) when a model scales
  on a Prometheus query;
- per model: a ServiceAccount with an IRSA role that may only read its own S3 prefix and decrypt
  with the artifact key; and, once the model is deployable (``deploy``, default true), a Deployment
  (GPU limits, Guaranteed QoS, memory-backed ``/dev/shm``, an init container that copies the weights
  from S3 into an emptyDir sized from ``weights_size_gib`` or a PVC cache, ephemeral storage
  requested for every emptyDir, startup/readiness/liveness probes, the restricted securityContext
  with a read-only root filesystem, zone spread, GPU tolerations and affinity, a ``replace`` or
  ``surge`` rollout, and a rollout timeout derived from the startup budget); a Service; a PDB; a CPU
  HPA or a KEDA ScaledObject; a ServiceMonitor;
- per canary: a second Deployment, Service, PDB and autoscaler (``<model>-canary``);
- one Ingress (class ``alb``) whose per-model forward action splits traffic between the primary's
  and the canary's target groups by weight (ALB weighted target groups).

Outputs: ``namespace`` (name), ``ingress`` (resource), ``model_roles`` (model -> IAM role).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _contracts, _k8s, _lineage, cold_start
from components._common import Irsa, irsa_role, policy_json
from components._helm import Chart, helm_release
from components.model_spec import ModelSettings as Model  # the serving component's own settings type
from components.model_spec import served_model_name
from components.vocabulary import GPU_RESOURCE

# Objects are written as camelCase dicts (the wire form, as --render-k8s shows them); the SDK's
# TypedDicts spell keys in snake_case, so constructor calls go through an untyped alias.
_K8S: Any = k8s

# kedacore/charts tag v2.20.2 (keda/Chart.yaml version and appVersion 2.20.2).
KEDA_CHART = Chart(chart="keda", version="2.20.2", repo="https://kedacore.github.io/charts")

# KEDA 2.20.2 pods and ports (kedacore/charts v2.20.2: keda/templates/manager/deployment.yaml,
# metrics-server/deployment.yaml, webhooks/deployment.yaml; values.yaml `service.portHttpsTarget`,
# `prometheus.*.port`). The metrics apiserver asks the operator for every external metric over
# gRPC on 9666 (manager/service.yaml `metricsservice`), pod to pod inside the namespace.
KEDA_NAMESPACE = "keda"
KEDA_OPERATOR = {"app": "keda-operator"}
KEDA_METRICS_APISERVER = {"app": "keda-operator-metrics-apiserver"}
KEDA_WEBHOOKS = {"app": "keda-admission-webhooks"}
KEDA_OPERATOR_GRPC_PORT = 9666
KEDA_METRICS_APISERVER_PORT = 6443
KEDA_WEBHOOK_PORT = 9443
KEDA_PROMETHEUS_PORT = 8080

# vLLM's metric contract (vllm v0.11 vllm/v1/metrics/loggers.py, PrometheusStatLogger: every series has
# labelnames ["model_name", "engine"], model_name = the served model name, which defaults to the
# `--model` value; https://docs.vllm.ai/en/latest/design/metrics.html). prometheus_client adds
# `_total` to counters and `_bucket`/`_sum`/`_count` to histograms. The HTTP series come from
# prometheus-fastapi-instrumentator (status codes grouped as 2xx/4xx/5xx).
_VLLM_LABELS = ("model_name", "engine")
_VLLM_GAUGES = ("num_requests_running", "num_requests_waiting", "kv_cache_usage_perc", "gpu_cache_usage_perc")
_VLLM_COUNTERS = ("prompt_tokens", "generation_tokens", "num_preemptions", "prefix_cache_queries", "prefix_cache_hits")
_VLLM_HISTOGRAMS = (
    "time_to_first_token_seconds",
    "time_per_output_token_seconds",
    "e2e_request_latency_seconds",
    "request_queue_time_seconds",
    "request_inference_time_seconds",
    "request_prefill_time_seconds",
    "request_decode_time_seconds",
    "request_prompt_tokens",
    "request_generation_tokens",
)


def vllm_metrics() -> dict[str, tuple[str, ...]]:
    """vLLM's built-in contract: metric name -> labels, as the server emits them."""
    engine, http = _vllm_groups()
    return {**{k: (*_VLLM_LABELS, *v) for k, v in engine.items()}, **http}


def _vllm_groups() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(engine series -> labels besides model_name and engine, HTTP series -> labels)."""
    engine: dict[str, tuple[str, ...]] = {f"vllm:{g}": () for g in _VLLM_GAUGES}
    engine.update({f"vllm:{c}_total": () for c in _VLLM_COUNTERS})
    engine["vllm:request_success_total"] = ("finished_reason",)
    for h in _VLLM_HISTOGRAMS:
        engine.update({f"vllm:{h}_sum": (), f"vllm:{h}_count": (), f"vllm:{h}_bucket": ("le",)})
    return engine, {"http_requests_total": ("handler", "method", "status")}


def scaling_query(query: str, mname: str, track: Track) -> str:
    """The KEDA query of one track: ``$model`` is the model key, ``$track`` ``primary`` or ``canary``.

    With ``platform_ai_track="$track"`` each track scales on its own load: a canary taking 10% of the
    traffic must not scale to the primary's size.
    """
    return query.replace("$model", mname).replace("$track", track)


def server_args(mname: str, m: Model) -> list[str]:
    """The server's args: for vLLM, ``--served-model-name <key>`` so its ``model_name`` label is the model key."""
    args = list(m.args)
    if m.server == "vllm" and served_model_name(m) is None:
        args += ["--served-model-name", mname]
    return args


# Labels the serving ServiceMonitor adds to every series it scrapes (targetLabels, relabelings).
SCRAPE_LABELS = ("model", "platform_ai_model", "platform_ai_track")


def model_series(mname: str, m: Model, namespace: str) -> list[_contracts.Series]:
    """The metric contract of each of a model's workloads (primary, canary): the server's series plus scrape labels."""
    groups: list[tuple[str, dict[str, tuple[str, ...]], tuple[str, ...]]]
    values: dict[str, list[str]] = {"model": [mname]}
    if m.server == "vllm":
        engine, http = _vllm_groups()
        groups = [("vLLM engine", engine, _VLLM_LABELS), ("vLLM HTTP", http, ())]
        values["model_name"] = [served_model_name(m) or mname]
    else:
        groups = [(m.server, {k: tuple(v) for k, v in m.metrics.items()}, ())]
    tracks = [(mname, "primary")] + ([(f"{mname}-canary", "canary")] if m.canary else [])
    return [
        _contracts.Series(
            producer=f"{what} of model {obj}",
            metrics=metrics,
            labels=(*common, *SCRAPE_LABELS),
            values={
                **{k: v for k, v in values.items() if k in common or k in SCRAPE_LABELS},
                "platform_ai_track": [track],
            },
            workload={"namespace": namespace, "kind": "Deployment", "name": obj},
        )
        for obj, track in tracks
        for what, metrics, common in groups
    ]


def serving_contracts(args: ServingArgs) -> dict[str, Any]:
    """The flows the models and KEDA need, and the models' metric contracts (see components/_contracts.py)."""
    ns, vpc = args.namespace, _contracts.cidr(args.vpc_cidr)
    flows: list[_contracts.Flow] = [*_contracts.dns(ns, what="models")]
    metrics: list[_contracts.Series] = []
    for mname, m in args.models.items():
        model_pods = _contracts.pods(ns, {"platform.ai/model": mname})
        flows += [
            _contracts.Flow(f"ALB -> model {mname}", vpc, model_pods, m.port, port_name="http"),
            # The S3 gateway endpoint routes to S3's public addresses; STS is an interface endpoint in the VPC.
            _contracts.Flow(f"model {mname} -> S3", model_pods, _contracts.cidr(_contracts.INTERNET), 443),
            _contracts.Flow(f"model {mname} -> STS endpoint", model_pods, vpc, 443),
        ]
        metrics += model_series(mname, m, ns)
    if any(m.autoscaling.type == "keda" for m in args.models.values()):
        flows += keda_flows(args)
    return _contracts.declare(flows=flows, metrics=metrics)


def keda_flows(args: ServingArgs) -> list[_contracts.Flow]:
    """KEDA's own flows, from the chart's labels and ports at 2.20.2 (see the constants above)."""
    src = "kedacore/charts v2.20.2 keda/templates"
    op = _contracts.pods(KEDA_NAMESPACE, KEDA_OPERATOR)
    mas = _contracts.pods(KEDA_NAMESPACE, KEDA_METRICS_APISERVER)
    hooks = _contracts.pods(KEDA_NAMESPACE, KEDA_WEBHOOKS)
    api, prom, flow = _contracts.cidr(args.vpc_cidr), _contracts.ref("prometheus"), _contracts.Flow
    return [
        *_contracts.dns(KEDA_NAMESPACE, what="KEDA"),
        flow(
            "API server -> KEDA metrics apiserver (external.metrics.k8s.io)",
            api,
            mas,
            6443,
            port_name="https",
            source=src,
        ),
        flow("API server -> KEDA admission webhooks", api, hooks, KEDA_WEBHOOK_PORT, port_name="http", source=src),
        flow(
            "KEDA metrics apiserver -> operator gRPC",
            mas,
            op,
            KEDA_OPERATOR_GRPC_PORT,
            port_name="metricsservice",
            source=src,
        ),
        flow("KEDA operator -> Prometheus (prometheus scaler)", op, prom, 9090, port_name="http-web"),
        flow("KEDA operator -> API server", op, api, 443),
        flow("Prometheus -> KEDA operator metrics", prom, op, KEDA_PROMETHEUS_PORT, port_name="metrics", source=src),
        flow(
            "Prometheus -> KEDA metrics apiserver metrics",
            prom,
            mas,
            KEDA_PROMETHEUS_PORT,
            port_name="metrics",
            source=src,
        ),
    ]


# Non-root UID the model servers run as (restricted PSA needs a non-zero UID; vLLM's image
# runs fine as any UID when HOME and the caches point at writable emptyDirs).
MODEL_UID = 1000
MODELS_DIR = "/models"
PROBE_PERIOD_SECONDS = 10
# ALB deregistration is asynchronous: keep serving while the target drains
# (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/pod_readiness_gate/).
PRESTOP_SLEEP_SECONDS = 15
# Scratch volumes of every model pod, and headroom for its writable layer and logs (GiB).
TMP_GIB, CACHE_GIB, WRITABLE_GIB = 2, 20, 2
# The Pulumi Kubernetes provider waits this long for a Deployment rollout instead of its 10-minute
# default (pulumi-kubernetes provider/pkg/metadata/annotations.go AnnotationTimeoutSeconds; a
# customTimeouts resource option would win over it, overrides.go TimeoutDuration).
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
# ...but never longer than the deploy job can wait: deploy.yml's jobs stop after 120 minutes, and a job
# killed mid-`up` leaves the DIY backend's lock behind (docs/operations.md, "Stale locks"). When Pulumi
# stops waiting, Kubernetes keeps rolling out; the next `up` (or `pulumi refresh`) sees the result.
# tests/delivery keeps this under every deploy job's timeout.
ROLLOUT_TIMEOUT_CAP_SECONDS = 90 * 60
# Warm GPU spares (``warmSpares``): their PriorityClass and the label naming the model they stand in for.
SPARE_PRIORITY_CLASS = "platform-warm-spare"
SPARE_LABEL = "platform.ai/warm-spare-for"

Track = Literal["primary", "canary"]
# The placeholder pods of warmSpares carry this track: they select as no model track does.
SPARE_TRACK = "warm-spare"


@dataclass(frozen=True)
class IngressSettings:
    """The ALB in front of the models."""

    scheme: Literal["internal", "internet-facing"] = "internal"
    """``internal`` (default) or ``internet-facing`` (needs ``certificate_arn``)."""
    certificate_arn: str | None = None
    """ACM certificate: adds an HTTPS listener, TLS 1.3 policy and an HTTP->HTTPS redirect."""
    inbound_cidrs: Sequence[str] = ()
    """Client CIDRs allowed by the ALB's security group; empty means the VPC CIDR."""
    group_name: str = "serving"
    """ALB IngressGroup: Ingresses in one group share one ALB."""


@dataclass(frozen=True)
class ServingArgs:
    """Inputs of :class:`Serving`."""

    namespace: str
    """Namespace of the models."""
    models: Mapping[str, Model]
    """Resolved models (``cfg.resolved_models()``)."""
    repositories: Mapping[str, aws.ecr.Repository]
    """The platform's ECR repositories by name; model images must come from these."""
    artifacts_bucket: aws.s3.Bucket
    """Bucket holding the model weights."""
    artifacts_key: aws.kms.Key
    """KMS key of the bucket (model roles may decrypt with it through S3 only)."""
    irsa: Irsa
    """The cluster's OIDC provider, for the per-model IRSA roles."""
    k8s_provider: pulumi.ProviderResource
    """The cluster's explicit Kubernetes provider."""
    region: str
    """AWS region (the KMS ``ViaService`` condition and the AWS CLI)."""
    vpc_cidr: str
    """VPC CIDR: the ALB reaches pods directly (target type ``ip``) from it."""
    prometheus_url: str
    """In-cluster Prometheus URL KEDA queries."""
    monitoring_crds: pulumi.Resource | None = None
    """The prometheus-operator CRDs release; ServiceMonitors wait for it. None skips ServiceMonitors."""
    monitoring_namespace: str = "monitoring"
    """Namespace of Prometheus (allowed to scrape the models)."""
    model_sync_image: str | None = None
    """AWS CLI image (by digest) of the init container that copies weights from S3."""
    storage_class_name: str = "gp3-encrypted"
    """StorageClass of PVC model caches (encrypted gp3)."""
    allow_scale_to_zero: bool = False
    """Allow ``min_replicas: 0`` (KEDA only). Off by default: a cold GPU start takes minutes."""
    ingress: IngressSettings = field(default_factory=IngressSettings)
    """ALB settings."""
    ingress_controller: pulumi.Resource | None = None
    """The AWS Load Balancer Controller release; the Ingress waits for its webhooks."""
    system_node_selector: Mapping[str, str] = field(default_factory=dict)
    """Node selector of the system pool (KEDA runs there)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """The node pools and CoreDNS: the KEDA release's pods need nodes before it can be ready."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for the IAM roles."""
    gpu_nodes: Sequence[cold_start.NodePath] = ()
    """The stack's GPU pools as cold-start node paths; the deploy await covers the slowest. Empty: the
    slowest path there is (cluster-autoscaler, 8-GPU host, plain pull)."""


# --------------------------------------------------------------------------- pure helpers
_QTY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?$")
_BYTES = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def millicores(q: str) -> int:
    """CPU quantity in millicores (``"4"`` -> 4000, ``"500m"`` -> 500)."""
    m = _QTY.match(q)
    if not m or m.group(2) not in (None, "m"):
        raise ValueError(f"not a CPU quantity: {q!r}")
    return int(float(m.group(1)) * (1 if m.group(2) == "m" else 1000))


def mebibytes(q: str) -> int:
    """Memory quantity in MiB, rounded up (``"16Gi"`` -> 16384)."""
    m = _QTY.match(q)
    if not m or m.group(2) == "m":
        raise ValueError(f"not a memory quantity: {q!r}")
    return math.ceil(float(m.group(1)) * _BYTES[m.group(2)] / 2**20)


def models_volume_gib(model: Model) -> int:
    """``sizeLimit`` of the ``models`` emptyDir: the weights plus 10% (partial downloads, index files)."""
    return math.ceil((model.weights_size_gib or 0) * 1.1) if copies_weights(model) else 0


def copies_weights(model: Model) -> bool:
    """Whether an init container copies the weights from S3 before the server starts."""
    return bool(model.source.s3_prefix) and model.weights_load == "copy"


def streaming_args(mname: str, m: Model, bucket: str) -> list[str]:
    """Server args reading the weights from ``s3://`` (``--model /models/<name>`` becomes the S3 URI)."""
    uri = f"s3://{bucket}/{prefix_of(m).rstrip('/')}"
    local = f"{MODELS_DIR}/{mname}"
    out = [uri if a.rstrip("/") == local else a for a in server_args(mname, m)]
    if uri not in out:
        out = ["--model", uri, *out]
    return [*out, "--load-format", "runai_streamer"]


def streamer_env(region: str, m: Model) -> dict[str, str]:
    """Run:ai Model Streamer settings (run-ai/runai-model-streamer docs/src/env-vars.md).

    Credentials come from IRSA; IMDS is unreachable from pods (hop limit 1), so the SDK must not wait
    for it. The CPU staging buffer is capped at a quarter of the pod's memory so streaming a large
    model cannot OOM-kill the server.

    Checked against vLLM v0.11.0: vllm/model_executor/model_loader/runai_streamer_loader.py turns
    ``--model-loader-extra-config`` ``concurrency``/``memory_limit`` (ints) into exactly these two
    variables, so setting them here is the same as the flag; ``memory_limit`` is in bytes. The model
    is streamed when ``--model`` is an ``s3://`` URI (vllm/transformers_utils/runai_utils.py
    ``is_runai_obj_uri``) and ``--load-format runai_streamer`` (vllm/config/load.py). Config and
    tokenizer files are pulled into ``$XDG_CACHE_HOME/vllm/assets/model_streamer`` (runai_utils.py
    ``ObjectStorageModel``): the writable ``cache`` emptyDir. The S3 lister adds the trailing ``/`` to
    the prefix (runai_model_streamer_s3/files/files.py ``list_files``), which the model role's
    ``s3:prefix`` condition requires.
    """
    return {
        "AWS_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "RUNAI_STREAMER_CONCURRENCY": "16",
        "RUNAI_STREAMER_MEMORY_LIMIT": str(mebibytes(m.memory) * 1024 * 1024 // 4),
    }


def ephemeral_gib(model: Model) -> int:
    """Ephemeral storage a replica requests: its emptyDirs on the node disk plus its writable layer and logs."""
    return TMP_GIB + CACHE_GIB + WRITABLE_GIB + models_volume_gib(model)


def rollout_strategy(model: Model) -> dict[str, Any]:
    """``replace`` needs no spare GPU (one pod down at a time); ``surge`` never drops below current capacity."""
    surge, unavailable = (0, 1) if model.rollout == "replace" else (1, 0)
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}


def cold_start_inputs(model: Model) -> cold_start.ColdStartInputs:
    """What the model's cold start depends on, from its settings (the node path comes from the stack's pools)."""
    streams = bool(model.source.s3_prefix) and model.weights_load == "stream"
    load = cold_start.load_path(streams, copies_weights(model), bool(model.source.pvc_size_gib))
    return cold_start.ColdStartInputs(model.image_size_gib, model.weights_size_gib, load, None)


def startup_budget(model: Model) -> int:
    """The startup probe's budget: the model's explicit ``startup_budget_seconds``, else the estimated weights
    load and server start with the margin of components/cold_start.py."""
    if model.startup_budget_seconds is not None:
        return model.startup_budget_seconds
    estimate = cold_start.estimate(cold_start_inputs(model))
    return cold_start.startup_budget_seconds(estimate, PROBE_PERIOD_SECONDS)


def rollout_timeout_seconds(
    model: Model, gpu_nodes: Sequence[cold_start.NodePath] = (), replicas: int | None = None
) -> int:
    """How long ``pulumi up`` waits for a rollout: the estimated cold start from an empty GPU pool (slowest of
    ``gpu_nodes``), then one pod start per further replica (default ``max_replicas``), with the margin of
    components/cold_start.py, capped at what a deploy job can wait (``ROLLOUT_TIMEOUT_CAP_SECONDS``)."""
    return cold_start.deploy_timeout_seconds(
        cold_start_inputs(model),
        gpu_nodes,
        model.max_replicas if replicas is None else replicas,
        ROLLOUT_TIMEOUT_CAP_SECONDS,
        model.startup_budget_seconds,
    )


def canary_replicas(model: Model) -> tuple[int, int]:
    """(min, max) replicas of a canary: at least one unless the primary may scale to zero, at most its share."""
    if model.canary is None:
        raise ValueError("canary_replicas: the model has no canary")
    low = 0 if model.min_replicas == 0 else 1
    return low, max(1, math.ceil(model.max_replicas * model.canary.weight / 100))


def prefix_of(model: Model) -> str:
    """The model's S3 prefix as a directory (``models/x/``), so ``models/x*`` cannot match ``models/xy``."""
    if not model.source.s3_prefix:
        raise ValueError("prefix_of: the model has no S3 source")
    return model.source.s3_prefix.strip("/") + "/"


def model_read_policy(bucket_arn: str, key_arn: str, prefix: str, region: str) -> str:
    """Read-only access to one prefix of the artifact bucket, and decrypt through S3 only."""
    return policy_json(
        [
            {
                "Sid": "ReadModel",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{prefix}*"],
            },
            {
                "Sid": "ListModel",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
            },
            {
                "Sid": "DecryptViaS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": [key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ]
    )


def image_ref(repo_url: str, tag: str | None, digest: str | None) -> str:
    """``repo@sha256:…`` (digest wins) or ``repo:tag``."""
    return f"{repo_url}@{digest}" if digest else f"{repo_url}:{tag}"


def forward_action(model: str, canary_weight: int | None) -> str:
    """The ALB forward action (advanced schema) splitting ``model`` traffic between its target groups.

    Format: ``alb.ingress.kubernetes.io/actions.<name>`` in the LBC docs
    (docs/guide/ingress/annotations.md, "forward-multiple-tg"); ServiceName/ServicePort work
    in the advanced schema only.
    """
    groups = [{"serviceName": model, "servicePort": "http", "weight": 100 - (canary_weight or 0)}]
    if canary_weight:
        groups.append({"serviceName": f"{model}-canary", "servicePort": "http", "weight": canary_weight})
    return json.dumps({"type": "forward", "forwardConfig": {"targetGroups": groups}}, sort_keys=True)


def strip_prefix_transform(model: str) -> str:
    """URL rewrite so ``/<model>/v1/...`` reaches the server as ``/v1/...`` (LBC ``transforms.<name>``)."""
    # Model names are DNS labels ([a-z0-9-]): nothing in them needs escaping in the regex.
    rewrite = {"regex": f"^\\/{model}(\\/|$)(.*)$", "replace": "/$2"}
    return json.dumps([{"type": "url-rewrite", "urlRewriteConfig": {"rewrites": [rewrite]}}], sort_keys=True)


def quota_for(models: Mapping[str, Model], init_cpu: str, init_memory: str) -> dict[str, str]:
    """A ResourceQuota that fits every model at max replicas plus one rolling-update surge pod each."""
    cpu = mem = gpus = pods = 0
    for m in models.values():
        counts = [m.max_replicas + 1 + m.warm_spares]
        if m.canary:
            counts.append(canary_replicas(m)[1] + 1)
        n = sum(counts)
        # A pod's effective request is the larger of its init container and its app containers.
        cpu += n * max(millicores(m.cpu), millicores(init_cpu) if copies_weights(m) else 0)
        mem += n * max(mebibytes(m.memory), mebibytes(init_memory) if copies_weights(m) else 0)
        gpus += n * m.gpus
        pods += n
    out = {
        "pods": str(pods + 2),
        "requests.cpu": f"{cpu}m",
        "limits.cpu": f"{cpu}m",
        "requests.memory": f"{mem}Mi",
        "limits.memory": f"{mem}Mi",
        f"requests.{GPU_RESOURCE}": str(gpus),
        "persistentvolumeclaims": str(sum(1 for m in models.values() if m.source.pvc_size_gib)),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    return out


# --------------------------------------------------------------------------- component
INIT_CPU, INIT_MEMORY = "1", "2Gi"


class Serving(pulumi.ComponentResource):
    """Models behind an ALB, with autoscaling, A/B canaries and least-privilege weight access."""

    namespace: pulumi.Output[str]
    ingress: k8s.networking.v1.Ingress | None
    model_roles: dict[str, aws.iam.Role]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            "platform:index:Serving", name, serving_contracts(args), _k8s.with_provider(opts, args.k8s_provider)
        )
        self._name, self._args = name, args
        for mname, m in args.models.items():
            if m.min_replicas == 0 and not (args.allow_scale_to_zero and m.autoscaling.type == "keda"):
                raise ValueError(f"model {mname}: minReplicas 0 needs KEDA and allow_scale_to_zero")
            if m.image.repository not in args.repositories or (
                m.canary and m.canary.image.repository not in args.repositories
            ):
                raise ValueError(f"model {mname}: images must come from the platform's repositories")
            if copies_weights(m) and not args.model_sync_image:
                raise ValueError(f"model {mname}: an S3 source needs model_sync_image")
            if m.source.s3_prefix and not m.weights_size_gib:
                raise ValueError(f"model {mname}: an S3 source needs weights_size_gib (it sizes the models volume)")
            if m.autoscaling.type == "keda" and not m.autoscaling.query:
                raise ValueError(f"model {mname}: KEDA autoscaling needs a query")

        self.ns = _k8s.namespace(
            f"{name}-namespace",
            args.namespace,
            parent=self,
            # Readiness gates: a pod counts as ready only once it is healthy in its ALB target
            # group, so rolling updates never outrun the load balancer (LBC pod readiness gate).
            labels={"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"},
        )
        ns_name = self.ns.metadata.name
        self._guardrails(ns_name)
        self._network_policies()

        deployed = {n: m for n, m in args.models.items() if m.deploy}
        keda = self._keda() if any(m.autoscaling.type == "keda" for m in deployed.values()) else None

        self.model_roles = {}
        spares = any(m.warm_spares for m in deployed.values())
        priority = self._spare_priority_class() if spares else None
        for mname, m in args.models.items():
            sa = self._service_account(mname, m, ns_name)
            if not m.deploy:
                # Not yet deployable (image or weights missing): only its identity exists.
                continue
            self._track(mname, m, "primary", sa, ns_name, keda)
            if m.warm_spares and priority is not None:
                self._warm_spares(mname, m, ns_name, priority, sa)
            if m.canary:
                self._track(mname, m, "canary", sa, ns_name, keda)
            if args.monitoring_crds is not None:
                self._service_monitor(mname, m, ns_name)

        self.ingress = self._ingress(ns_name, deployed) if deployed else None
        self.namespace = ns_name
        self.register_outputs(
            {"namespace": self.namespace, "model_roles": {k: r.arn for k, r in self.model_roles.items()}}
        )

    # ------------------------------------------------------------------ namespace guardrails
    def _guardrails(self, ns: pulumi.Output[str]) -> None:
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        _K8S.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata={"name": "serving-quota", "namespace": ns, "labels": dict(_k8s.MANAGED_BY)},
            spec={"hard": quota_for(args.models, INIT_CPU, INIT_MEMORY)},
            opts=child,
        )
        # Defaults for anything created without requests (debug pods); the quota requires them.
        _K8S.core.v1.LimitRange(
            f"{name}-limits",
            metadata={"name": "serving-limits", "namespace": ns, "labels": dict(_k8s.MANAGED_BY)},
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": "500m", "memory": "512Mi"},
                        "defaultRequest": {"cpu": "500m", "memory": "512Mi"},
                        # No `max` for GPUs: the API server copies a `max` without a `default` into
                        # the default (SetDefaults_LimitRangeItem, kubernetes pkg/apis/core/v1/defaults.go),
                        # so every container without a GPU (init containers, CPU models) would get 8.
                        # The model spec bounds GPUs per replica; the quota bounds the namespace.
                    },
                    {"type": "PersistentVolumeClaim", "max": {"storage": "2Ti"}},
                ]
            },
            opts=child,
        )

    def _network_policies(self) -> None:
        name, args = self._name, self._args
        _k8s.default_deny(f"{name}-default-deny", self.ns, parent=self)
        _k8s.network_policy(
            f"{name}-allow-egress",
            self.ns,
            "allow-dns-and-https",
            parent=self,
            # HTTPS reaches S3 (gateway endpoint, public S3 addresses) and STS (interface endpoint).
            egress=[_k8s.dns_egress(), _k8s.tcp_egress(443)],
        )
        for mname, m in args.models.items():
            # The ALB sends traffic and health checks from its ENIs in the VPC straight to pod IPs.
            rules = [_k8s.from_cidr(args.vpc_cidr, m.port), _k8s.from_namespace(args.monitoring_namespace, m.port)]
            _k8s.network_policy(
                f"{name}-{mname}-allow-ingress",
                self.ns,
                f"allow-{mname}",
                parent=self,
                pod_selector={"matchLabels": {"platform.ai/model": mname}},
                ingress=rules,
            )

    # ------------------------------------------------------------------ KEDA
    def _keda(self) -> pulumi.Resource:
        name, args = self._name, self._args
        ns = _k8s.namespace(f"{name}-keda-namespace", KEDA_NAMESPACE, parent=self)
        _k8s.quota_and_limits(f"{name}-keda", ns, parent=self, hard={"pods": "20"})
        _k8s.default_deny(f"{name}-keda-default-deny", ns, parent=self, egress=False)
        # The API server (control-plane ENIs in the VPC) calls the metrics API (6443) and the
        # admission webhooks (9443); Prometheus scrapes the metrics ports.
        _k8s.network_policy(
            f"{name}-keda-allow-ingress",
            ns,
            "allow-apiserver-and-prometheus",
            parent=self,
            ingress=[
                _k8s.from_cidr(args.vpc_cidr, KEDA_METRICS_APISERVER_PORT, KEDA_WEBHOOK_PORT),
                _k8s.from_namespace(args.monitoring_namespace),
            ],
        )
        # The metrics apiserver fetches every external metric from the operator over gRPC (9666);
        # without this the HPAs KEDA creates never get a value and never leave their minimum.
        _k8s.network_policy(
            f"{name}-keda-allow-operator-grpc",
            ns,
            "allow-metrics-apiserver-to-operator",
            parent=self,
            pod_selector={"matchLabels": dict(KEDA_OPERATOR)},
            ingress=[
                {
                    "from": [{"podSelector": {"matchLabels": dict(KEDA_METRICS_APISERVER)}}],
                    "ports": [{"protocol": "TCP", "port": KEDA_OPERATOR_GRPC_PORT}],
                }
            ],
        )
        small = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1000Mi"}}
        monitor = args.monitoring_crds is not None
        values: dict[str, Any] = {
            "crds": {"install": True},
            "operator": {"replicaCount": 2},
            "metricsServer": {"replicaCount": 2},
            "webhooks": {"enabled": True, "replicaCount": 2},
            "podDisruptionBudget": {
                "operator": {"maxUnavailable": 1},
                "metricServer": {"maxUnavailable": 1},
                "webhooks": {"maxUnavailable": 1},
            },
            "resources": {"operator": small, "metricServer": small, "webhooks": small},
            "nodeSelector": dict(args.system_node_selector),
            "prometheus": {
                comp: {"enabled": monitor, "serviceMonitor": {"enabled": monitor}}
                for comp in ("operator", "metricServer")
            },
        }
        deps = [ns, *args.depends_on] + ([args.monitoring_crds] if args.monitoring_crds is not None else [])
        return helm_release(f"{name}-keda", "keda", KEDA_CHART, "keda", values, parent=self, depends_on=deps)

    # ------------------------------------------------------------------ per model
    def _service_account(self, mname: str, m: Model, ns: pulumi.Output[str]) -> k8s.core.v1.ServiceAccount:
        name, args = self._name, self._args
        annotations: dict[str, Any] = {}
        if m.source.s3_prefix:
            prefix = prefix_of(m)
            role = irsa_role(
                f"{name}-{mname}-role",
                args.irsa,
                args.namespace,
                mname,
                parent=self,
                policy=pulumi.Output.all(args.artifacts_bucket.arn, args.artifacts_key.arn).apply(
                    lambda a: model_read_policy(a[0], a[1], prefix, args.region)
                ),
                tags=args.tags,
            )
            self.model_roles[mname] = role
            annotations["eks.amazonaws.com/role-arn"] = role.arn
        return _K8S.core.v1.ServiceAccount(
            f"{name}-{mname}-sa",
            metadata={"name": mname, "namespace": ns, "labels": self._labels(mname), "annotations": annotations},
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _labels(self, mname: str, track: Track | Literal["warm-spare"] | None = None) -> dict[str, str]:
        labels = {**_k8s.MANAGED_BY, "app.kubernetes.io/name": mname, "platform.ai/model": mname}
        # Ownership for cost allocation: the stack's `owner` tag.
        labels["team"] = self._args.tags.get("owner", "ml-platform")
        if track:
            labels["platform.ai/track"] = track
        return labels

    def _track(
        self,
        mname: str,
        m: Model,
        track: Track,
        sa: k8s.core.v1.ServiceAccount,
        ns: pulumi.Output[str],
        keda: pulumi.Resource | None,
    ) -> None:
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        obj = mname if track == "primary" else f"{mname}-canary"
        ref = m.image if track == "primary" else m.canary.image  # type: ignore[union-attr]
        repo = args.repositories[ref.repository]
        image = repo.repository_url.apply(lambda url: image_ref(url, ref.tag, ref.digest))
        labels = self._labels(mname, track)
        selector = {"platform.ai/model": mname, "platform.ai/track": track}
        low, high = (m.min_replicas, m.max_replicas) if track == "primary" else canary_replicas(m)
        lineage = self._lineage(mname, m, track, image, ref.digest)

        deployment = _K8S.apps.v1.Deployment(
            f"{name}-{obj}",
            metadata={
                "name": obj,
                "namespace": ns,
                "labels": labels,
                "annotations": {**lineage, TIMEOUT_ANNOTATION: str(rollout_timeout_seconds(m, args.gpu_nodes, high))},
            },
            spec={
                # No `replicas`: the HPA/ScaledObject owns it; a value here would be re-applied on
                # every update and fight the autoscaler.
                "selector": {"matchLabels": selector},
                "strategy": rollout_strategy(m),
                "revisionHistoryLimit": 5,
                "template": {
                    "metadata": {"labels": labels, "annotations": lineage},
                    "spec": self._pod_spec(mname, m, image, sa, selector),
                },
            },
            opts=child,
        )
        _K8S.core.v1.Service(
            f"{name}-{obj}-service",
            metadata={
                "name": obj,
                "namespace": ns,
                "labels": labels,
                "annotations": {
                    "alb.ingress.kubernetes.io/healthcheck-path": "/health",
                    "alb.ingress.kubernetes.io/success-codes": "200",
                },
            },
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": m.port, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        _K8S.policy.v1.PodDisruptionBudget(
            f"{name}-{obj}-pdb",
            metadata={"name": obj, "namespace": ns, "labels": labels},
            # maxUnavailable (not minAvailable) keeps node drains possible at one replica.
            # AlwaysAllow: crash-looping (never Ready) pods must not block node drains.
            spec={
                "maxUnavailable": 1,
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
                "selector": {"matchLabels": selector},
            },
            opts=child,
        )
        if m.autoscaling.type == "keda":
            if keda is None or m.autoscaling.query is None:
                raise ValueError(f"model {mname}: KEDA autoscaling needs the KEDA release and a query")
            k8s.apiextensions.CustomResource(
                f"{name}-{obj}-scaledobject",
                api_version="keda.sh/v1alpha1",
                kind="ScaledObject",
                metadata={"name": obj, "namespace": ns, "labels": labels},
                spec={
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": obj},
                    "minReplicaCount": low,
                    "maxReplicaCount": high,
                    "pollingInterval": 15,
                    # Only applies to scaling to zero: keep a warm GPU replica for 10 minutes.
                    "cooldownPeriod": 600,
                    # If Prometheus is unreachable, hold the minimum serving capacity.
                    "fallback": {"failureThreshold": 3, "replicas": max(low, 1)},
                    "advanced": {
                        "horizontalPodAutoscalerConfig": {
                            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}
                        }
                    },
                    "triggers": [
                        {
                            "type": "prometheus",
                            "metadata": {
                                "serverAddress": args.prometheus_url,
                                "query": scaling_query(m.autoscaling.query, mname, track),
                                # KEDA metadata values are strings.
                                "threshold": f"{m.autoscaling.threshold:g}",
                            },
                        }
                    ],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[keda, deployment]),
            )
        else:
            _K8S.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-{obj}-hpa",
                metadata={"name": obj, "namespace": ns, "labels": labels},
                spec={
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": obj},
                    "minReplicas": max(low, 1),
                    "maxReplicas": high,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": m.autoscaling.target_cpu_percent,
                                },
                            },
                        }
                    ],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
            )

    def _lineage(
        self, mname: str, m: Model, track: Track, image: pulumi.Output[str], digest: str | None
    ) -> dict[str, Any]:
        """Lineage annotations (components/_lineage.py): the image, the weights and the run behind this track."""
        lin = m.lineage
        if m.source.s3_prefix:
            prefix = prefix_of(m)
            weights: pulumi.Input[str] = self._args.artifacts_bucket.bucket.apply(lambda b: f"s3://{b}/{prefix}")
        else:
            weights = f"pvc://{mname}-models" if m.source.pvc_size_gib else "image"
        canary_version = m.canary.version if track == "canary" and m.canary else None
        return _lineage.lineage_annotations(
            mname,
            version=canary_version or (lin.version if lin else None),
            image=image,
            digest=digest,
            weights_uri=weights,
            weights_version_id=lin.weights_s3_version_id if lin else None,
            dvc_hash=lin.dvc_hash if lin else None,
            mlflow_run_id=lin.mlflow_run_id if lin else None,
        )

    def _pod_spec(
        self,
        mname: str,
        m: Model,
        image: pulumi.Output[str],
        sa: k8s.core.v1.ServiceAccount,
        selector: Mapping[str, str],
    ) -> dict[str, Any]:
        args = self._args
        volumes: list[dict[str, Any]] = [
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": m.shm_size}},
            {"name": "tmp", "emptyDir": {"sizeLimit": f"{TMP_GIB}Gi"}},
            {"name": "cache", "emptyDir": {"sizeLimit": f"{CACHE_GIB}Gi"}},
        ]
        mounts: list[dict[str, Any]] = [
            {"name": "shm", "mountPath": "/dev/shm"},  # noqa: S108 - the container's shared memory
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir
            {"name": "cache", "mountPath": "/cache"},
        ]
        init: list[dict[str, Any]] = []
        env = {"HOME": "/tmp", "XDG_CACHE_HOME": "/cache", "HF_HOME": "/cache/huggingface"}  # noqa: S108
        server_args_: Any = server_args(mname, m)
        if m.source.s3_prefix and m.weights_load == "stream":
            # The server streams the safetensors from S3 into GPU memory with the model's IRSA role: no
            # copy, no weights volume. vLLM: `vllm serve s3://bucket/prefix --load-format runai_streamer`
            # (vllm-project/vllm docs/models/extensions/runai_model_streamer.md, v0.11.0).
            env |= streamer_env(args.region, m)
            server_args_ = args.artifacts_bucket.bucket.apply(lambda b: streaming_args(mname, m, b))
        elif m.source.s3_prefix:
            volumes.append({"name": "models", "emptyDir": {"sizeLimit": f"{models_volume_gib(m)}Gi"}})
            mounts.append({"name": "models", "mountPath": MODELS_DIR, "readOnly": True})
            env["HF_HUB_OFFLINE"] = "1"
            src = args.artifacts_bucket.bucket.apply(lambda b: f"s3://{b}/{prefix_of(m)}")
            init.append(
                {
                    "name": "fetch-model",
                    "image": args.model_sync_image,
                    "args": ["s3", "sync", src, f"{MODELS_DIR}/{mname}", "--only-show-errors", "--no-progress"],
                    "env": [
                        {"name": "AWS_REGION", "value": args.region},
                        {"name": "HOME", "value": "/tmp"},  # noqa: S108
                    ],
                    "resources": _k8s.resources(INIT_CPU, INIT_MEMORY),
                    "securityContext": dict(_k8s.RESTRICTED_CONTAINER),
                    "volumeMounts": [
                        {"name": "models", "mountPath": MODELS_DIR},
                        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
                    ],
                }
            )
        elif m.source.pvc_size_gib:
            volumes.append(
                {"name": "models", "persistentVolumeClaim": {"claimName": self._pvc(mname, m).metadata.name}}
            )
            mounts.append({"name": "models", "mountPath": MODELS_DIR})
        env.update(m.env)
        probe = {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": 5,
        }
        container = {
            "name": "server",
            "image": image,
            "args": server_args_,
            "ports": [{"name": "http", "containerPort": m.port, "protocol": "TCP"}],
            "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
            # Ephemeral storage counts the emptyDirs on the node disk: the scheduler places the pod
            # where the weights fit, and the kubelet evicts it (not its neighbours) if it overflows.
            "resources": _k8s.resources(m.cpu, m.memory, m.gpus, ephemeral_storage=f"{ephemeral_gib(m)}Gi"),
            # The budget is failureThreshold x period (from the cold-start estimate): weights load before liveness starts.
            "startupProbe": {**probe, "failureThreshold": math.ceil(startup_budget(m) / PROBE_PERIOD_SECONDS)},
            "readinessProbe": {**probe, "failureThreshold": 3},
            "livenessProbe": {**probe, "periodSeconds": 20, "failureThreshold": 3},
            "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SLEEP_SECONDS}}},
            "securityContext": dict(_k8s.RESTRICTED_CONTAINER),
            "volumeMounts": mounts,
        }
        spread = [
            {
                "maxSkew": 1,
                "topologyKey": key,
                # ScheduleAnyway: GPU capacity is often missing in one AZ; a hard rule would
                # leave replicas Pending instead of serving from the zones that have GPUs.
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(selector)},
            }
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
        ]
        spec: dict[str, Any] = {
            "serviceAccountName": sa.metadata.name,
            # IRSA mounts its own projected token; the API token is not needed.
            "automountServiceAccountToken": False,
            "securityContext": _k8s.restricted_pod(MODEL_UID),
            "terminationGracePeriodSeconds": 60,
            "topologySpreadConstraints": spread,
            "initContainers": init,
            "containers": [container],
            "volumes": volumes,
            **_k8s.gpu_placement(m.gpus),
        }
        if not init:
            del spec["initContainers"]
        return spec

    def _spare_priority_class(self) -> pulumi.Resource:
        """Below every other pod and never preempting: placeholders only ever give way."""
        return _K8S.scheduling.v1.PriorityClass(
            f"{self._name}-warm-spare-priority",
            metadata={"name": SPARE_PRIORITY_CLASS},
            value=-10,
            preemption_policy="Never",
            global_default=False,
            description="Warm GPU spares of the serving models: preempted by any real pod.",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _warm_spares(
        self, mname: str, m: Model, ns: pulumi.Output[str], priority: pulumi.Resource, sa: k8s.core.v1.ServiceAccount
    ) -> None:
        """Placeholders the size of one replica, asleep in the serving image: they keep GPU nodes up with the
        image already pulled. The scheduler preempts one for a new replica (PriorityClass docs, "Preemption");
        the displaced placeholder goes Pending and brings up the next spare node."""
        ref = m.image
        repo = self._args.repositories[ref.repository]
        image = repo.repository_url.apply(lambda url: image_ref(url, ref.tag, ref.digest))
        # Not a model track: no platform.ai/model label, so no Service, monitor or lineage selects it.
        labels = {k: v for k, v in self._labels(mname, "warm-spare").items() if k != "platform.ai/model"}
        labels |= {"app.kubernetes.io/name": f"{mname}-warm-spare", SPARE_LABEL: mname}
        alive = {"exec": {"command": ["true"]}, "periodSeconds": 60}
        container = {
            "name": "placeholder",
            "image": image,
            "command": ["sleep", "infinity"],
            "startupProbe": alive,
            "readinessProbe": alive,
            "livenessProbe": alive,
            "resources": _k8s.resources(m.cpu, m.memory, m.gpus, ephemeral_storage="1Gi"),
            "securityContext": dict(_k8s.RESTRICTED_CONTAINER),
        }
        _K8S.apps.v1.Deployment(
            f"{self._name}-{mname}-warm-spare",
            metadata={"name": f"{mname}-warm-spare", "namespace": ns, "labels": labels},
            spec={
                "replicas": m.warm_spares,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "priorityClassName": SPARE_PRIORITY_CLASS,
                        "serviceAccountName": sa.metadata.name,
                        "automountServiceAccountToken": False,
                        "securityContext": _k8s.restricted_pod(MODEL_UID),
                        # Preemption must free the GPU at once.
                        "terminationGracePeriodSeconds": 0,
                        "containers": [container],
                        **_k8s.gpu_placement(m.gpus),
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[priority]),
        )
        _K8S.policy.v1.PodDisruptionBudget(
            f"{self._name}-{mname}-warm-spare-pdb",
            metadata={"name": f"{mname}-warm-spare", "namespace": ns, "labels": labels},
            spec={
                "maxUnavailable": 1,
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
                "selector": {"matchLabels": labels},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _pvc(self, mname: str, m: Model) -> k8s.core.v1.PersistentVolumeClaim:
        return _K8S.core.v1.PersistentVolumeClaim(
            f"{self._name}-{mname}-models",
            metadata={"name": f"{mname}-models", "namespace": self.ns.metadata.name, "labels": self._labels(mname)},
            spec={
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": self._args.storage_class_name,
                "resources": {"requests": {"storage": f"{m.source.pvc_size_gib}Gi"}},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _service_monitor(self, mname: str, m: Model, ns: pulumi.Output[str]) -> None:
        if self._args.monitoring_crds is None:
            raise ValueError("a ServiceMonitor needs ServingArgs.monitoring_crds")
        k8s.apiextensions.CustomResource(
            f"{self._name}-{mname}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": mname, "namespace": ns, "labels": self._labels(mname)},
            spec={
                # Both tracks: the canary's metrics carry platform_ai_track="canary" for A/B comparison.
                "selector": {"matchLabels": {"platform.ai/model": mname}},
                "targetLabels": ["platform.ai/model", "platform.ai/track"],
                # `model` is the label the serving rules and dashboard group by (docs/metrics-contract.md),
                # whatever the server calls the model itself.
                "endpoints": [
                    {
                        "port": "http",
                        "path": m.metrics_path,
                        "interval": "30s",
                        "relabelings": [
                            {
                                "sourceLabels": ["__meta_kubernetes_pod_label_platform_ai_model"],
                                "targetLabel": "model",
                                "action": "replace",
                            }
                        ],
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._args.monitoring_crds]),
        )

    # ------------------------------------------------------------------ ingress
    def _ingress(self, ns: pulumi.Output[str], models: Mapping[str, Model]) -> k8s.networking.v1.Ingress:
        name, args = self._name, self._args
        ing = args.ingress
        a = "alb.ingress.kubernetes.io/"
        annotations: dict[str, str] = {
            a + "scheme": ing.scheme,
            # Pods are targets directly (VPC CNI): no NodePort hop, and readiness gates apply.
            a + "target-type": "ip",
            a + "group.name": ing.group_name,
            a + "inbound-cidrs": ",".join(ing.inbound_cidrs or [args.vpc_cidr]),
            a + "healthcheck-path": "/health",
            # LLM responses stream for minutes; the 60 s default idle timeout cuts them off.
            a + "load-balancer-attributes": "idle_timeout.timeout_seconds=600,"
            "routing.http.drop_invalid_header_fields.enabled=true",
            a + "target-group-attributes": "deregistration_delay.timeout_seconds=30",
        }
        if ing.certificate_arn:
            annotations.update(
                {
                    a + "certificate-arn": ing.certificate_arn,
                    a + "listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
                    a + "ssl-redirect": "443",
                    a + "ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                }
            )
        else:
            annotations[a + "listen-ports"] = json.dumps([{"HTTP": 80}])
        paths = []
        for mname, m in models.items():
            annotations[a + f"actions.{mname}"] = forward_action(mname, m.canary.weight if m.canary else None)
            annotations[a + f"transforms.{mname}"] = strip_prefix_transform(mname)
            paths.append(
                {
                    "path": f"/{mname}",
                    "pathType": "Prefix",
                    # The backend names the action; `use-annotation` makes the controller read it.
                    "backend": {"service": {"name": mname, "port": {"name": "use-annotation"}}},
                }
            )
        deps = [args.ingress_controller] if args.ingress_controller is not None else []
        return _K8S.networking.v1.Ingress(
            f"{name}-ingress",
            metadata={"name": "models", "namespace": ns, "labels": dict(_k8s.MANAGED_BY), "annotations": annotations},
            spec={"ingressClassName": "alb", "rules": [{"http": {"paths": paths}}]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=deps),
        )
