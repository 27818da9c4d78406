"""The model server container and its rollout budget (internal to :mod:`components.serving`).

Probes, the preStop drain and how long ``pulumi up`` waits for a Deployment live here, together: the startup
probe's budget and the rollout timeout are two views of the same cold start (blueprint/preview/analyses/cold_start.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pulumi

from components import _k8s, cold_start
from components._serving_pod import Weights, copies_weights, ephemeral_gib
from components.model_spec import ModelSettings as Model

PROBE_PERIOD_SECONDS = 10
# ALB deregistration is asynchronous: keep serving while the target drains
# (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/pod_readiness_gate/).
PRESTOP_SLEEP_SECONDS = 15
# The Pulumi Kubernetes provider waits this long for a Deployment rollout instead of its 10-minute
# default (pulumi-kubernetes provider/pkg/metadata/annotations.go AnnotationTimeoutSeconds; a
# customTimeouts resource option would win over it, overrides.go TimeoutDuration).
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
# ...but never longer than the deploy job can wait: deploy.yml's jobs stop after 120 minutes, and a job
# killed mid-`up` leaves the DIY backend's lock behind (docs/operations.md, "Stale locks"). When Pulumi
# stops waiting, Kubernetes keeps rolling out; the next `up` (or `pulumi refresh`) sees the result.
# tests/delivery keeps this under every deploy job's timeout.
ROLLOUT_TIMEOUT_CAP_SECONDS = 90 * 60


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


def server_container(m: Model, image: pulumi.Output[str], w: Weights, mounts: list[dict[str, Any]]) -> dict[str, Any]:
    """The model server: its port, env, sized resources, probes and a preStop drain."""
    env = {"HOME": "/tmp", "XDG_CACHE_HOME": "/cache", "HF_HOME": "/cache/huggingface"}  # noqa: S108
    env |= w.env
    env.update(m.env)
    probe = {
        "httpGet": {"path": "/health", "port": "http"},
        "periodSeconds": PROBE_PERIOD_SECONDS,
        "timeoutSeconds": 5,
    }
    return {
        "name": "server",
        "image": image,
        "args": w.args,
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
