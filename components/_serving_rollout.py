"""The model server container and its rollout budget (internal to :mod:`components.serving`).

Probes, the preStop drain and how long ``pulumi up`` waits for a Deployment live here, together: the startup
probe's budget and the rollout timeout are two views of the same cold start (blueprint/preview/analyses/cold_start.py).
"""

from __future__ import annotations

import math
from typing import Any

import pulumi

from components import _k8s
from components._serving_pod import Weights, copies_weights, ephemeral_gib
from components.model_spec import ModelSettings as Model

PROBE_PERIOD_SECONDS = 10
# ALB deregistration is asynchronous: keep serving while the target drains
# (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/pod_readiness_gate/).
PRESTOP_SLEEP_SECONDS = 15
# Rollout budget: a GPU node from zero (launch, join, device plugin) and an image pull of a multi-GB
# serving image, each an upper bound; weights copy at >= 100 MiB/s from S3 through the gateway endpoint.
NODE_PROVISION_SECONDS, IMAGE_PULL_SECONDS, COPY_SECONDS_PER_GIB = 600, 900, 10
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


def rollout_timeout_seconds(model: Model) -> int:
    """How long ``pulumi up`` waits for a rollout: a node, an image pull, the weights copy and the startup
    budget for the first pod, then one pod start per further replica (pods are replaced one at a time),
    capped at what a deploy job can wait (``ROLLOUT_TIMEOUT_CAP_SECONDS``)."""
    copy = (model.weights_size_gib or 0) * COPY_SECONDS_PER_GIB if copies_weights(model) else 0
    pod = IMAGE_PULL_SECONDS + math.ceil(copy)
    pod += model.startup_budget_seconds
    return min(ROLLOUT_TIMEOUT_CAP_SECONDS, NODE_PROVISION_SECONDS + pod * max(1, model.max_replicas))


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
        # The budget is failureThreshold x period: large weights load before liveness starts.
        "startupProbe": {**probe, "failureThreshold": math.ceil(m.startup_budget_seconds / PROBE_PERIOD_SECONDS)},
        "readinessProbe": {**probe, "failureThreshold": 3},
        "livenessProbe": {**probe, "periodSeconds": 20, "failureThreshold": 3},
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SLEEP_SECONDS}}},
        "securityContext": dict(_k8s.RESTRICTED_CONTAINER),
        "volumeMounts": mounts,
    }
