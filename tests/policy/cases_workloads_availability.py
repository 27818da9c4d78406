"""Fixture rows of the policies in policy/ai_platform_policies/workloads/availability.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    GOOD,
    JOB,
    LABELS,
    PDB,
    POD,
    SCALED,
    case,
    deep,
    dep,
    deployment,
    gpu_deployment,
    pod,
    without,
)
from tests.policy.harness import R

SCALED_R = R(
    SCALED,
    {
        "metadata": {"name": "llama", "namespace": "serving"},
        "spec": {"scaleTargetRef": {"name": "llama"}, "minReplicaCount": 2.0},
    },
    "so",
)
case(
    "k8s-deployment-min-replicas",
    [dep(gpu_deployment(replicas=1.0)), SCALED_R],
    [dep(gpu_deployment(replicas=1.0))],
    "raise serving.models.<name>.minReplicas",
    [dep(without(gpu_deployment(), "spec.replicas"))],
    True,
    minGpuReplicas=2,
    minReplicas=3,
)
PDB_OK = {
    "metadata": {"name": "llama", "namespace": "serving"},
    "spec": {
        "maxUnavailable": 1.0,
        "selector": {"matchLabels": {"app": "llama"}},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    },
}
case(
    "k8s-serving-deployment-pdb",
    [GOOD, R(PDB, PDB_OK, "pdb")],
    [GOOD, R(PDB, deep(PDB_OK, "spec.selector.matchLabels", {"app": "other"}), "pdb")],
    "add a PDB with maxUnavailable: 1",
    [GOOD, R(PDB, without(PDB_OK, "spec.selector"), "pdb")],
    True,
)
case(
    "k8s-pdb-allows-disruption",
    R(PDB, PDB_OK),
    R(PDB, deep(PDB_OK, "spec.maxUnavailable", 0.0)),
    "allows no voluntary disruption",
    R(PDB, without(PDB_OK, "spec.maxUnavailable")),
    True,
)
SPREAD = [
    {
        "maxSkew": 1.0,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "llama"}},
    }
]
case(
    "k8s-deployment-topology-spread",
    dep(deployment(pod(topologySpreadConstraints=SPREAD))),
    GOOD,
    "set topologySpreadConstraints",
    dep(without(deployment(), "spec.template.spec")),
    True,
)
case(
    "k8s-no-bare-pods",
    GOOD,
    R(POD, {"metadata": {"name": "debug", "namespace": "serving"}, "spec": pod()}),
    "use a Deployment or Job",
    R(POD, {}),
    True,
)
JOB_OK = {
    "metadata": {"name": "warm", "namespace": "serving", "labels": LABELS},
    "spec": {"ttlSecondsAfterFinished": 3600.0, "template": {"spec": pod()}},
}
case(
    "k8s-job-ttl-after-finished",
    R(JOB, JOB_OK),
    R(JOB, without(JOB_OK, "spec.ttlSecondsAfterFinished")),
    "set spec.ttlSecondsAfterFinished",
    R(JOB, {}),
    True,
)
