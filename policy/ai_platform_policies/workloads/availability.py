"""Availability: minimum replicas, PodDisruptionBudgets, topology spread, no bare Pods, Job clean-up
(catalogue §3.8, K8S-18…20).
"""

from __future__ import annotations

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from .._util import (
    STACK_FILE,
    PolicyList,
    ReportViolation,
    as_list,
    get,
    k8s_kind,
    labels_match,
    namespace_of,
    num,
    object_name,
    pod_metadata,
    pod_spec,
    requests_gpu,
    workload_label,
)
from ._common import (
    DEPLOYMENT,
    HPA,
    PDB,
    SCALED_OBJECT,
    STATEFULSET,
    pod_of,
)

POLICIES = PolicyList()


def _min_replicas_of(args: StackValidationArgs, r: PolicyResource) -> float:
    name = object_name(r.props, r.name)
    for s in args.resources:
        if s.resource_type == HPA and get(s.props, "spec.scaleTargetRef.name") == name:
            return num(get(s.props, "spec.minReplicas"), 1) or 1
        if s.resource_type == SCALED_OBJECT and get(s.props, "spec.scaleTargetRef.name") == name:
            return num(get(s.props, "spec.minReplicaCount"), 0) or 0
    return num(get(r.props, "spec.replicas"), 1) or 1


@POLICIES.stack(
    "k8s-deployment-min-replicas",
    "Serving workloads keep enough replicas (HPA/KEDA minimum counts) (K8S-18; PC minimum-replica-count).",
    Severity.HIGH,
    config={
        "namespaces": {"type": "array", "items": {"type": "string"}, "default": ["serving"]},
        "minReplicas": {"type": "integer", "default": 2},
        "minGpuReplicas": {"type": "integer", "default": 1},
        "exclude": {
            "type": "array",
            "default": [],
            "description": "Workloads (by metadata.labels) with a reason, e.g. canaries that run one replica by design.",
            "items": {
                "type": "object",
                "required": ["matchLabels", "reason"],
                "properties": {"matchLabels": {"type": "object"}, "reason": {"type": "string", "minLength": 10}},
            },
        },
    },
)
def _min_replicas(args: StackValidationArgs, report: ReportViolation) -> None:
    """Deployments in serving namespaces keep at least the configured minimum replicas (from their HPA/KEDA)."""
    cfg = args.get_config()
    excluded = [e.get("matchLabels") or {} for e in as_list(cfg.get("exclude")) if e.get("reason")]
    for r in args.resources:
        if r.resource_type not in (DEPLOYMENT, STATEFULSET):
            continue
        if namespace_of(r.props) not in [str(n) for n in as_list(cfg.get("namespaces"))]:
            continue
        labels = get(r.props, "metadata.labels") or {}
        if any(ml and all(labels.get(k) == ml[k] for k in ml) for ml in excluded):
            continue
        gpu = requests_gpu(pod_spec(r.resource_type, r.props))
        want = num(cfg.get("minGpuReplicas" if gpu else "minReplicas"), 2) or 2
        have = _min_replicas_of(args, r)
        if have < want:
            report(
                f"{k8s_kind(r.resource_type)} {namespace_of(r.props)}/{object_name(r.props, r.name)} can run "
                f"{have:g} replica(s), below {want:g}: raise serving.models.<name>.minReplicas in {STACK_FILE}",
                r.urn,
            )


@POLICIES.stack(
    "k8s-serving-deployment-pdb",
    "Every serving Deployment is covered by a PodDisruptionBudget (K8S-18; kube-linter pdb-*).",
    Severity.HIGH,
    config={"namespaces": {"type": "array", "items": {"type": "string"}, "default": ["serving"]}},
)
def _pdb_coverage(args: StackValidationArgs, report: ReportViolation) -> None:
    """Deployments in serving namespaces have a PodDisruptionBudget selecting their pods."""
    namespaces = [str(n) for n in as_list(args.get_config().get("namespaces"))]
    pdbs = [r for r in args.resources if r.resource_type == PDB]
    for r in args.resources:
        if r.resource_type not in (DEPLOYMENT, STATEFULSET) or namespace_of(r.props) not in namespaces:
            continue
        labels = get(pod_metadata(r.resource_type, r.props), "labels") or {}
        ns = namespace_of(r.props)
        if not any(namespace_of(p.props) == ns and labels_match(get(p.props, "spec.selector"), labels) for p in pdbs):
            report(
                f"{k8s_kind(r.resource_type)} {ns}/{object_name(r.props, r.name)} has no PodDisruptionBudget: node "
                "drains and upgrades can take every replica at once; add a PDB with maxUnavailable: 1 selecting its pods",
                r.urn,
            )


@POLICIES.resource(
    "k8s-pdb-allows-disruption",
    "PDBs permit at least one voluntary disruption and evict unhealthy pods (K8S-18; PC pdb zero-disruption).",
    Severity.HIGH,
    [PDB],
)
def _pdb_allows(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """PDBs allow at least one disruption and set unhealthyPodEvictionPolicy: AlwaysAllow."""
    spec = args.props.get("spec") or {}
    mu, ma = spec.get("maxUnavailable"), spec.get("minAvailable")
    blocked = (mu is not None and str(mu).rstrip("%") in ("0", "0.0")) or (ma is not None and str(ma) == "100%")
    name = object_name(args.props, args.name)
    if mu is None and ma is None:
        report(f"PodDisruptionBudget '{name}' sets neither maxUnavailable nor minAvailable: set maxUnavailable: 1")
    elif blocked:
        report(
            f"PodDisruptionBudget '{name}' allows no voluntary disruption, so nodes can never drain: set maxUnavailable: 1"
        )
    if spec.get("unhealthyPodEvictionPolicy") != "AlwaysAllow":
        report(
            f"PodDisruptionBudget '{name}' lets crash-looping pods block drains: set unhealthyPodEvictionPolicy: AlwaysAllow"
        )


@POLICIES.resource(
    "k8s-deployment-topology-spread",
    "Replicated workloads spread across nodes/AZs (K8S-18; kube-linter no-anti-affinity).",
    Severity.MEDIUM,
    [DEPLOYMENT, STATEFULSET],
    config={"alwaysRequire": {"type": "boolean", "default": False}},
)
def _spread(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # No `replicas` means an HPA/ScaledObject owns the count, so it can grow past one: spread it.
    """Deployments and StatefulSets that may run several replicas spread them over zones or nodes."""
    replicas = num(get(args.props, "spec.replicas"), 2) or 0
    spec = pod_of(args)
    if args.resource_type not in (DEPLOYMENT, STATEFULSET):
        return
    if replicas <= 1 and not args.get_config().get("alwaysRequire"):
        return
    if not spec.get("topologySpreadConstraints") and not get(spec, "affinity.podAntiAffinity"):
        report(
            f"{workload_label(args)} may put every replica on one node or AZ: set topologySpreadConstraints over "
            "topology.kubernetes.io/zone and kubernetes.io/hostname"
        )


@POLICIES.resource(
    "k8s-no-bare-pods",
    "No bare Pods (K8S-19; PC disallow-pod).",
    Severity.CRITICAL,
    ["kubernetes:core/v1:Pod"],
)
def _bare_pod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No bare Pod objects."""
    report(f"{workload_label(args)} is a bare Pod: nothing recreates it when its node goes; use a Deployment or Job")


@POLICIES.resource(
    "k8s-job-ttl-after-finished",
    "Jobs clean up after themselves (K8S-20; kube-linter job-ttl-seconds-after-finished).",
    Severity.LOW,
    ["kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"],
)
def _job_ttl(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Jobs and CronJobs set ttlSecondsAfterFinished."""
    path = (
        "spec.jobTemplate.spec.ttlSecondsAfterFinished"
        if k8s_kind(args.resource_type) == "CronJob"
        else "spec.ttlSecondsAfterFinished"
    )
    if get(args.props, path) is None:
        report(f"{workload_label(args)} keeps finished pods forever: set {path}")
