"""Kubernetes workloads, namespaces, PDBs, RBAC and API versions (catalogue §3.8, K8S-01…24).

Pod-security policies accept narrow exemptions from policy config (``exemptions``: namespace +
image prefixes + what is allowed + a reason), for the GPU and monitoring daemons that need host
access (catalogue §4). Nothing else is exempt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Policy, PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    CLUSTER_SCOPED_KINDS,
    CONFIG_FILES_SCHEMA,
    EXEMPTIONS_SCHEMA,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    HELM_RELEASE,
    STACK_FILE,
    WORKLOAD_TYPES,
    PlatformStackPolicy,
    ReportViolation,
    TypedResourcePolicy,
    as_list,
    config_files_hint,
    containers,
    exempt,
    get,
    iter_containers,
    k8s_api_version,
    k8s_kind,
    labels_match,
    namespace_of,
    num,
    object_name,
    pod_metadata,
    pod_spec,
    requests_gpu,
    tolerates_gpu_taint,
    workload_label,
)

WORKLOADS = sorted(WORKLOAD_TYPES)
NAMESPACE = "kubernetes:core/v1:Namespace"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
ROLE_TYPES = ["kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"]
BINDING_TYPES = [
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
]
SAFE_CAPABILITIES = ["NET_BIND_SERVICE"]
SYSTEM_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"]
# API versions removed from Kubernetes by 1.34 (deprecation guide, kubernetes.io/docs/reference/using-api/deprecation-guide/).
REMOVED_API_VERSIONS = [
    "extensions/v1beta1",
    "apps/v1beta1",
    "apps/v1beta2",
    "policy/v1beta1",
    "batch/v1beta1",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "networking.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "rbac.authorization.k8s.io/v1beta1",
    "storage.k8s.io/v1beta1",
    "admissionregistration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "scheduling.k8s.io/v1beta1",
    "discovery.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "node.k8s.io/v1beta1",
    "certificates.k8s.io/v1beta1",
    "coordination.k8s.io/v1beta1",
    "events.k8s.io/v1beta1",
]
_EXEMPT_CFG = {"exemptions": EXEMPTIONS_SCHEMA}
_SYSTEM_NS_SCHEMA = {
    "type": "array",
    "default": [],
    "description": "Platform namespaces (node daemons) this namespace rule does not apply to, each with a reason.",
    "items": {
        "type": "object",
        "required": ["namespace", "reason"],
        "properties": {"namespace": {"type": "string"}, "reason": {"type": "string", "minLength": 10}},
    },
}
_WHERE = "(the component that builds the object, components/*.py)"


def _pod(args: ResourceValidationArgs) -> Mapping[str, Any]:
    return pod_spec(args.resource_type, args.props) or {}


def _cname(c: Mapping[str, Any]) -> str:
    return str(c.get("name") or "?")


# --------------------------------------------------------------------------- pod security (K8S-01…09)
def _privileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        if get(c, "securityContext.privileged") is True and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{_cname(c)}' is privileged: remove securityContext.privileged {_WHERE}"
            )


def _host_namespaces(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec, ns, cfg = _pod(args), namespace_of(args.props), args.get_config()
    used = [k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    images = [img for _, img in iter_containers(args)]
    bad = [k for k in used if not (images and all(exempt(cfg, ns, img, k) for img in images))]
    if bad:
        report(f"{workload_label(args)} shares the node's {', '.join(bad)}: remove {', '.join(bad)} {_WHERE}")


def _host_path(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec, ns, cfg = _pod(args), namespace_of(args.props), args.get_config()
    by_volume: dict[str, list[str]] = {}
    for c, image in iter_containers(args):
        for m in as_list(c.get("volumeMounts")):
            by_volume.setdefault(str(m.get("name")), []).append(image)
    for v in as_list(spec.get("volumes")):
        path = get(v, "hostPath.path")
        if path is None:
            continue
        path = str(path)
        users = by_volume.get(str(v.get("name")), []) or [""]
        if path.endswith(("docker.sock", "containerd.sock", "crio.sock")):
            report(f"{workload_label(args)} mounts the container runtime socket {path}: never allowed (node takeover)")
        elif not all(exempt(cfg, ns, img, path) for img in users):
            report(
                f"{workload_label(args)} mounts hostPath {path}: use a PVC/emptyDir, or add a narrow exemption "
                "(namespace, image, allow: [path], reason) to this policy in policy/config/tiers/<tier>.json"
            )


def _host_port(args: ResourceValidationArgs, report: ReportViolation) -> None:
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        for p in as_list(c.get("ports")):
            if num(p.get("hostPort")) and not exempt(cfg, ns, image, "hostPort"):
                report(
                    f"{workload_label(args)} container '{_cname(c)}' binds hostPort {p.get('hostPort'):g}: expose it through a Service"
                )


def _capabilities(args: ResourceValidationArgs, report: ReportViolation) -> None:
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        caps = get(c, "securityContext.capabilities") or {}
        drop = [str(x) for x in as_list(caps.get("drop"))]
        added = [str(x) for x in as_list(caps.get("add")) if str(x) not in SAFE_CAPABILITIES]
        if "ALL" not in drop and not exempt(cfg, ns, image, "drop-all"):
            report(
                f"{workload_label(args)} container '{_cname(c)}' keeps the default capabilities (incl. NET_RAW): set "
                f"securityContext.capabilities.drop: [ALL] {_WHERE}"
            )
        bad = [a for a in added if not exempt(cfg, ns, image, a)]
        if bad:
            report(f"{workload_label(args)} container '{_cname(c)}' adds capabilities {bad}: add only NET_BIND_SERVICE")


def _privilege_escalation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        if get(c, "securityContext.allowPrivilegeEscalation") is not False and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{_cname(c)}' may gain privileges (setuid): set "
                f"securityContext.allowPrivilegeEscalation: false {_WHERE}"
            )


def _non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec, ns, cfg = _pod(args), namespace_of(args.props), args.get_config()
    pod_nonroot = get(spec, "securityContext.runAsNonRoot")
    pod_user = num(get(spec, "securityContext.runAsUser"))
    for c, image in iter_containers(args):
        nonroot = get(c, "securityContext.runAsNonRoot", pod_nonroot)
        user = num(get(c, "securityContext.runAsUser"), pod_user)
        if (nonroot is not True or user == 0) and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{_cname(c)}' may run as root: set securityContext.runAsNonRoot: "
                f"true and a non-zero runAsUser {_WHERE}"
            )


def _seccomp(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec, ns, cfg = _pod(args), namespace_of(args.props), args.get_config()
    pod_profile = get(spec, "securityContext.seccompProfile.type")
    for c, image in iter_containers(args):
        prof = get(c, "securityContext.seccompProfile.type", pod_profile)
        if prof not in ("RuntimeDefault", "Localhost") and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{_cname(c)}' runs without a seccomp profile: set "
                f"securityContext.seccompProfile.type: RuntimeDefault on the pod {_WHERE}"
            )


def _read_only_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        if get(c, "securityContext.readOnlyRootFilesystem") is not True and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{_cname(c)}' can write its root filesystem: set "
                "securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes for /tmp and caches"
            )


# --------------------------------------------------------------------------- reliability (K8S-10, 11)
def _resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for c in containers(_pod(args)):
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        missing = [f"requests.{k}" for k in ("cpu", "memory") if k not in req] + [
            f"limits.{k}" for k in ("memory",) if k not in lim
        ]
        if args.get_config().get("requireCpuLimits") and "cpu" not in lim:
            missing.append("limits.cpu")
        if missing:
            report(
                f"{workload_label(args)} container '{_cname(c)}' has no {', '.join(missing)}: set resources {_WHERE}"
            )
        if GPU_RESOURCE in req and (GPU_RESOURCE not in lim or str(lim[GPU_RESOURCE]) != str(req[GPU_RESOURCE])):
            report(
                f"{workload_label(args)} container '{_cname(c)}' requests {GPU_RESOURCE} without an equal limit: "
                f"extended resources are set in resources.limits (serving.models.<name>.gpus in {STACK_FILE})"
            )


def _probes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if k8s_kind(args.resource_type) in ("Job", "CronJob"):
        return
    for c in containers(_pod(args), init=False):
        missing = [p for p in ("livenessProbe", "readinessProbe") if not c.get(p)]
        if missing:
            report(
                f"{workload_label(args)} container '{_cname(c)}' has no {' or '.join(missing)}: add them (and a "
                f"startupProbe for slow model loads; serving.models.<name>.startupBudgetSeconds in {STACK_FILE})"
            )


# --------------------------------------------------------------------------- supply chain (K8S-12)
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _image(args: ResourceValidationArgs, report: ReportViolation) -> None:
    cfg = args.get_config()
    registries = [str(r) for r in as_list(cfg.get("allowedRegistries"))]
    if registries and cfg.get("stackRegistry"):
        # The stack's own ECR registry, derived from its accountId/region by blueprint/policy_config.py.
        registries.append(str(cfg["stackRegistry"]))
    digest = bool(cfg.get("requireDigest"))
    for c, image in iter_containers(args):
        name = image.split("@", 1)[0]
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
        pinned = bool(_DIGEST.search(image))
        if not image:
            report(f"{workload_label(args)} container '{_cname(c)}' has no image")
            continue
        if not pinned and tag in ("", "latest"):
            report(
                f"{workload_label(args)} container '{_cname(c)}' image {image} floats ({tag or 'no tag'}): pin a tag "
                f"or digest (serving.models.<name>.image / images.* in {STACK_FILE})"
            )
        elif digest and not pinned:
            report(
                f"{workload_label(args)} container '{_cname(c)}' image {image} is not pinned by digest: set "
                f"serving.models.<name>.image.digest (or images.runnerImage.digest) in {STACK_FILE}"
            )
        host = (
            image.split("/", 1)[0]
            if "/" in image and ("." in image.split("/", 1)[0] or ":" in image.split("/", 1)[0])
            else "docker.io"
        )
        if registries and not any(
            host == r or host.endswith("." + r.lstrip("*.")) or image.startswith(r) for r in registries
        ):
            report(
                f"{workload_label(args)} container '{_cname(c)}' pulls from {host}, outside the allowlist "
                f"{registries}: mirror it into ECR (registry.pullThroughCache in {STACK_FILE}) or add it to "
                f"allowedRegistries in {config_files_hint(cfg)}"
            )


# --------------------------------------------------------------------------- identity (K8S-13, 15)
def _service_account(args: ResourceValidationArgs, report: ReportViolation) -> None:
    sa = _pod(args).get("serviceAccountName") or _pod(args).get("serviceAccount")
    if not sa or sa == "default":
        report(
            f"{workload_label(args)} runs as the namespace's default service account: create a dedicated ServiceAccount and set serviceAccountName"
        )


def _automount(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _pod(args)
    sa = str(spec.get("serviceAccountName") or "default")
    api_users = {str(s) for s in as_list(args.get_config().get("apiServiceAccounts"))}
    if spec.get("automountServiceAccountToken") is not False and f"{namespace_of(args.props)}/{sa}" not in api_users:
        report(
            f"{workload_label(args)} mounts a Kubernetes API token it does not need: set "
            "automountServiceAccountToken: false (or list '<ns>/<sa>' in apiServiceAccounts in policy/config/tiers/<tier>.json "
            "if it calls the API)"
        )


def _secrets_as_files(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for c in containers(_pod(args)):
        names = [str(e.get("name")) for e in as_list(c.get("env")) if get(e, "valueFrom.secretKeyRef")]
        names += [f"envFrom {get(e, 'secretRef.name')}" for e in as_list(c.get("envFrom")) if e.get("secretRef")]
        if names:
            report(
                f"{workload_label(args)} container '{_cname(c)}' takes secrets as env ({', '.join(names)}): mount the "
                "Secret as a read-only volume (env leaks into logs and crash dumps)"
            )


def _not_default_ns(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == HELM_RELEASE:
        ns = str(args.props.get("namespace") or "default")
    else:
        if k8s_kind(args.resource_type) in CLUSTER_SCOPED_KINDS:
            return
        ns = namespace_of(args.props)
    if ns == "default":
        report(
            f"{k8s_kind(args.resource_type)} '{object_name(args.props, args.name)}' goes to the default namespace: "
            "set metadata.namespace (or the release's namespace) to the component's own namespace"
        )


# --------------------------------------------------------------------------- namespaces (K8S-16, 17, 22)
def _app_namespaces(args: StackValidationArgs) -> list[PolicyResource]:
    listed = as_list(args.get_config().get("systemNamespaces"))
    skip = {str(e.get("namespace")) for e in listed if isinstance(e, Mapping) and e.get("reason")} | set(
        SYSTEM_NAMESPACES
    )
    return [r for r in args.resources if r.resource_type == NAMESPACE and object_name(r.props, r.name) not in skip]


def _ns_objects(args: StackValidationArgs, type_: str) -> set[str]:
    return {namespace_of(r.props) for r in args.resources if r.resource_type == type_}


def _network_policy(args: StackValidationArgs, report: ReportViolation) -> None:
    covered = _ns_objects(args, NETPOL)
    for ns in _app_namespaces(args):
        name = object_name(ns.props, ns.name)
        if name not in covered:
            report(
                f"namespace '{name}' has no NetworkPolicy, so every pod in the cluster can reach it: add a default-deny "
                "NetworkPolicy plus the allows it needs (DNS, ingress from the ALB/monitoring)",
                ns.urn,
            )


def _psa(args: ResourceValidationArgs, report: ReportViolation) -> None:
    name = object_name(args.props, args.name)
    labels = get(args.props, "metadata.labels") or {}
    cfg = args.get_config()
    privileged = {str(e.get("namespace")): str(e.get("reason") or "") for e in as_list(cfg.get("privilegedNamespaces"))}
    if name in SYSTEM_NAMESPACES:
        return
    enforce = labels.get("pod-security.kubernetes.io/enforce")
    allowed = ["restricted", "baseline"] + (["privileged"] if privileged.get(name) else [])
    if enforce not in allowed:
        report(
            f"namespace '{name}' enforces {enforce or 'no'} Pod Security level: label it "
            "pod-security.kubernetes.io/enforce: restricted (baseline or, for host-access daemons with a reason in "
            "privilegedNamespaces in policy/config/tiers/<tier>.json, privileged)"
        )
    for mode in ("warn", "audit"):
        if labels.get(f"pod-security.kubernetes.io/{mode}") != "restricted":
            report(
                f"namespace '{name}' has no pod-security.kubernetes.io/{mode}: restricted label: add it so violations stay visible"
            )


def _quota(args: StackValidationArgs, report: ReportViolation) -> None:
    quotas = {namespace_of(r.props): r for r in args.resources if r.resource_type == QUOTA}
    limits = _ns_objects(args, LIMIT_RANGE)
    gpu_ns = {
        namespace_of(r.props)
        for r in args.resources
        if r.resource_type in WORKLOAD_TYPES and requests_gpu(pod_spec(r.resource_type, r.props))
    }
    for ns in _app_namespaces(args):
        name = object_name(ns.props, ns.name)
        if name not in quotas:
            report(
                f"namespace '{name}' has no ResourceQuota: add one (with requests.nvidia.com/gpu where GPUs run)",
                ns.urn,
            )
        elif name in gpu_ns and f"requests.{GPU_RESOURCE}" not in (get(quotas[name].props, "spec.hard") or {}):
            report(f"namespace '{name}' runs GPU pods but its ResourceQuota has no requests.{GPU_RESOURCE}", ns.urn)
        if name not in limits:
            report(
                f"namespace '{name}' has no LimitRange: add one so containers without resources get defaults", ns.urn
            )


# --------------------------------------------------------------------------- availability (K8S-18)
def _min_replicas_of(args: StackValidationArgs, r: PolicyResource) -> float:
    name = object_name(r.props, r.name)
    for s in args.resources:
        if s.resource_type == HPA and get(s.props, "spec.scaleTargetRef.name") == name:
            return num(get(s.props, "spec.minReplicas"), 1) or 1
        if s.resource_type == SCALED_OBJECT and get(s.props, "spec.scaleTargetRef.name") == name:
            return num(get(s.props, "spec.minReplicaCount"), 0) or 0
    return num(get(r.props, "spec.replicas"), 1) or 1


def _min_replicas(args: StackValidationArgs, report: ReportViolation) -> None:
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


def _pdb_coverage(args: StackValidationArgs, report: ReportViolation) -> None:
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


def _pdb_allows(args: ResourceValidationArgs, report: ReportViolation) -> None:
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


def _spread(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # No `replicas` means an HPA/ScaledObject owns the count, so it can grow past one: spread it.
    replicas = num(get(args.props, "spec.replicas"), 2) or 0
    spec = _pod(args)
    if args.resource_type not in (DEPLOYMENT, STATEFULSET):
        return
    if replicas <= 1 and not args.get_config().get("alwaysRequire"):
        return
    if not spec.get("topologySpreadConstraints") and not get(spec, "affinity.podAntiAffinity"):
        report(
            f"{workload_label(args)} may put every replica on one node or AZ: set topologySpreadConstraints over "
            "topology.kubernetes.io/zone and kubernetes.io/hostname"
        )


# --------------------------------------------------------------------------- misc (K8S-19…24)
def _bare_pod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    report(f"{workload_label(args)} is a bare Pod: nothing recreates it when its node goes; use a Deployment or Job")


def _job_ttl(args: ResourceValidationArgs, report: ReportViolation) -> None:
    path = (
        "spec.jobTemplate.spec.ttlSecondsAfterFinished"
        if k8s_kind(args.resource_type) == "CronJob"
        else "spec.ttlSecondsAfterFinished"
    )
    if get(args.props, path) is None:
        report(f"{workload_label(args)} keeps finished pods forever: set {path}")


def _gpu_scheduling(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    gpu = requests_gpu(spec)
    tolerates = tolerates_gpu_taint(spec)
    if gpu and not tolerates:
        report(
            f"{workload_label(args)} requests {GPU_RESOURCE} but does not tolerate the {GPU_TAINT_KEY} NoSchedule taint: "
            f"it can never schedule; add tolerations [{{key: {GPU_TAINT_KEY}, operator: Exists, effect: NoSchedule}}]"
        )
    if gpu and not (get(spec or {}, "nodeSelector") or get(spec or {}, "affinity.nodeAffinity")):
        report(
            f"{workload_label(args)} requests GPUs without selecting GPU nodes: set nodeSelector "
            "platform.ai/accelerator: nvidia (or platform.ai/gpu-model)"
        )
    ns, cfg = namespace_of(args.props), args.get_config()
    if not gpu and tolerates and not all(exempt(cfg, ns, img, "gpu-toleration") for _, img in iter_containers(args)):
        report(
            f"{workload_label(args)} tolerates the GPU taint but requests no GPU, so it can occupy GPU nodes: remove "
            "the toleration"
        )


_RBAC_EXEMPT_CFG = {
    "exemptRoles": {
        "type": "array",
        "default": [],
        "description": "Roles allowed exec and unscoped Secret access, each `{namespace, name, reason}`; wildcards, "
        "escalate/bind/impersonate are never exempt.",
    }
}


def _rbac_exempt(args: ResourceValidationArgs) -> bool:
    ns = str(get(args.props, "metadata.namespace") or "")
    name = object_name(args.props, args.name)
    return any(
        e.get("namespace") == ns and e.get("name") == name and e.get("reason")
        for e in as_list(args.get_config().get("exemptRoles"))
    )


def _rbac(args: ResourceValidationArgs, report: ReportViolation) -> None:
    name = object_name(args.props, args.name)
    exempt_role = _rbac_exempt(args)
    for rule in as_list(args.props.get("rules")):
        verbs = [str(v) for v in as_list(rule.get("verbs"))]
        res = [str(r) for r in as_list(rule.get("resources"))]
        groups = [str(g) for g in as_list(rule.get("apiGroups"))]
        if "*" in verbs or "*" in res or "*" in groups:
            report(
                f"{k8s_kind(args.resource_type)} '{name}' uses wildcards ({verbs} on {res}): list verbs and resources"
            )
        danger = [v for v in verbs if v in ("escalate", "bind", "impersonate")]
        if danger:
            report(f"{k8s_kind(args.resource_type)} '{name}' grants {danger}: these let a subject raise its own rights")
        if exempt_role:
            continue
        if "create" in verbs and any(r in ("pods/exec", "pods/attach", "nodes/proxy") for r in res):
            report(f"{k8s_kind(args.resource_type)} '{name}' grants create on {res}: that is a shell on pods/nodes")
        if "secrets" in res and any(v in ("get", "list", "watch") for v in verbs) and not rule.get("resourceNames"):
            report(
                f"{k8s_kind(args.resource_type)} '{name}' can read every Secret in scope: restrict with resourceNames"
            )


def _cluster_admin(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if get(args.props, "roleRef.name") != "cluster-admin":
        return
    allowed = {str(s) for s in as_list(args.get_config().get("allowedSubjects"))}
    subjects = [
        f"{s.get('kind')}:{s.get('namespace', '')}/{s.get('name')}" for s in as_list(args.props.get("subjects"))
    ]
    extra = [s for s in subjects if s not in allowed]
    if extra:
        report(
            f"{k8s_kind(args.resource_type)} '{object_name(args.props, args.name)}' makes {extra} cluster-admin: grant "
            "admins through EKS access entries (cluster.adminRoleArns) and workloads a narrow Role"
        )


def _api_version(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == HELM_RELEASE or args.resource_type.startswith("kubernetes:helm.sh/"):
        return
    gv = k8s_api_version(args.resource_type)
    removed = [str(v) for v in as_list(args.get_config().get("removedApiVersions"))]
    if gv in removed:
        report(
            f"{k8s_kind(args.resource_type)} '{args.name}' uses {gv}, which the cluster's Kubernetes no longer serves: move to the GA API"
        )


ANY_K8S = ["kubernetes:*"]
"""Every Kubernetes type token (a prefix pattern, see TypedResourcePolicy.applies_to)."""

POLICIES: list[Policy] = [
    TypedResourcePolicy(
        "k8s-pod-no-privileged",
        "No privileged containers outside narrow exemptions (K8S-01; CKV_K8S_16, PSS baseline).",
        Severity.HIGH,
        WORKLOADS,
        _privileged,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-pod-no-host-namespaces",
        "No hostNetwork/hostPID/hostIPC outside narrow exemptions (K8S-02; CKV_K8S_17–19).",
        Severity.HIGH,
        WORKLOADS,
        _host_namespaces,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-pod-no-host-path",
        "No hostPath volumes except allowlisted paths for allowlisted images; never the runtime socket (K8S-03).",
        Severity.HIGH,
        WORKLOADS,
        _host_path,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-pod-no-host-port",
        "No hostPort (K8S-04; CKV_K8S_26).",
        Severity.MEDIUM,
        WORKLOADS,
        _host_port,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-container-capabilities-restricted",
        "Containers drop ALL capabilities and add only NET_BIND_SERVICE (K8S-05; CKV_K8S_25/28/37).",
        Severity.MEDIUM,
        WORKLOADS,
        _capabilities,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-container-no-privilege-escalation",
        "allowPrivilegeEscalation: false (K8S-06; CKV_K8S_20).",
        Severity.HIGH,
        WORKLOADS,
        _privilege_escalation,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-pod-run-as-non-root",
        "Containers run as a non-root user (K8S-07; CKV_K8S_23/40).",
        Severity.MEDIUM,
        WORKLOADS,
        _non_root,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-pod-seccomp-runtime-default",
        "Pods use the RuntimeDefault seccomp profile (K8S-08; CKV_K8S_31).",
        Severity.MEDIUM,
        WORKLOADS,
        _seccomp,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-container-read-only-root-fs",
        "Root filesystems are read-only (K8S-09; CKV_K8S_22).",
        Severity.HIGH,
        WORKLOADS,
        _read_only_root,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-container-resources",
        "Every container sets CPU/memory requests and a memory limit; GPUs are set in limits (K8S-10).",
        Severity.MEDIUM,
        WORKLOADS,
        _resources,
        config={"requireCpuLimits": {"type": "boolean", "default": False}},
    ),
    TypedResourcePolicy(
        "k8s-container-probes",
        "Long-running containers have liveness and readiness probes (K8S-11; CKV_K8S_8/9).",
        Severity.MEDIUM,
        WORKLOADS,
        _probes,
    ),
    TypedResourcePolicy(
        "k8s-container-image-pinned",
        "Images are pinned (tag, or digest where required) and come from allowlisted registries (K8S-12; CIS 5.1.4).",
        Severity.HIGH,
        WORKLOADS,
        _image,
        config={
            "requireDigest": {"type": "boolean", "default": False},
            "allowedRegistries": {"type": "array", "items": {"type": "string"}, "default": []},
            "stackRegistry": {"type": "string", "default": ""},
            "configFiles": CONFIG_FILES_SCHEMA,
        },
    ),
    TypedResourcePolicy(
        "k8s-pod-dedicated-service-account",
        "Pods run as a dedicated service account, not 'default' (K8S-13; CKV_K8S_41, CIS 4.1.5).",
        Severity.MEDIUM,
        WORKLOADS,
        _service_account,
    ),
    TypedResourcePolicy(
        "k8s-pod-no-automount-token",
        "Pods mount an API token only if they call the API (K8S-13; CKV_K8S_38, CIS 4.1.6).",
        Severity.MEDIUM,
        WORKLOADS,
        _automount,
        config={"apiServiceAccounts": {"type": "array", "items": {"type": "string"}, "default": []}},
    ),
    TypedResourcePolicy(
        "k8s-container-secrets-as-files",
        "Secrets are mounted as files, not env vars (K8S-15; CKV_K8S_35, CIS 4.4.1).",
        Severity.MEDIUM,
        WORKLOADS,
        _secrets_as_files,
    ),
    TypedResourcePolicy(
        "k8s-object-not-default-namespace",
        "Nothing is deployed to the default namespace (K8S-14; CKV_K8S_21, CIS 4.5.2).",
        Severity.MEDIUM,
        ANY_K8S,
        _not_default_ns,
    ),
    PlatformStackPolicy(
        "k8s-namespace-network-policy",
        "Every app namespace has a NetworkPolicy (K8S-16; CKV2_K8S_6, CIS 4.3.2).",
        Severity.MEDIUM,
        _network_policy,
        config={"systemNamespaces": _SYSTEM_NS_SCHEMA},
    ),
    TypedResourcePolicy(
        "k8s-namespace-pod-security-labels",
        "Namespaces enforce a Pod Security level, warn/audit restricted (K8S-17; CIS 4.2).",
        Severity.HIGH,
        [NAMESPACE],
        _psa,
        config={
            "privilegedNamespaces": {
                "type": "array",
                "default": [],
                "items": {
                    "type": "object",
                    "required": ["namespace", "reason"],
                    "properties": {"namespace": {"type": "string"}, "reason": {"type": "string", "minLength": 10}},
                },
            }
        },
    ),
    PlatformStackPolicy(
        "k8s-namespace-quota-and-limits",
        "Every app namespace has a ResourceQuota (with GPUs where used) and a LimitRange (K8S-22).",
        Severity.MEDIUM,
        _quota,
        config={"systemNamespaces": _SYSTEM_NS_SCHEMA},
    ),
    PlatformStackPolicy(
        "k8s-deployment-min-replicas",
        "Serving workloads keep enough replicas (HPA/KEDA minimum counts) (K8S-18; PC minimum-replica-count).",
        Severity.HIGH,
        _min_replicas,
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
    ),
    PlatformStackPolicy(
        "k8s-serving-deployment-pdb",
        "Every serving Deployment is covered by a PodDisruptionBudget (K8S-18; kube-linter pdb-*).",
        Severity.HIGH,
        _pdb_coverage,
        config={"namespaces": {"type": "array", "items": {"type": "string"}, "default": ["serving"]}},
    ),
    TypedResourcePolicy(
        "k8s-pdb-allows-disruption",
        "PDBs permit at least one voluntary disruption and evict unhealthy pods (K8S-18; PC pdb zero-disruption).",
        Severity.HIGH,
        [PDB],
        _pdb_allows,
    ),
    TypedResourcePolicy(
        "k8s-deployment-topology-spread",
        "Replicated workloads spread across nodes/AZs (K8S-18; kube-linter no-anti-affinity).",
        Severity.MEDIUM,
        [DEPLOYMENT, STATEFULSET],
        _spread,
        config={"alwaysRequire": {"type": "boolean", "default": False}},
    ),
    TypedResourcePolicy(
        "k8s-no-bare-pods",
        "No bare Pods (K8S-19; PC disallow-pod).",
        Severity.CRITICAL,
        ["kubernetes:core/v1:Pod"],
        _bare_pod,
    ),
    TypedResourcePolicy(
        "k8s-job-ttl-after-finished",
        "Jobs clean up after themselves (K8S-20; kube-linter job-ttl-seconds-after-finished).",
        Severity.LOW,
        ["kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"],
        _job_ttl,
    ),
    TypedResourcePolicy(
        "k8s-pod-gpu-scheduling",
        "GPU pods tolerate the GPU taint and select GPU nodes; other pods do not tolerate it (K8S-21).",
        Severity.MEDIUM,
        WORKLOADS,
        _gpu_scheduling,
        config=_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-rbac-least-privilege",
        "Roles use no wildcards, escalate/bind/impersonate, exec or blanket secret reads (K8S-23; CKV_K8S_49/155–158).",
        Severity.HIGH,
        ROLE_TYPES,
        _rbac,
        config=_RBAC_EXEMPT_CFG,
    ),
    TypedResourcePolicy(
        "k8s-rbac-no-cluster-admin-binding",
        "No extra cluster-admin bindings (K8S-23; CIS 4.1.1).",
        Severity.HIGH,
        BINDING_TYPES,
        _cluster_admin,
        config={"allowedSubjects": {"type": "array", "items": {"type": "string"}, "default": []}},
    ),
    TypedResourcePolicy(
        "k8s-api-version-supported",
        "Objects use API versions the target Kubernetes still serves (K8S-24).",
        Severity.HIGH,
        ANY_K8S,
        _api_version,
        config={"removedApiVersions": {"type": "array", "items": {"type": "string"}, "default": REMOVED_API_VERSIONS}},
    ),
]
