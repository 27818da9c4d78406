"""Pod security and identity: privileges, host access, capabilities, users, seccomp, root filesystem,
service accounts, API tokens, secrets as files (catalogue §3.8, K8S-01…09, 13, 15).

These policies accept narrow exemptions from policy config (``exemptions``: namespace + image prefixes +
what is allowed + a reason), for the GPU and monitoring daemons that need host access (catalogue §4).
Nothing else is exempt.
"""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs, Severity

from .._util import (
    PolicyList,
    ReportViolation,
    as_list,
    containers,
    exempt,
    get,
    iter_containers,
    namespace_of,
    num,
    workload_label,
)
from ._common import (
    EXEMPT_CONFIG,
    WHERE,
    WORKLOADS,
    container_name,
    pod_of,
)

SAFE_CAPABILITIES = ["NET_BIND_SERVICE"]

POLICIES = PolicyList()


@POLICIES.resource(
    "k8s-pod-no-privileged",
    "No privileged containers outside narrow exemptions (K8S-01; CKV_K8S_16, PSS baseline).",
    Severity.HIGH,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _privileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Containers are not privileged unless exempted."""
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        if get(c, "securityContext.privileged") is True and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{container_name(c)}' is privileged: remove securityContext.privileged {WHERE}"
            )


@POLICIES.resource(
    "k8s-pod-no-host-namespaces",
    "No hostNetwork/hostPID/hostIPC outside narrow exemptions (K8S-02; CKV_K8S_17–19).",
    Severity.HIGH,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _host_namespaces(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Pods share no hostNetwork, hostPID or hostIPC unless every container is exempted."""
    spec, ns, cfg = pod_of(args), namespace_of(args.props), args.get_config()
    used = [k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    images = [img for _, img in iter_containers(args)]
    bad = [k for k in used if not (images and all(exempt(cfg, ns, img, k) for img in images))]
    if bad:
        report(f"{workload_label(args)} shares the node's {', '.join(bad)}: remove {', '.join(bad)} {WHERE}")


@POLICIES.resource(
    "k8s-pod-no-host-path",
    "No hostPath volumes except allowlisted paths for allowlisted images; never the runtime socket (K8S-03).",
    Severity.HIGH,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _host_path(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Pods mount hostPath only at exempted paths, and never a container runtime socket."""
    spec, ns, cfg = pod_of(args), namespace_of(args.props), args.get_config()
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


@POLICIES.resource(
    "k8s-pod-no-host-port",
    "No hostPort (K8S-04; CKV_K8S_26).",
    Severity.MEDIUM,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _host_port(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Containers bind no hostPort unless exempted."""
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        for p in as_list(c.get("ports")):
            if num(p.get("hostPort")) and not exempt(cfg, ns, image, "hostPort"):
                report(
                    f"{workload_label(args)} container '{container_name(c)}' binds hostPort {p.get('hostPort'):g}: expose it through a Service"
                )


@POLICIES.resource(
    "k8s-container-capabilities-restricted",
    "Containers drop ALL capabilities and add only NET_BIND_SERVICE (K8S-05; CKV_K8S_25/28/37).",
    Severity.MEDIUM,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _capabilities(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Containers drop ALL capabilities and add none beyond NET_BIND_SERVICE unless exempted."""
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        caps = get(c, "securityContext.capabilities") or {}
        drop = [str(x) for x in as_list(caps.get("drop"))]
        added = [str(x) for x in as_list(caps.get("add")) if str(x) not in SAFE_CAPABILITIES]
        if "ALL" not in drop and not exempt(cfg, ns, image, "drop-all"):
            report(
                f"{workload_label(args)} container '{container_name(c)}' keeps the default capabilities (incl. NET_RAW): set "
                f"securityContext.capabilities.drop: [ALL] {WHERE}"
            )
        bad = [a for a in added if not exempt(cfg, ns, image, a)]
        if bad:
            report(
                f"{workload_label(args)} container '{container_name(c)}' adds capabilities {bad}: add only NET_BIND_SERVICE"
            )


@POLICIES.resource(
    "k8s-container-no-privilege-escalation",
    "allowPrivilegeEscalation: false (K8S-06; CKV_K8S_20).",
    Severity.HIGH,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _privilege_escalation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Containers set allowPrivilegeEscalation: false unless exempted."""
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        if get(c, "securityContext.allowPrivilegeEscalation") is not False and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{container_name(c)}' may gain privileges (setuid): set "
                f"securityContext.allowPrivilegeEscalation: false {WHERE}"
            )


@POLICIES.resource(
    "k8s-pod-run-as-non-root",
    "Containers run as a non-root user (K8S-07; CKV_K8S_23/40).",
    Severity.MEDIUM,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Containers (or their pod) set runAsNonRoot: true and no runAsUser 0 unless exempted."""
    spec, ns, cfg = pod_of(args), namespace_of(args.props), args.get_config()
    pod_nonroot = get(spec, "securityContext.runAsNonRoot")
    pod_user = num(get(spec, "securityContext.runAsUser"))
    for c, image in iter_containers(args):
        nonroot = get(c, "securityContext.runAsNonRoot", pod_nonroot)
        user = num(get(c, "securityContext.runAsUser"), pod_user)
        if (nonroot is not True or user == 0) and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{container_name(c)}' may run as root: set securityContext.runAsNonRoot: "
                f"true and a non-zero runAsUser {WHERE}"
            )


@POLICIES.resource(
    "k8s-pod-seccomp-runtime-default",
    "Pods use the RuntimeDefault seccomp profile (K8S-08; CKV_K8S_31).",
    Severity.MEDIUM,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _seccomp(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Containers (or their pod) use the RuntimeDefault or Localhost seccomp profile unless exempted."""
    spec, ns, cfg = pod_of(args), namespace_of(args.props), args.get_config()
    pod_profile = get(spec, "securityContext.seccompProfile.type")
    for c, image in iter_containers(args):
        prof = get(c, "securityContext.seccompProfile.type", pod_profile)
        if prof not in ("RuntimeDefault", "Localhost") and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{container_name(c)}' runs without a seccomp profile: set "
                f"securityContext.seccompProfile.type: RuntimeDefault on the pod {WHERE}"
            )


@POLICIES.resource(
    "k8s-container-read-only-root-fs",
    "Root filesystems are read-only (K8S-09; CKV_K8S_22).",
    Severity.HIGH,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _read_only_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Containers set readOnlyRootFilesystem: true unless exempted."""
    ns, cfg = namespace_of(args.props), args.get_config()
    for c, image in iter_containers(args):
        if get(c, "securityContext.readOnlyRootFilesystem") is not True and not exempt(cfg, ns, image):
            report(
                f"{workload_label(args)} container '{container_name(c)}' can write its root filesystem: set "
                "securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes for /tmp and caches"
            )


@POLICIES.resource(
    "k8s-pod-dedicated-service-account",
    "Pods run as a dedicated service account, not 'default' (K8S-13; CKV_K8S_41, CIS 4.1.5).",
    Severity.MEDIUM,
    WORKLOADS,
)
def _service_account(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Pods name a service account other than 'default'."""
    sa = pod_of(args).get("serviceAccountName") or pod_of(args).get("serviceAccount")
    if not sa or sa == "default":
        report(
            f"{workload_label(args)} runs as the namespace's default service account: create a dedicated ServiceAccount and set serviceAccountName"
        )


@POLICIES.resource(
    "k8s-pod-no-automount-token",
    "Pods mount an API token only if they call the API (K8S-13; CKV_K8S_38, CIS 4.1.6).",
    Severity.MEDIUM,
    WORKLOADS,
    config={"apiServiceAccounts": {"type": "array", "items": {"type": "string"}, "default": []}},
)
def _automount(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Pods set automountServiceAccountToken: false unless their service account is listed as calling the API."""
    spec = pod_of(args)
    sa = str(spec.get("serviceAccountName") or "default")
    api_users = {str(s) for s in as_list(args.get_config().get("apiServiceAccounts"))}
    if spec.get("automountServiceAccountToken") is not False and f"{namespace_of(args.props)}/{sa}" not in api_users:
        report(
            f"{workload_label(args)} mounts a Kubernetes API token it does not need: set "
            "automountServiceAccountToken: false (or list '<ns>/<sa>' in apiServiceAccounts in policy/config/tiers/<tier>.json "
            "if it calls the API)"
        )


@POLICIES.resource(
    "k8s-container-secrets-as-files",
    "Secrets are mounted as files, not env vars (K8S-15; CKV_K8S_35, CIS 4.4.1).",
    Severity.MEDIUM,
    WORKLOADS,
)
def _secrets_as_files(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Containers take no Secret through env or envFrom."""
    for c in containers(pod_of(args)):
        names = [str(e.get("name")) for e in as_list(c.get("env")) if get(e, "valueFrom.secretKeyRef")]
        names += [f"envFrom {get(e, 'secretRef.name')}" for e in as_list(c.get("envFrom")) if e.get("secretRef")]
        if names:
            report(
                f"{workload_label(args)} container '{container_name(c)}' takes secrets as env ({', '.join(names)}): mount the "
                "Secret as a read-only volume (env leaks into logs and crash dumps)"
            )
