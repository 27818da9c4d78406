"""The one import surface of the policy modules: constructors, prop readers, GPU facts, Kubernetes readers.

The helpers live in ``_policy`` (constructors, ``PolicyList``), ``_props`` (wire-prop readers, IAM
documents), ``_gpu`` (GPU taint/resource names, GPUs per instance) and ``_k8s`` (workloads, pod
templates, exemptions); policy modules import them from here.

This package is self-contained on purpose: the real CLI runs the pack in its own virtualenv
(``policy/requirements.txt``) where the blueprint's ``infra`` package is not installed.
"""

from __future__ import annotations

from ._gpu import (
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    GPUS_PER_INSTANCE,
    gpus_of,
    is_gpu_instance,
    is_gpu_node_group,
    node_group_instance_types,
)
from ._k8s import (
    CLUSTER_SCOPED_KINDS,
    EXEMPTIONS_SCHEMA,
    HELM_RELEASE,
    WORKLOAD_TYPES,
    Exemption,
    chart_name,
    containers,
    exempt,
    exemptions,
    helm_values,
    iter_containers,
    k8s_api_version,
    k8s_kind,
    labels_match,
    namespace_of,
    object_name,
    pod_metadata,
    pod_spec,
    requests_gpu,
    tolerates_gpu_taint,
    workload_label,
)
from ._policy import (
    POLICY_CONFIG,
    STACK_FILE,
    Check,
    PlatformStackPolicy,
    PolicyList,
    ReportViolation,
    StackCheck,
    TypedResourcePolicy,
    config_defaults,
)
from ._props import (
    allows,
    as_list,
    falsy_explicit,
    get,
    is_seq,
    json_doc,
    num,
    plain,
    principals,
    statements,
    truthy,
)

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "EXEMPTIONS_SCHEMA",
    "GPUS_PER_INSTANCE",
    "GPU_RESOURCE",
    "GPU_TAINT_KEY",
    "HELM_RELEASE",
    "POLICY_CONFIG",
    "STACK_FILE",
    "WORKLOAD_TYPES",
    "Check",
    "Exemption",
    "PlatformStackPolicy",
    "PolicyList",
    "ReportViolation",
    "StackCheck",
    "TypedResourcePolicy",
    "allows",
    "as_list",
    "chart_name",
    "config_defaults",
    "containers",
    "exempt",
    "exemptions",
    "falsy_explicit",
    "get",
    "gpus_of",
    "helm_values",
    "is_gpu_instance",
    "is_gpu_node_group",
    "is_seq",
    "iter_containers",
    "json_doc",
    "k8s_api_version",
    "k8s_kind",
    "labels_match",
    "namespace_of",
    "node_group_instance_types",
    "num",
    "object_name",
    "plain",
    "pod_metadata",
    "pod_spec",
    "principals",
    "requests_gpu",
    "statements",
    "tolerates_gpu_taint",
    "truthy",
    "workload_label",
]
