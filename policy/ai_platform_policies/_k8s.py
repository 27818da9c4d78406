"""Kubernetes readers: workload types, pod templates, containers, labels, exemptions, Helm releases."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ResourceValidationArgs

from ._gpu import GPU_RESOURCE, GPU_TAINT_KEY
from ._props import as_list, get

WORKLOAD_TYPES: frozenset[str] = frozenset(
    {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:apps/v1:DaemonSet",
        "kubernetes:apps/v1:ReplicaSet",
        "kubernetes:batch/v1:Job",
        "kubernetes:batch/v1:CronJob",
        "kubernetes:core/v1:Pod",
    }
)

CLUSTER_SCOPED_KINDS: frozenset[str] = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "CustomResourceDefinition",
        "PriorityClass",
        "PersistentVolume",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "IngressClass",
        "RuntimeClass",
        "APIService",
        "CSIDriver",
        # Karpenter's v1 custom resources (their CRDs declare scope: Cluster).
        "NodePool",
        "EC2NodeClass",
        "NodeClaim",
    }
)


def k8s_kind(resource_type: str) -> str:
    """``kubernetes:apps/v1:Deployment`` -> ``Deployment``."""
    return resource_type.rsplit(":", 1)[-1]


def k8s_api_version(resource_type: str) -> str:
    """``kubernetes:apps/v1:Deployment`` -> ``apps/v1``; ``kubernetes:core/v1:Pod`` -> ``v1``."""
    gv = resource_type.split(":")[1]
    return gv.removeprefix("core/")


_TEMPLATE_PATHS = {"Pod": "", "CronJob": "spec.jobTemplate.spec.template."}


def _template(resource_type: str, props: Mapping[str, Any], part: str) -> Mapping[str, Any] | None:
    prefix = _TEMPLATE_PATHS.get(k8s_kind(resource_type), "spec.template.")
    v = get(props, prefix + part)
    return v if isinstance(v, Mapping) else None


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The PodSpec of a workload object (None when absent)."""
    return _template(resource_type, props, "spec")


def pod_metadata(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template's metadata (the Pod's own for a bare Pod)."""
    return _template(resource_type, props, "metadata") or {}


def containers(spec: Mapping[str, Any] | None, *, init: bool = True) -> list[Mapping[str, Any]]:
    """Containers (and init/ephemeral containers) of a PodSpec."""
    if spec is None:
        return []
    keys = ("containers", "initContainers", "ephemeralContainers") if init else ("containers",)
    out: list[Mapping[str, Any]] = []
    for k in keys:
        out.extend(c for c in as_list(spec.get(k)) if isinstance(c, Mapping))
    return out


def namespace_of(props: Mapping[str, Any]) -> str:
    """``metadata.namespace`` (``default`` when unset, as kubectl would place it)."""
    return str(get(props, "metadata.namespace") or "default")


def object_name(props: Mapping[str, Any], fallback: str) -> str:
    """``metadata.name``, or the logical name when the object has none."""
    return str(get(props, "metadata.name") or fallback)


def workload_label(args: ResourceValidationArgs) -> str:
    """``Deployment serving/llama`` for messages."""
    return f"{k8s_kind(args.resource_type)} {namespace_of(args.props)}/{object_name(args.props, args.name)}"


def requests_gpu(spec: Mapping[str, Any] | None) -> bool:
    """Whether any container asks for ``nvidia.com/gpu``."""
    for c in containers(spec):
        for section in ("limits", "requests"):
            if get(c, f"resources.{section}") and GPU_RESOURCE in get(c, f"resources.{section}"):
                return True
    return False


def tolerates_gpu_taint(spec: Mapping[str, Any] | None, taints: Sequence[tuple[str, str, str]] = ()) -> bool:
    """Whether the PodSpec tolerates the GPU taint (``taints``: the real ``(key, value, effect)``s when known)."""
    tols = [t for t in as_list(get(spec or {}, "tolerations")) if isinstance(t, Mapping)]
    wanted = list(taints) or [(GPU_TAINT_KEY, "true", "NoSchedule")]
    for key, value, effect in wanted:
        ok = False
        for t in tols:
            op = t.get("operator", "Equal")
            tkey = t.get("key")
            if tkey not in (key, None) or (tkey is None and op != "Exists"):
                continue
            if t.get("effect") not in (None, "", effect):
                continue
            if op == "Exists" or t.get("value") == value:
                ok = True
                break
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Exemption:
    """A narrow exemption from policy config: namespace + image prefixes (+ the allowed values)."""

    namespace: str
    images: tuple[str, ...]
    reason: str
    allow: tuple[str, ...]
    """What is allowed (host paths, capabilities, …); empty = the whole control for those images."""

    def covers(self, namespace: str, image: str) -> bool:
        return namespace == self.namespace and any(
            image.startswith(p) or fnmatch.fnmatch(image, p) for p in self.images
        )


EXEMPTIONS_SCHEMA: Mapping[str, Any] = {
    "type": "array",
    "default": [],
    "description": "Narrow exemptions: containers whose image starts with one of `images` in `namespace`; "
    "`allow` lists what they may use; `reason` is required and shown in reports.",
    "items": {
        "type": "object",
        "required": ["namespace", "images", "reason"],
        "properties": {
            "namespace": {"type": "string"},
            "images": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "allow": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string", "minLength": 10},
        },
    },
}


def exemptions(config: Mapping[str, Any]) -> list[Exemption]:
    """The complete exemptions (namespace, images and reason all set) of a policy's config."""
    out = []
    for e in as_list(config.get("exemptions")):
        if isinstance(e, Mapping) and e.get("namespace") and e.get("images") and e.get("reason"):
            out.append(
                Exemption(
                    namespace=str(e["namespace"]),
                    images=tuple(str(i) for i in as_list(e["images"])),
                    reason=str(e["reason"]),
                    allow=tuple(str(a) for a in as_list(e.get("allow"))),
                )
            )
    return out


def exempt(config: Mapping[str, Any], namespace: str, image: str, value: str | None = None) -> bool:
    """Whether a container (namespace + image) is exempt, for ``value`` when the exemption lists ``allow``."""
    for e in exemptions(config):
        if e.covers(namespace, image) and (not e.allow or value is None or value in e.allow):
            return True
    return False


def iter_containers(args: ResourceValidationArgs) -> Iterator[tuple[Mapping[str, Any], str]]:
    """``(container, image)`` for every container of a workload."""
    for c in containers(pod_spec(args.resource_type, args.props)):
        yield c, str(c.get("image") or "")


def labels_match(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set; empty selects nothing."""
    if not selector:
        return False
    ml = selector.get("matchLabels") or {}
    exprs = as_list(selector.get("matchExpressions"))
    if not ml and not exprs:
        return True
    for k in ml:
        if labels.get(k) != ml[k]:
            return False
    for ex in exprs:
        key, op, vals = ex.get("key"), ex.get("operator"), as_list(ex.get("values"))
        have = labels.get(key)
        if (
            (op == "In" and have not in vals)
            or (op == "NotIn" and have in vals)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def helm_values(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """A Helm release's ``values`` ({} when unset)."""
    v = props.get("values")
    return v if isinstance(v, Mapping) else {}


def chart_name(props: Mapping[str, Any]) -> str:
    """The chart name of a helm Release (last path segment of an ``oci://`` reference)."""
    return str(props.get("chart") or "").rstrip("/").rsplit("/", 1)[-1]


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
