"""Helpers shared by the policy modules: typed policy constructors, prop access, workload walking.

Policies read the provider's *wire* props (camelCase, numbers as floats, explicit-provider
config as JSON strings) through ``pulumi_policy``'s unknown-checking proxy, so every reader here
works on ``Mapping``/``Sequence`` (the proxies), never on ``dict``/``list`` alone.

This package is self-contained on purpose: the real CLI runs the pack in its own virtualenv
(``policy/requirements.txt``) where the blueprint's ``infra`` package is not installed.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

STACK_FILE = "stacks/Pulumi.<stack>.yaml"
"""Where a stack's settings live; messages point here (the pack does not know the stack's name)."""
POLICY_CONFIG = "policy/config/tiers/<tier>.json"
"""Where a policy's settings and exemptions live for a tier (a stack's ``environment``)."""
STACK_POLICY_CONFIG = "policy/config/stacks/<stack>.json"
"""Where one stack's differences from its tier live (optional)."""


def config_files_hint(config: Mapping[str, Any]) -> str:
    """The files a change to a policy's settings would go in, named as the merged config names them.

    ``blueprint policy-config`` (the file CI passes as ``--policy-pack-config``) writes ``configFiles``
    into the policies whose messages need it; a hand-written config gets the generic paths.
    """
    files = config.get("configFiles") or {}
    stack = str(files.get("stack") or STACK_POLICY_CONFIG)
    tier = str(files.get("tier") or POLICY_CONFIG)
    return f"{stack} (this stack only) or {tier} (every stack of the tier)"


CONFIG_FILES_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"stack": {"type": "string"}, "tier": {"type": "string"}},
    "default": {},
}
"""``configFiles``: written by the merge (blueprint/policy_config.py), never by hand."""

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"

# GPUs per instance for the NVIDIA families the platform allows (EC2 accelerated-computing
# instance pages). tests/policy checks this table against components.vocabulary.GPU_FAMILIES.
GPUS_PER_INSTANCE: Mapping[str, Mapping[str, int]] = {
    "g4dn": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "metal": 8},
    "g5": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4,
           "48xlarge": 8},
    "g6": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4,
           "48xlarge": 8},
    "g6e": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4,
            "48xlarge": 8},
    "p4d": {"24xlarge": 8},
    "p4de": {"24xlarge": 8},
    "p5": {"48xlarge": 8},
    "p5e": {"48xlarge": 8},
}  # fmt: skip

_GPU_FAMILY = re.compile(r"^(g4dn|g5|g6|g6e|g6f|gr6|p3|p3dn|p4d|p4de|p5|p5e|p5en|p6-b200|g7e)\.")

# --------------------------------------------------------------------------- policy constructors
ReportViolation = Callable[..., None]
"""``report(message, urn=None)``; pulumi_policy types the urn as required, but it is optional."""
Check = Callable[[ResourceValidationArgs, ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation], None]


def _schema(config: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties={k: dict(v) for k, v in config.items()}) if config else None


class TypedResourcePolicy(ResourceValidationPolicy):
    """A resource policy that only looks at the listed type tokens.

    The real analyzer calls every resource policy for every resource; the type check in
    ``_validate`` keeps that correct, and ``resource_types`` lets the offline evaluator index
    resources by type and skip the call entirely.
    """

    resource_types: frozenset[str]
    """Exact type tokens, or prefix patterns ending in ``*`` (``kubernetes:*``)."""

    def __init__(
        self,
        name: str,
        description: str,
        severity: Severity,
        resource_types: Iterable[str],
        check: Check,
        *,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        remediation: str | None = None,
    ) -> None:
        self.resource_types = frozenset(resource_types)
        self._prefixes = tuple(t[:-1] for t in self.resource_types if t.endswith("*"))
        self._check = check
        super().__init__(
            name,
            description,
            validate=self._validate,
            severity=severity,
            config_schema=_schema(config),
            remediation_steps=remediation,
        )

    def applies_to(self, resource_type: str) -> bool:
        """Whether this policy checks resources of ``resource_type``."""
        return resource_type in self.resource_types or resource_type.startswith(self._prefixes)

    def _validate(self, args: ResourceValidationArgs, report: ReportViolation) -> None:
        if self.applies_to(args.resource_type):
            self._check(args, report)


class PlatformStackPolicy(StackValidationPolicy):
    """A stack policy with the same constructor shape as :class:`TypedResourcePolicy`."""

    def __init__(
        self,
        name: str,
        description: str,
        severity: Severity,
        check: StackCheck,
        *,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        remediation: str | None = None,
    ) -> None:
        super().__init__(
            name,
            description,
            validate=check,
            severity=severity,
            config_schema=_schema(config),
            remediation_steps=remediation,
        )


def config_defaults(policy: ResourceValidationPolicy | StackValidationPolicy) -> dict[str, Any]:
    """The ``default`` of every property in a policy's config schema (the CLI fills these in)."""
    schema = policy.config_schema
    if schema is None:
        return {}
    return {k: v["default"] for k, v in schema.properties.items() if "default" in v}


# --------------------------------------------------------------------------- prop access
def get(obj: Any, path: str, default: Any = None) -> Any:
    """``get(props, "vpcConfig.endpointPublicAccess")``; list indexes as ``a.0.b``. Missing -> default.

    Unknown values still raise ``UnknownValueError`` (the proxy raises on access), like the real analyzer.
    """
    cur = obj
    for part in path.split("."):
        if isinstance(cur, Mapping):
            if part not in cur:
                return default
            cur = cur[part]
        elif is_seq(cur) and part.isdigit():
            idx = int(part)
            if idx >= len(cur):
                return default
            cur = cur[idx]
        else:
            return default
        if cur is None:
            return default
    return cur


def is_seq(v: Any) -> bool:
    """A list-like value (not a string)."""
    return isinstance(v, Sequence) and not isinstance(v, (str, bytes))


def as_list(v: Any) -> list[Any]:
    """``None`` -> [], scalar -> [scalar], sequence -> list."""
    if v is None:
        return []
    if is_seq(v):
        return list(v)
    return [v]


def truthy(v: Any) -> bool:
    """True for ``True`` and ``"true"`` (launch-template EBS flags and provider config are strings)."""
    return v is True or (isinstance(v, str) and v.lower() == "true")


def falsy_explicit(v: Any) -> bool:
    """False only for an explicit ``False``/``"false"``."""
    return v is False or (isinstance(v, str) and v.lower() == "false")


def num(v: Any, default: float | None = None) -> float | None:
    """A number from a float/int/numeric string."""
    if isinstance(v, bool):
        return default
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return default
    return default


def plain(v: Any) -> Any:
    """A proxy (or nested proxies) copied into plain dicts/lists (raises on unknowns inside)."""
    if isinstance(v, Mapping):
        return {k: plain(v[k]) for k in v}
    if is_seq(v):
        return [plain(x) for x in v]
    return v


def json_doc(v: Any) -> Any:
    """A JSON document that may arrive as a string (IAM policies, provider config) or an object."""
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return None
    return plain(v) if v is not None else None


def type_token(r: PolicyResource | ResourceValidationArgs) -> str:
    return r.resource_type


# --------------------------------------------------------------------------- GPU facts
def is_gpu_instance(instance_type: str) -> bool:
    """An NVIDIA GPU instance type (g4dn, g5, g6, g6e, p4d, p5, …)."""
    return bool(_GPU_FAMILY.match(instance_type or ""))


def gpus_of(instance_type: str) -> int:
    """GPUs per instance; 0 for CPU types; 1 for a GPU type missing from the table (conservative)."""
    family, _, size = instance_type.partition(".")
    if family in GPUS_PER_INSTANCE:
        return GPUS_PER_INSTANCE[family].get(size, 1)
    return 1 if is_gpu_instance(instance_type) else 0


def node_group_instance_types(props: Mapping[str, Any]) -> list[str]:
    return [str(t) for t in as_list(props.get("instanceTypes"))]


def is_gpu_node_group(props: Mapping[str, Any]) -> bool:
    """A managed node group of GPU instances (by instance type, or a GPU AMI type)."""
    types = node_group_instance_types(props)
    if any(is_gpu_instance(t) for t in types):
        return True
    return "NVIDIA" in str(props.get("amiType") or "") or "_GPU" in str(props.get("amiType") or "")


# --------------------------------------------------------------------------- IAM documents
def statements(doc: Any) -> list[Mapping[str, Any]]:
    """The statements of an IAM policy document (string or object)."""
    d = json_doc(doc)
    if not isinstance(d, Mapping):
        return []
    st = d.get("Statement")
    return [s for s in as_list(st) if isinstance(s, Mapping)]


def principals(stmt: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[(kind, value)]`` of a statement's Principal; ``("*", "*")`` for ``Principal: "*"``."""
    p = stmt.get("Principal")
    if p == "*":
        return [("*", "*")]
    out: list[tuple[str, str]] = []
    if isinstance(p, Mapping):
        for kind, vals in p.items():
            out.extend((str(kind), str(v)) for v in as_list(vals))
    return out


def allows(stmt: Mapping[str, Any]) -> bool:
    return stmt.get("Effect", "Allow") == "Allow"


# --------------------------------------------------------------------------- Kubernetes
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
    v = props.get("values")
    return v if isinstance(v, Mapping) else {}


def chart_name(props: Mapping[str, Any]) -> str:
    """The chart name of a helm Release (last path segment of an ``oci://`` reference)."""
    return str(props.get("chart") or "").rstrip("/").rsplit("/", 1)[-1]


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
