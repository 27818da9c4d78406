"""``serving``: models, their defaults and the ALB."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
)

from components.model_spec import (
    CanarySettings,
    LineageSettings,
    ModelAutoscaling,
    ModelImage,
    ModelSettings,
    WeightsSource,
)
from infra.config._base import _check_digest, _check_tag, _Model, _quantity, derived, layered


# --------------------------------------------------------------------------- serving
class ImageRef(_Model):
    """An image in the platform's registry, pinned by digest or immutable tag."""

    repository: str
    """A key of ``registry.repositories``."""
    tag: str | None = None
    """Immutable tag (never ``latest``)."""
    digest: str | None = None
    """``sha256:…`` digest; wins over the tag."""

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        return _check_tag(v)

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        return _check_digest(v)


class ModelSource(_Model):
    """Where the model weights come from: an S3 prefix in the artifact bucket, or a PVC cache."""

    s3_prefix: str | None = None
    """Key prefix in the artifact bucket (e.g. ``models/llama-3-8b/``), read by a per-model IRSA role."""
    pvc_size_gib: int | None = Field(default=None, ge=1, le=65536)
    """Size of a PVC model cache (gp3), instead of S3."""


class WeightsSpec(_Model):
    """How a model's weights reach the GPU."""

    load: Literal["copy", "stream"] | None = derived("stream for vLLM models with source.s3Prefix, else copy")
    """``stream``: the server reads ``s3://`` directly (vLLM ``--load-format runai_streamer``) with the model's
    IRSA role, no init container; ``copy``: an init container copies the weights into an emptyDir first
    (servers that cannot stream)."""


class Autoscaling(_Model):
    """How a model scales."""

    type: Literal["cpu", "keda"] = "cpu"
    """``cpu``: HorizontalPodAutoscaler on CPU; ``keda``: KEDA on a Prometheus query."""
    target_cpu_percent: int = Field(default=70, ge=10, le=100)
    """CPU target for ``cpu``."""
    query: str | None = None
    """PromQL for ``keda`` (e.g. queue depth) per replica track: ``$model`` becomes the model key and ``$track``
    ``primary`` or ``canary``, so each track scales on its own series (docs/metrics-contract.md)."""
    threshold: float = Field(default=5.0, gt=0)
    """Per-replica target for the ``keda`` query."""


class Canary(_Model):
    """A second version of a model that receives a share of the traffic (A/B test)."""

    image: ImageRef
    """The canary's image."""
    weight: int = Field(ge=1, le=99)
    """Percent of traffic for the canary; the primary gets the rest."""
    version: str | None = None
    """The canary's model version for its lineage annotation; unset means the primary's ``lineage.version``."""


_LINEAGE_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,127}$")


class Lineage(_Model):
    """Where a served model comes from, recorded as ``platform.ai/*`` annotations on its Deployment and pods."""

    version: str
    """Model version (a registry version such as ``3`` or a release name such as ``2026-03-01``)."""
    weights_s3_version_id: str | None = None
    """S3 version id of the weights' manifest/main object in the artifact bucket (versioned bucket)."""
    dvc_hash: str | None = None
    """DVC hash (``md5`` of the ``.dvc`` entry) of the weights, when they are tracked with DVC."""
    mlflow_run_id: str | None = None
    """MLflow run that trained or registered the model (32 hex characters)."""

    @field_validator("version", "weights_s3_version_id")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        if v is not None and not _LINEAGE_TEXT.match(v):
            raise ValueError("1-128 letters, digits and . _ : + / - (an annotation value, no spaces)")
        return v

    @field_validator("dvc_hash")
    @classmethod
    def _dvc(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-f0-9]{32}(\.dir)?", v):
            raise ValueError("a DVC md5 hash: 32 lowercase hex characters, optionally followed by .dir")
        return v

    @field_validator("mlflow_run_id")
    @classmethod
    def _run(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-f0-9]{32}", v):
            raise ValueError("an MLflow run id: 32 lowercase hex characters")
        return v


_CRON = re.compile(r"^(@(hourly|daily|weekly|monthly)|(\S+\s+){4}\S+)$")


def _check_prefix(v: str) -> str:
    if not v or v.startswith("/") or "*" in v or "://" in v:
        raise ValueError("a key prefix in the artifact bucket, without s3://, a leading '/' or wildcards")
    return v.strip("/") + "/"


class DriftSpec(_Model):
    """Drift evaluation of one model: its live inputs (``current``) against its reference data."""

    reference: str
    """Key prefix in the artifact bucket of the reference data (CSV or Parquet), e.g. ``drift/llama/reference/``."""
    current: str
    """Key prefix of the live inputs, written by the serving application or a request-logging sidecar
    (docs/metrics-contract.md)."""
    schedule: str = "0 * * * *"
    """Cron schedule of the drift CronJob (UTC). At least daily, or ModelDriftNotEvaluated fires."""

    @field_validator("reference", "current")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return _check_prefix(v)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        if not _CRON.match(v.strip()) or v.strip() in ("@weekly", "@monthly"):
            raise ValueError("a five-field cron expression (or @hourly/@daily); the job must run at least daily")
        return v.strip()


# Defaults the serving component's own settings type already carries; the config type takes them from there.
_SETTINGS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(ModelSettings)}


class ModelSpec(_Model):
    """A served model. In ``serving.models`` unset fields fall back to ``serving.modelDefaults``, then to the
    defaults below (``canary``, ``drift`` and ``lineage`` are each model's own)."""

    image: ImageRef | None = derived("required, here or in serving.modelDefaults")
    """Serving image from the platform's registry."""
    args: list[str] = Field(default_factory=list)
    """Container arguments."""
    port: int = Field(default=8000, ge=1024, le=65535)
    """Container port (non-root, so 1024 or above)."""
    gpus: int = Field(default=1, ge=0, le=8)
    """``nvidia.com/gpu`` per replica."""
    cpu: str = "4"
    """CPU per replica (requests equal limits)."""
    memory: str = "16Gi"
    """Memory per replica (requests equal limits)."""
    min_replicas: int = Field(default=1, ge=0, le=100)
    """Minimum replicas; 0 only with KEDA and ``serving.allowScaleToZero``."""
    max_replicas: int = Field(default=2, ge=1, le=100)
    """Maximum replicas."""
    shm_size: str = "2Gi"
    """Size of ``/dev/shm`` (memory-backed emptyDir)."""
    source: ModelSource = Field(default_factory=ModelSource)
    """Model weights source."""
    weights: WeightsSpec = Field(default_factory=WeightsSpec)
    """How the weights are loaded (``weights.load: copy | stream``)."""
    warm_spares: int = Field(default=_SETTINGS["warm_spares"], ge=0, le=8)
    """Model-sized placeholder pods (lowest priority, the serving image, asleep) that keep this many GPU
    nodes up with the image pulled: a new replica preempts one and starts at once, and Karpenter or the
    autoscaler replaces the spare in the background. Each costs a GPU node."""
    env: dict[str, str] = Field(default_factory=dict)
    """Plain environment variables (never secrets); a model's are merged over ``modelDefaults.env``."""
    startup_budget_seconds: int | None = derived(
        "3 x the estimated weights load and server start, at least 600 s (components/cold_start.py)", ge=60, le=7200
    )
    """How long the startup probe waits for the model to load. Unset: follows the model's cold-start
    estimate (docs/adr/0012)."""
    image_size_gib: float | None = Field(default=None, gt=0, le=500, alias="imageSizeGiB")
    """Compressed size of the serving image in the registry, GiB (the cold-start estimate's image pull)."""
    metrics_path: str = _SETTINGS["metrics_path"]
    """HTTP path of the Prometheus metrics on the model port (``/metrics``, as vLLM serves them)."""
    server: Literal["vllm", "tgi", "triton", "custom"] = _SETTINGS["server"]
    """The model server. ``vllm`` has a built-in metric contract and is started with
    ``--served-model-name <model key>``; any other server declares its own ``metrics``
    (docs/metrics-contract.md)."""
    metrics: dict[str, list[str]] = Field(default_factory=dict)
    """Metric contract of a non-vLLM server: metric name -> the label names it carries as the server
    emits it. Autoscaling queries and alerts are checked against it."""
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    """Autoscaling signal."""
    canary: Canary | None = None
    """Optional A/B canary."""
    weights_size_gib: float | None = Field(default=None, gt=0, le=4096, alias="weightsSizeGiB")
    """Size of the model weights in GiB (required with ``source.s3Prefix``): sizes the ``models``
    emptyDir's ``sizeLimit`` and the pod's ephemeral-storage request, so weights never fill the node disk,
    and the cold-start estimate's weights copy and load."""
    deploy: bool = _SETTINGS["deploy"]
    """Deploy the model's workloads. Set false until its image and weights exist
    (first ``up`` of an environment or a new model): everything else (namespace, IRSA role) is created,
    the Deployment, Service, PDB, autoscaler, ServiceMonitor and Ingress path are not."""
    rollout: Literal["surge", "replace"] | None = derived("replace for GPU models, surge for CPU models")
    """``replace`` (maxSurge 0, maxUnavailable 1: no spare GPU needed; default for GPU models) or
    ``surge`` (maxSurge 1, maxUnavailable 0: needs room for one more pod; default for CPU models)."""
    drift: DriftSpec | None = None
    """Drift evaluation (a CronJob per model pushing ``model_drift_score``); unset: not evaluated."""
    lineage: Lineage | None = None
    """Model version, weights version and training run, recorded on the Deployment (required in staging and prod)."""

    @field_validator("cpu", "memory", "shm_size")
    @classmethod
    def _quantity(cls, v: str | None) -> str | None:
        return _quantity(v)


# A resolved model is the serving component's own settings type (components/model_spec.py); the
# alias keeps ``infra.config.Model`` importable for code written before the move.
Model = ModelSettings


class IngressConfig(_Model):
    """The serving ALB."""

    scheme: Literal["internal", "internet-facing"] = "internal"
    """Internal by default; internet-facing needs ``certificateArn``."""
    certificate_arn: str | None = None
    """ACM certificate ARN for HTTPS."""
    inbound_cidrs: list[str] = Field(default_factory=list)
    """CIDRs allowed to reach the ALB; empty means the VPC CIDR (internal) only. An internet-facing ALB needs an explicit list."""
    group_name: str = "serving"
    """ALB IngressGroup name (``alb.ingress.kubernetes.io/group.name``): Ingresses in one group share one ALB."""

    @field_validator("inbound_cidrs")
    @classmethod
    def _inbound(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c)
            except ValueError:
                raise ValueError(f"{c!r} is not a CIDR") from None
        return v

    @field_validator("group_name")
    @classmethod
    def _group(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?", v):
            raise ValueError("lowercase letters, digits, '-' and '.', at most 63 characters")
        return v


class CachedImage(_Model):
    """A public image pulled through the registry's pull-through cache, pinned by tag and digest.

    The image reference becomes ``<account>.dkr.ecr.<region>.amazonaws.com/<upstream>/<repository>:<tag>@<digest>``.
    """

    upstream: str = "ecr-public"
    """Pull-through cache prefix (a key of ``registry.pullThroughCache``)."""
    repository: str
    """Repository path in the upstream registry, e.g. ``aws-cli/aws-cli``."""
    tag: str
    """The upstream tag (documentation; the digest is what is pulled)."""
    digest: str
    """``sha256:…`` digest of the tag (``crane digest public.ecr.aws/<repository>:<tag>``)."""

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        return _check_tag(v) or v

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str) -> str:
        return _check_digest(v) or v

    def reference(self, account_id: str, region: str) -> str:
        """The full image reference through this account's pull-through cache."""
        return f"{account_id}.dkr.ecr.{region}.amazonaws.com/{self.upstream}/{self.repository}:{self.tag}@{self.digest}"


class ServingConfig(_Model):
    """Model serving: namespace, ingress and models."""

    namespace: str = "serving"
    """Namespace of the served models."""
    allow_scale_to_zero: bool = False
    """Allow models with ``minReplicas: 0`` (KEDA)."""
    ingress: IngressConfig = Field(default_factory=IngressConfig)
    """The ALB in front of the models."""
    model_defaults: ModelSpec = Field(default_factory=ModelSpec)
    """Shared model defaults."""
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    """Models keyed by name (a DNS label)."""
    model_sync_image: CachedImage | None = None
    """AWS CLI image of the init container that copies weights from S3; required when a model has ``source.s3Prefix``."""


def resolve_model(name: str, spec: ModelSpec, d: ModelSpec) -> ModelSettings:
    """``serving.models.<name>`` over ``serving.modelDefaults``, as the serving component takes it."""
    m = layered(spec, d, own=("canary", "drift", "lineage"))
    canary, lin = spec.canary, spec.lineage
    return ModelSettings(
        name=name,
        image=_model_image(m.image),
        args=tuple(m.args),
        port=m.port,
        gpus=m.gpus,
        cpu=m.cpu,
        memory=m.memory,
        min_replicas=m.min_replicas,
        max_replicas=m.max_replicas,
        shm_size=m.shm_size,
        source=WeightsSource(m.source.s3_prefix, m.source.pvc_size_gib),
        env={**d.env, **spec.env},
        startup_budget_seconds=m.startup_budget_seconds,
        autoscaling=ModelAutoscaling(**m.autoscaling.model_dump()),
        canary=CanarySettings(_model_image(canary.image), canary.weight, canary.version) if canary else None,
        metrics_path=m.metrics_path,
        server=m.server,
        metrics={k: tuple(v) for k, v in m.metrics.items()},
        image_size_gib=m.image_size_gib,
        weights_size_gib=m.weights_size_gib,
        deploy=m.deploy,
        rollout=m.rollout or ("replace" if m.gpus else "surge"),
        lineage=LineageSettings(**lin.model_dump()) if lin else None,
        warm_spares=m.warm_spares,
        weights_load=m.weights.load or ("stream" if m.server == "vllm" and m.source.s3_prefix else "copy"),
    )


def _model_image(ref: ImageRef | None) -> Any:
    """The serving component's image type; a missing image stays None for validation to report."""
    return None if ref is None else ModelImage(ref.repository, ref.tag, ref.digest)
