"""Containers: resources, probes, pinned images from allowed registries, GPU scheduling (catalogue §3.8,
K8S-10, 11, 12, 21).
"""

from __future__ import annotations

import re

from pulumi_policy import ResourceValidationArgs, Severity

from .._util import (
    CONFIG_FILES_SCHEMA,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    STACK_FILE,
    PolicyList,
    ReportViolation,
    as_list,
    config_files_hint,
    containers,
    exempt,
    get,
    iter_containers,
    k8s_kind,
    namespace_of,
    pod_spec,
    requests_gpu,
    tolerates_gpu_taint,
    workload_label,
)
from ._common import (
    EXEMPT_CONFIG,
    WHERE,
    WORKLOADS,
    container_name,
    pod_of,
)

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

POLICIES = PolicyList()


@POLICIES.resource(
    "k8s-container-resources",
    "Every container sets CPU/memory requests and a memory limit; GPUs are set in limits (K8S-10).",
    Severity.MEDIUM,
    WORKLOADS,
    config={"requireCpuLimits": {"type": "boolean", "default": False}},
)
def _resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Containers request cpu and memory, limit memory (and cpu when configured), and limit GPUs as requested."""
    for c in containers(pod_of(args)):
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        missing = [f"requests.{k}" for k in ("cpu", "memory") if k not in req] + [
            f"limits.{k}" for k in ("memory",) if k not in lim
        ]
        if args.get_config().get("requireCpuLimits") and "cpu" not in lim:
            missing.append("limits.cpu")
        if missing:
            report(
                f"{workload_label(args)} container '{container_name(c)}' has no {', '.join(missing)}: set resources {WHERE}"
            )
        if GPU_RESOURCE in req and (GPU_RESOURCE not in lim or str(lim[GPU_RESOURCE]) != str(req[GPU_RESOURCE])):
            report(
                f"{workload_label(args)} container '{container_name(c)}' requests {GPU_RESOURCE} without an equal limit: "
                f"extended resources are set in resources.limits (serving.models.<name>.gpus in {STACK_FILE})"
            )


@POLICIES.resource(
    "k8s-container-probes",
    "Long-running containers have liveness and readiness probes (K8S-11; CKV_K8S_8/9).",
    Severity.MEDIUM,
    WORKLOADS,
)
def _probes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Long-running containers (not Jobs) have liveness and readiness probes."""
    if k8s_kind(args.resource_type) in ("Job", "CronJob"):
        return
    for c in containers(pod_of(args), init=False):
        missing = [p for p in ("livenessProbe", "readinessProbe") if not c.get(p)]
        if missing:
            report(
                f"{workload_label(args)} container '{container_name(c)}' has no {' or '.join(missing)}: add them (and a "
                f"startupProbe for slow model loads; serving.models.<name>.startupBudgetSeconds in {STACK_FILE})"
            )


@POLICIES.resource(
    "k8s-container-image-pinned",
    "Images are pinned (tag, or digest where required) and come from allowlisted registries (K8S-12; CIS 5.1.4).",
    Severity.HIGH,
    WORKLOADS,
    config={
        "requireDigest": {"type": "boolean", "default": False},
        "allowedRegistries": {"type": "array", "items": {"type": "string"}, "default": []},
        "stackRegistry": {"type": "string", "default": ""},
        "configFiles": CONFIG_FILES_SCHEMA,
    },
)
def _image(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Images are pinned by tag or digest (digest when configured) and come from allowlisted registries."""
    cfg = args.get_config()
    registries = [str(r) for r in as_list(cfg.get("allowedRegistries"))]
    if registries and cfg.get("stackRegistry"):
        # The stack's own ECR registry, derived from its accountId/region by blueprint/preview/policy_config.py.
        registries.append(str(cfg["stackRegistry"]))
    digest = bool(cfg.get("requireDigest"))
    for c, image in iter_containers(args):
        name = image.split("@", 1)[0]
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
        pinned = bool(_DIGEST.search(image))
        if not image:
            report(f"{workload_label(args)} container '{container_name(c)}' has no image")
            continue
        if not pinned and tag in ("", "latest"):
            report(
                f"{workload_label(args)} container '{container_name(c)}' image {image} floats ({tag or 'no tag'}): pin a tag "
                f"or digest (serving.models.<name>.image / images.* in {STACK_FILE})"
            )
        elif digest and not pinned:
            report(
                f"{workload_label(args)} container '{container_name(c)}' image {image} is not pinned by digest: set "
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
                f"{workload_label(args)} container '{container_name(c)}' pulls from {host}, outside the allowlist "
                f"{registries}: mirror it into ECR (registry.pullThroughCache in {STACK_FILE}) or add it to "
                f"allowedRegistries in {config_files_hint(cfg)}"
            )


@POLICIES.resource(
    "k8s-pod-gpu-scheduling",
    "GPU pods tolerate the GPU taint and select GPU nodes; other pods do not tolerate it (K8S-21).",
    Severity.MEDIUM,
    WORKLOADS,
    config=EXEMPT_CONFIG,
)
def _gpu_scheduling(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """GPU pods tolerate the GPU taint and select GPU nodes; pods without GPUs do not tolerate it."""
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
