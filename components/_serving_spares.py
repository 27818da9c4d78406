"""Warm GPU spares of the serving models (``warmSpares``), internal to :mod:`components.serving`.

Placeholders the size of one replica, asleep in the serving image: they keep GPU nodes up with the image
already pulled. The scheduler preempts one for a new replica (Kubernetes PriorityClass docs, "Preemption");
the displaced placeholder goes Pending and brings up the next spare node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import _k8s
from components._serving_pod import MODEL_UID
from components.model_spec import ModelSettings as Model

_K8S: Any = k8s  # camelCase dicts through an untyped alias, as in components/serving.py

# Warm GPU spares (``warmSpares``): their PriorityClass and the label naming the model they stand in for.
SPARE_PRIORITY_CLASS = "platform-warm-spare"
SPARE_LABEL = "platform.ai/warm-spare-for"


def spare_priority_class(parent: pulumi.Resource, name: str) -> pulumi.Resource:
    """Below every other pod and never preempting: placeholders only ever give way."""
    return _K8S.scheduling.v1.PriorityClass(
        f"{name}-warm-spare-priority",
        metadata={"name": SPARE_PRIORITY_CLASS},
        value=-10,
        preemption_policy="Never",
        global_default=False,
        description="Warm GPU spares of the serving models: preempted by any real pod.",
        opts=pulumi.ResourceOptions(parent=parent),
    )


def spare_pod(m: Model, image: pulumi.Input[str], service_account: pulumi.Input[str]) -> dict[str, Any]:
    """The placeholder pod: one replica's resources, ``sleep`` in the serving image, preempted at once."""
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
    return {
        "priorityClassName": SPARE_PRIORITY_CLASS,
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "securityContext": _k8s.restricted_pod(MODEL_UID),
        # Preemption must free the GPU at once.
        "terminationGracePeriodSeconds": 0,
        "containers": [container],
        **_k8s.gpu_placement(m.gpus),
    }


def warm_spares(
    parent: pulumi.Resource,
    prefix: str,
    mname: str,
    m: Model,
    ns: pulumi.Input[str],
    labels: Mapping[str, str],
    image: pulumi.Input[str],
    service_account: pulumi.Input[str],
    priority: pulumi.Resource,
) -> None:
    """The spares' Deployment (``<model>-warm-spare``) and its PodDisruptionBudget, children of ``parent``."""
    labels = dict(labels)
    _K8S.apps.v1.Deployment(
        f"{prefix}-warm-spare",
        metadata={"name": f"{mname}-warm-spare", "namespace": ns, "labels": labels},
        spec={
            "replicas": m.warm_spares,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spare_pod(m, image, service_account)},
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[priority]),
    )
    _K8S.policy.v1.PodDisruptionBudget(
        f"{prefix}-warm-spare-pdb",
        metadata={"name": f"{mname}-warm-spare", "namespace": ns, "labels": labels},
        spec={
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": labels},
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
