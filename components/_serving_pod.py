"""The model pod of :mod:`components.serving`: quantities, scratch volumes, and how the weights arrive.

Internal: the Serving component assembles the pod from these; the server container with its probes and the
rollout budget stay in components/serving.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import _k8s, _lineage
from components._common import policy_json
from components._serving_contracts import server_args
from components.model_spec import ModelSettings as Model
from components.vocabulary import GPU_RESOURCE

# Non-root UID the model servers run as (restricted PSA needs a non-zero UID; vLLM's image
# runs fine as any UID when HOME and the caches point at writable emptyDirs).
MODEL_UID = 1000
MODELS_DIR = "/models"
# Scratch volumes of every model pod, and headroom for its writable layer and logs (GiB).
TMP_GIB, CACHE_GIB, WRITABLE_GIB = 2, 20, 2
INIT_CPU, INIT_MEMORY = "1", "2Gi"


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


def image_ref(repo_url: str, tag: str | None, digest: str | None) -> str:
    """``repo@sha256:…`` (digest wins) or ``repo:tag``."""
    return f"{repo_url}@{digest}" if digest else f"{repo_url}:{tag}"


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


def prefix_of(model: Model) -> str:
    """The model's S3 prefix as a directory (``models/x/``), so ``models/x*`` cannot match ``models/xy``."""
    if not model.source.s3_prefix:
        raise ValueError("prefix_of: the model has no S3 source")
    return model.source.s3_prefix.strip("/") + "/"


def scratch_volumes(m: Model) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) every model pod has: memory-backed ``/dev/shm``, ``/tmp`` and the caches, all sized."""
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
    return volumes, mounts


@dataclass(frozen=True)
class Weights:
    """How a pod gets its model's weights: extra volumes, mounts, init containers, env and server args."""

    args: Any
    """The server's args (an Output when they name the bucket)."""
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    init: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def weights(
    mname: str,
    m: Model,
    *,
    region: str,
    bucket: pulumi.Output[str],
    sync_image: str | None,
    claim_name: pulumi.Input[str] | None,
) -> Weights:
    """Streamed from S3, copied from S3 by an init container, mounted from a PVC cache, or in the image."""
    if m.source.s3_prefix and m.weights_load == "stream":
        # The server streams the safetensors from S3 into GPU memory with the model's IRSA role: no
        # copy, no weights volume. vLLM: `vllm serve s3://bucket/prefix --load-format runai_streamer`
        # (vllm-project/vllm docs/models/extensions/runai_model_streamer.md, v0.11.0).
        return Weights(args=bucket.apply(lambda b: streaming_args(mname, m, b)), env=streamer_env(region, m))
    if m.source.s3_prefix:
        return Weights(
            args=server_args(mname, m),
            volumes=[{"name": "models", "emptyDir": {"sizeLimit": f"{models_volume_gib(m)}Gi"}}],
            mounts=[{"name": "models", "mountPath": MODELS_DIR, "readOnly": True}],
            init=[fetch_model_init(mname, m, region, bucket, sync_image)],
            env={"HF_HUB_OFFLINE": "1"},
        )
    if claim_name is not None:
        return Weights(
            args=server_args(mname, m),
            volumes=[{"name": "models", "persistentVolumeClaim": {"claimName": claim_name}}],
            mounts=[{"name": "models", "mountPath": MODELS_DIR}],
        )
    return Weights(args=server_args(mname, m))


def fetch_model_init(
    mname: str, m: Model, region: str, bucket: pulumi.Output[str], sync_image: str | None
) -> dict[str, Any]:
    """The init container that copies the weights from S3 into the ``models`` emptyDir."""
    src = bucket.apply(lambda b: f"s3://{b}/{prefix_of(m)}")
    return {
        "name": "fetch-model",
        "image": sync_image,
        "args": ["s3", "sync", src, f"{MODELS_DIR}/{mname}", "--only-show-errors", "--no-progress"],
        "env": [
            {"name": "AWS_REGION", "value": region},
            {"name": "HOME", "value": "/tmp"},  # noqa: S108
        ],
        "resources": _k8s.resources(INIT_CPU, INIT_MEMORY),
        "securityContext": dict(_k8s.RESTRICTED_CONTAINER),
        "volumeMounts": [
            {"name": "models", "mountPath": MODELS_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
        ],
    }


def topology_spread(selector: dict[str, str]) -> list[dict[str, Any]]:
    """Spread a track's replicas over zones and nodes, softly."""
    return [
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


def canary_replicas(model: Model) -> tuple[int, int]:
    """(min, max) replicas of a canary: at least one unless the primary may scale to zero, at most its share."""
    if model.canary is None:
        raise ValueError("canary_replicas: the model has no canary")
    low = 0 if model.min_replicas == 0 else 1
    return low, max(1, math.ceil(model.max_replicas * model.canary.weight / 100))


def track_lineage(
    mname: str, m: Model, canary: bool, image: pulumi.Output[str], digest: str | None, bucket: pulumi.Output[str]
) -> dict[str, Any]:
    """Lineage annotations (components/_lineage.py): the image, the weights and the run behind this track."""
    lin = m.lineage
    if m.source.s3_prefix:
        prefix = prefix_of(m)
        weights: pulumi.Input[str] = bucket.apply(lambda b: f"s3://{b}/{prefix}")
    else:
        weights = f"pvc://{mname}-models" if m.source.pvc_size_gib else "image"
    canary_version = m.canary.version if canary and m.canary else None
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


# Defaults for anything created without requests (debug pods); the namespace's quota requires them.
LIMIT_RANGE: dict[str, Any] = {
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
}
