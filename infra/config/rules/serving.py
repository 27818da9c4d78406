"""The ``serving`` section's cross-field rules."""

from __future__ import annotations

import re

from components.model_spec import (
    ModelSettings,
    served_model_name,
)
from infra.config._base import _K8S_NAME
from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p


def _served_name_problems(name: str, model: ModelSettings, base: str) -> list[Problem]:
    """vLLM labels its metrics ``model_name=<served name>``; the platform sets it to the model key."""
    out: list[Problem] = []
    served = served_model_name(model)
    if model.server == "vllm":
        if served is not None and served != name:
            out.append(
                _p(
                    f"{base}.args",
                    f"--served-model-name must be the model key {name!r} (the platform sets it; "
                    "queries and dashboards select model_name by the key); drop the flag",
                    served,
                )
            )
        if model.metrics:
            out.append(_p(f"{base}.metrics", "vLLM's metric contract is built in; remove metrics"))
    elif model.autoscaling.type == "keda" and not model.metrics:
        out.append(
            _p(
                f"{base}.metrics",
                f"a {model.server} server scaled by KEDA must declare the metrics it emits "
                "(metric name -> labels), so its query can be checked",
            )
        )
    return out


def weights_problems(cfg: PlatformConfig) -> list[Problem]:
    """Streaming weights needs vLLM and an S3 source."""
    out: list[Problem] = []
    for mname, served in cfg.resolved_models().items():
        if served.weights_load == "stream" and (served.server != "vllm" or not served.source.s3_prefix):
            out.append(_p(f"serving.models.{mname}.weights.load", "stream needs server: vllm (Run:ai Model Streamer) "
                          "and source.s3Prefix; use copy for other servers", "stream"))  # fmt: skip
    return out


def serving_problems(cfg: PlatformConfig) -> list[Problem]:
    """Namespace, ingress, images, replicas, GPUs and weights of every model."""
    out: list[Problem] = []
    s = cfg.serving
    if not _K8S_NAME.match(s.namespace):
        out.append(_p("serving.namespace", "a DNS label", s.namespace))
    if s.ingress.scheme == "internet-facing" and not s.ingress.certificate_arn:
        out.append(_p("serving.ingress.certificateArn", "an internet-facing ALB needs a TLS certificate ARN"))
    if s.ingress.scheme == "internet-facing" and not s.ingress.inbound_cidrs:
        out.append(
            _p("serving.ingress.inboundCidrs", "an internet-facing ALB needs an explicit allowlist of client CIDRs")
        )
    if s.ingress.certificate_arn and not re.match(
        r"^arn:aws(-[a-z]+)?:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+$", s.ingress.certificate_arn
    ):
        out.append(_p("serving.ingress.certificateArn", "an ACM certificate ARN", s.ingress.certificate_arn))
    resolved_models = cfg.resolved_models()
    if any(m.source.s3_prefix for m in resolved_models.values()):
        sync = s.model_sync_image
        if sync is None:
            out.append(_p("serving.modelSyncImage", "required when a model reads its weights from source.s3Prefix"))
        elif sync.upstream not in cfg.registry.pull_through_cache or not (
            cfg.registry.pull_through_cache[sync.upstream].enabled
        ):
            out.append(
                _p(
                    "serving.modelSyncImage.upstream",
                    "must be an enabled registry.pullThroughCache rule",
                    sync.upstream,
                )
            )
    for name, model in resolved_models.items():
        out.extend(_model_problems(cfg, name, model))
    return out


def _model_problems(cfg: PlatformConfig, name: str, model: ModelSettings) -> list[Problem]:
    """One resolved model: its name, images, replicas, GPUs, weights source and metrics."""
    out: list[Problem] = []
    s, repos = cfg.serving, cfg.registry.repositories
    gpu_pools = [p for p in cfg.resolved_node_pools().values() if p.gpu]
    base = f"serving.models.{name}"
    if not _K8S_NAME.match(name) or len(name) > 40:
        out.append(_p(base, "model names are DNS labels of at most 40 characters", name))
    if model.image is None:
        out.append(_p(f"{base}.image", "required (here or in serving.modelDefaults)"))
    for label, ref in (("image", model.image), ("canary.image", model.canary.image if model.canary else None)):
        if ref is None:
            continue
        if ref.repository not in repos:
            out.append(
                _p(
                    f"{base}.{label}.repository",
                    f"must be one of registry.repositories: {sorted(repos)}",
                    ref.repository,
                )
            )
        if not ref.tag and not ref.digest:
            out.append(_p(f"{base}.{label}", "pin the image with a digest or an immutable tag"))
    if model.min_replicas > model.max_replicas:
        out.append(_p(f"{base}.minReplicas", f"must be <= maxReplicas ({model.max_replicas})", model.min_replicas))
    if model.min_replicas == 0 and not (s.allow_scale_to_zero and model.autoscaling.type == "keda"):
        out.append(_p(f"{base}.minReplicas", "0 needs autoscaling.type: keda and serving.allowScaleToZero: true", 0))
    if model.autoscaling.type == "keda" and not model.autoscaling.query:
        out.append(_p(f"{base}.autoscaling.query", "KEDA autoscaling needs a Prometheus query"))
    if model.gpus and not gpu_pools:
        out.append(_p(f"{base}.gpus", "a GPU model needs at least one GPU node pool", model.gpus))
    if model.gpus and gpu_pools and model.gpus > max(p.gpus_per_node for p in gpu_pools):
        out.append(_p(f"{base}.gpus", f"no GPU pool has {model.gpus} GPUs per node", model.gpus))
    if model.source.s3_prefix and model.source.pvc_size_gib:
        out.append(_p(f"{base}.source", "choose either s3Prefix or pvcSizeGib"))
    if model.source.s3_prefix and model.weights_size_gib is None:
        out.append(_p(f"{base}.weightsSizeGiB", "required with source.s3Prefix: it sizes the models volume"))
    if model.source.pvc_size_gib and (model.max_replicas > 1 or model.canary):
        # An EBS volume attaches to one node: a shared RWO cache cannot serve several replicas.
        out.append(
            _p(
                f"{base}.source.pvcSizeGib",
                "an EBS (ReadWriteOnce) cache serves one replica: maxReplicas 1, no canary",
            )
        )
    if model.source.s3_prefix and (model.source.s3_prefix.startswith("/") or "*" in model.source.s3_prefix):
        out.append(
            _p(f"{base}.source.s3Prefix", "a key prefix without a leading '/' or wildcards", model.source.s3_prefix)
        )
    if not model.metrics_path.startswith("/"):
        out.append(_p(f"{base}.metricsPath", "an absolute HTTP path", model.metrics_path))
    out.extend(_served_name_problems(name, model, base))
    return out
