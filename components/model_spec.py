"""The settings of one served model, as :class:`~components.serving.Serving` takes them.

Component-owned types (frozen dataclasses, standard library only): ``infra/config`` validates the
stack file and resolves ``serving.modelDefaults`` into these, so the serving component never sees a
config model. Defaults here are the platform's; the config layer fills every field it knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ModelImage:
    """An image in one of the platform's repositories, pinned by digest or immutable tag."""

    repository: str
    """Name of the platform repository (a key of ``ServingArgs.repositories``)."""
    tag: str | None = None
    """Immutable tag."""
    digest: str | None = None
    """``sha256:…`` digest; wins over the tag."""


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from: an S3 prefix of the artifact bucket, a PVC cache, or the image."""

    s3_prefix: str | None = None
    """Key prefix in the artifact bucket, read by the model's own IRSA role."""
    pvc_size_gib: int | None = None
    """Size of a PVC model cache instead of S3."""


@dataclass(frozen=True)
class ModelAutoscaling:
    """How a model scales."""

    type: Literal["cpu", "keda"] = "cpu"
    """``cpu``: HorizontalPodAutoscaler on CPU; ``keda``: KEDA on a Prometheus query."""
    target_cpu_percent: int = 70
    """CPU target for ``cpu``."""
    query: str | None = None
    """PromQL for ``keda``; ``$model`` and ``$track`` are substituted per replica track."""
    threshold: float = 5.0
    """Per-replica target for the ``keda`` query."""


@dataclass(frozen=True)
class CanarySettings:
    """A second version of a model that receives a share of the traffic."""

    image: ModelImage
    """The canary's image."""
    weight: int
    """Percent of traffic for the canary (1-99)."""
    version: str | None = None
    """The canary's model version; None: the primary's lineage version."""


@dataclass(frozen=True)
class LineageSettings:
    """Where a served model comes from (``platform.ai/*`` annotations, components/_lineage.py)."""

    version: str
    """Model version."""
    weights_s3_version_id: str | None = None
    """S3 version id of the weights' main object."""
    dvc_hash: str | None = None
    """DVC hash of the weights."""
    mlflow_run_id: str | None = None
    """MLflow run that trained or registered the model."""


@dataclass(frozen=True)
class ModelSettings:
    """A served model with every default applied."""

    name: str
    """The model key (a DNS label)."""
    image: ModelImage
    """Serving image."""
    args: tuple[str, ...]
    """Container arguments."""
    port: int
    """Container port."""
    gpus: int
    """``nvidia.com/gpu`` per replica."""
    cpu: str
    """CPU per replica (requests equal limits)."""
    memory: str
    """Memory per replica (requests equal limits)."""
    min_replicas: int
    """Minimum replicas."""
    max_replicas: int
    """Maximum replicas."""
    shm_size: str
    """Size of ``/dev/shm``."""
    source: WeightsSource
    """Model weights source."""
    env: Mapping[str, str]
    """Plain environment variables."""
    startup_budget_seconds: int | None
    """How long the startup probe waits for the model to load; None follows the cold-start estimate
    (components/cold_start.py: 3 x the estimated weights load and server start, at least 600 s)."""
    autoscaling: ModelAutoscaling
    """Autoscaling signal."""
    canary: CanarySettings | None
    """Optional A/B canary."""
    metrics_path: str = "/metrics"
    """HTTP path of the Prometheus metrics on the model port."""
    server: str = "custom"
    """The model server (``vllm`` has a built-in metric contract)."""
    metrics: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Metric contract of a non-vLLM server: metric name -> label names."""
    image_size_gib: float | None = None
    """Compressed image size (cold-start estimate)."""
    weights_size_gib: float | None = None
    """Size of the weights; sizes the models emptyDir and the ephemeral-storage request."""
    deploy: bool = True
    """Deploy the model's workloads (false until its image and weights exist)."""
    weights_load: Literal["copy", "stream"] = "copy"
    """``stream`` (the server reads S3 directly) or ``copy`` (init container, then start)."""
    warm_spares: int = 0
    """Placeholder pods holding warm GPU nodes for this model's scale-out."""
    rollout: Literal["surge", "replace"] = "replace"
    """``replace`` (no spare GPU needed) or ``surge``."""
    lineage: LineageSettings | None = None
    """Model version, weights version and training run."""


def served_model_name(model: ModelSettings) -> str | None:
    """The ``--served-model-name`` a model's args set (the last occurrence wins, as argparse does), or None."""
    found = None
    args = list(model.args)
    for i, a in enumerate(args):
        if a == "--served-model-name" and i + 1 < len(args):
            found = args[i + 1]
        elif a.startswith("--served-model-name="):
            found = a.split("=", 1)[1]
    return found
