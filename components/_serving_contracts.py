"""What the serving component declares: its flows, the models' metric contracts, KEDA's pods and ports.

Internal to :mod:`components.serving` (see components/_contracts.py and docs/metrics-contract.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from components import _contracts
from components._helm import Chart
from components.model_spec import ModelSettings as Model
from components.model_spec import served_model_name

Track = Literal["primary", "canary"]

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


def serving_contracts(ns: str, models: Mapping[str, Model], vpc_cidr: str) -> dict[str, Any]:
    """The flows the models and KEDA need, and the models' metric contracts (see components/_contracts.py)."""
    vpc = _contracts.cidr(vpc_cidr)
    flows: list[_contracts.Flow] = [*_contracts.dns(ns, what="models")]
    metrics: list[_contracts.Series] = []
    for mname, m in models.items():
        model_pods = _contracts.pods(ns, {"platform.ai/model": mname})
        flows += [
            _contracts.Flow(f"ALB -> model {mname}", vpc, model_pods, m.port, port_name="http"),
            # The S3 gateway endpoint routes to S3's public addresses; STS is an interface endpoint in the VPC.
            _contracts.Flow(f"model {mname} -> S3", model_pods, _contracts.cidr(_contracts.INTERNET), 443),
            _contracts.Flow(f"model {mname} -> STS endpoint", model_pods, vpc, 443),
        ]
        metrics += model_series(mname, m, ns)
    if any(m.autoscaling.type == "keda" for m in models.values()):
        flows += keda_flows(vpc_cidr)
    return _contracts.declare(flows=flows, metrics=metrics)


def keda_flows(vpc_cidr: str) -> list[_contracts.Flow]:
    """KEDA's own flows, from the chart's labels and ports at 2.20.2 (see the constants above)."""
    src = "kedacore/charts v2.20.2 keda/templates"
    op = _contracts.pods(KEDA_NAMESPACE, KEDA_OPERATOR)
    mas = _contracts.pods(KEDA_NAMESPACE, KEDA_METRICS_APISERVER)
    hooks = _contracts.pods(KEDA_NAMESPACE, KEDA_WEBHOOKS)
    api, prom, flow = _contracts.cidr(vpc_cidr), _contracts.ref("prometheus"), _contracts.Flow
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


def service_monitor_spec(mname: str, metrics_path: str) -> dict[str, Any]:
    """The model's ServiceMonitor: both tracks, the labels of the metric contract (SCRAPE_LABELS)."""
    return {
        # Both tracks: the canary's metrics carry platform_ai_track="canary" for A/B comparison.
        "selector": {"matchLabels": {"platform.ai/model": mname}},
        "targetLabels": ["platform.ai/model", "platform.ai/track"],
        # `model` is the label the serving rules and dashboard group by (docs/metrics-contract.md),
        # whatever the server calls the model itself.
        "endpoints": [
            {
                "port": "http",
                "path": metrics_path,
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
    }
