"""Karpenter NodePools and EC2NodeClasses (the GPU capacity of ``nodeProvisioner: karpenter`` stacks).

The same guarantees the launch-template and node-group policies give managed node groups: GPU nodes
are tainted and bounded, IMDS is closed to pods, volumes are encrypted, and a tier only runs the
instance families it allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from ._util import (
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    PolicyList,
    ReportViolation,
    as_list,
    get,
    num,
    truthy,
)

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
FAMILY = "karpenter.k8s.aws/instance-family"
GPU_MANUFACTURER = "karpenter.k8s.aws/instance-gpu-manufacturer"
_SOURCE = "(components/karpenter.py)"


_FAMILIES = ["g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e"]

POLICIES = PolicyList()


def _name(args: ResourceValidationArgs) -> str:
    return str(get(args.props, "metadata.name") or args.name)


def _requirements(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in as_list(get(props, "spec.template.spec.requirements")) if isinstance(r, Mapping)]


def is_gpu_pool(props: Mapping[str, Any]) -> bool:
    """A NodePool that can launch NVIDIA instances: it asks for the manufacturer or a GPU accelerator label."""
    labels = get(props, "spec.template.metadata.labels") or {}
    wants = any(r.get("key") == GPU_MANUFACTURER and "nvidia" in as_list(r.get("values")) for r in _requirements(props))
    return wants or labels.get("platform.ai/accelerator") == "nvidia"


@POLICIES.resource(
    "karpenter-nodepool-gpu-taint",
    "A Karpenter NodePool that launches NVIDIA instances carries the nvidia.com/gpu NoSchedule taint.",
    Severity.HIGH,
    [NODEPOOL],
)
def _gpu_taint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """NodePools that may launch NVIDIA instances taint their nodes nvidia.com/gpu NoSchedule."""
    if not is_gpu_pool(args.props):
        return
    taints = as_list(get(args.props, "spec.template.spec.taints"))
    if not any(t.get("key") == GPU_TAINT_KEY and t.get("effect") == "NoSchedule" for t in taints):
        report(
            f"GPU NodePool '{_name(args)}' has no {GPU_TAINT_KEY}:NoSchedule taint: CPU pods would fill GPU nodes; "
            f"add it to spec.template.spec.taints {_SOURCE}"
        )


@POLICIES.resource(
    "karpenter-nodepool-gpu-limits",
    "A GPU NodePool bounds cpu, memory and nvidia.com/gpu in spec.limits.",
    Severity.HIGH,
    [NODEPOOL],
)
def _gpu_limits(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """GPU NodePools set cpu, memory and nvidia.com/gpu in spec.limits."""
    if not is_gpu_pool(args.props):
        return
    limits = get(args.props, "spec.limits") or {}
    missing = [k for k in ("cpu", "memory", GPU_RESOURCE) if not limits.get(k)]
    if missing:
        report(
            f"GPU NodePool '{_name(args)}' has no spec.limits for {', '.join(missing)}: Karpenter would launch GPU "
            f"nodes without bound; derive them from the pool's maxSize {_SOURCE}"
        )


@POLICIES.resource(
    "karpenter-nodeclass-imds",
    "EC2NodeClasses require IMDSv2 with a hop limit pods cannot cross.",
    Severity.HIGH,
    [NODECLASS],
    config={"maxHopLimit": {"type": "integer", "default": 1}},
)
def _imds(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """EC2NodeClasses require IMDSv2 tokens with a hop limit at or below the configured maximum."""
    opts = get(args.props, "spec.metadataOptions") or {}
    hop = num(opts.get("httpPutResponseHopLimit"))
    maximum = num(args.get_config().get("maxHopLimit"), 1) or 1
    if opts.get("httpTokens") != "required" or hop is None or hop > maximum:
        report(
            f"EC2NodeClass '{_name(args)}' lets pods reach the node role through IMDS (httpTokens "
            f"{opts.get('httpTokens') or 'unset'}, hop limit {'unset' if hop is None else f'{hop:g}'}): set "
            f"spec.metadataOptions.httpTokens: required and httpPutResponseHopLimit: {maximum:g} {_SOURCE}"
        )


@POLICIES.resource(
    "karpenter-nodeclass-ebs-encrypted",
    "EC2NodeClasses map their volumes explicitly, encrypted.",
    Severity.HIGH,
    [NODECLASS],
)
def _encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """EC2NodeClasses map block devices explicitly, each with ebs.encrypted: true."""
    devices = as_list(get(args.props, "spec.blockDeviceMappings"))
    if not devices:
        report(
            f"EC2NodeClass '{_name(args)}' has no blockDeviceMappings, so volume encryption is the AMI default: "
            f"map the image volume with ebs.encrypted: true {_SOURCE}"
        )
    for d in devices:
        if not truthy((d.get("ebs") or {}).get("encrypted")):
            report(f"EC2NodeClass '{_name(args)}' volume {d.get('deviceName')} is unencrypted: set ebs.encrypted: true")


@POLICIES.resource(
    "karpenter-nodepool-instance-families",
    "NodePools pin their instance families to the tier's allowed list.",
    Severity.MEDIUM,
    [NODEPOOL],
    config={"allowedFamilies": {"type": "array", "items": {"type": "string"}, "default": _FAMILIES}},
)
def _families(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """NodePools that require instance families name only the tier's allowed ones."""
    allowed = set(as_list(args.get_config().get("allowedFamilies")))
    req = [r for r in _requirements(args.props) if r.get("key") == FAMILY]
    if not req or any(r.get("operator") != "In" for r in req):
        report(
            f"NodePool '{_name(args)}' does not pin {FAMILY} with operator In: Karpenter may launch any family; "
            f"list the tier's families {_SOURCE}"
        )
        return
    extra = sorted({str(v) for r in req for v in as_list(r.get("values"))} - allowed) if allowed else []
    if extra:
        report(f"NodePool '{_name(args)}' allows instance families {extra} outside this tier's {sorted(allowed)}")
