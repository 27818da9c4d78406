"""What the CI backends share (internal): job profiles, job namespaces, job pod specs and the registry push role.

GitLab Runner, Jenkins and the CircleCI container agent each describe their job pods in their own
format (TOML, Configuration as Code, resource-class specs). Each component builds those from the
same :func:`job_pod_spec`, and also registers it as a v1 ``PodTemplate`` in the job namespace
(``kubectl get podtemplates``), so the admission analysis checks every job shape against the
namespace's LimitRange, ResourceQuota and Pod Security level, as it does for ARC's hook template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _k8s
from components._common import Irsa, irsa_role, policy_json
from components.registry import PUSH_ACTIONS

# The label the job-profile PodTemplates carry: <backend>/<profile>.
JOB_PROFILE_LABEL = "platform.ai/ci-job-profile"
# Build images that run without root commonly use uid 1000 (jenkins/inbound-agent, cimg/*, node).
JOB_UID = 1000


@dataclass(frozen=True)
class JobProfile:
    """The pod of one kind of CI job; requests equal limits (never throttled below what it asked)."""

    cpu: str = "4"
    """CPU of the job container."""
    memory: str = "8Gi"
    """Memory of the job container."""
    ephemeral_storage_gib: int = 50
    """Ephemeral storage of the job container (checkout, caches, build outputs)."""
    gpus: int = 0
    """``nvidia.com/gpu`` of the job container; >0 places the pod on the GPU pools only."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Extra node selector (one pool); empty: any CPU pool (GPU profiles: any GPU pool)."""
    restricted: bool = False
    """Run as uid 1000 with the restricted security context; off by default: many build images need root."""


def resources(profile: JobProfile) -> dict[str, Any]:
    """Requests equal to limits, GPUs and ephemeral storage included."""
    return _k8s.resources(
        profile.cpu, profile.memory, profile.gpus, ephemeral_storage=f"{profile.ephemeral_storage_gib}Gi"
    )


def placement(profile: JobProfile) -> dict[str, Any]:
    """GPU jobs on GPU pools (taint tolerated); CPU jobs off them (no GPU node spent on a CPU build)."""
    placed = _k8s.gpu_placement(profile.gpus)
    if not profile.gpus:
        placed["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": _k8s.LABEL_ACCELERATOR, "operator": "DoesNotExist"}]}
                    ]
                }
            }
        }
    if profile.node_selector:
        placed["nodeSelector"] = dict(profile.node_selector)
    return placed


def pod_security(profile: JobProfile) -> dict[str, Any]:
    """Pod securityContext: restricted (uid 1000) where the job image allows it, else RuntimeDefault seccomp."""
    if profile.restricted:
        return _k8s.restricted_pod(JOB_UID)
    return {"seccompProfile": {"type": "RuntimeDefault"}}


def container_security(profile: JobProfile) -> dict[str, Any]:
    """Job container securityContext: no privilege escalation; restricted profiles also drop every capability."""
    if profile.restricted:
        return {**_k8s.RESTRICTED_CONTAINER, "readOnlyRootFilesystem": False}
    return {"allowPrivilegeEscalation": False, "privileged": False}


def job_pod_spec(
    profile: JobProfile,
    container: str,
    image: str,
    *,
    service_account: str | None = None,
    extra_containers: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A job pod: explicit resources, placement, no Kubernetes API token, the profile's security context."""
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(profile),
        **placement(profile),
        "containers": [
            {
                "name": container,
                "image": image,
                "resources": resources(profile),
                "securityContext": container_security(profile),
            },
            *[dict(c) for c in extra_containers],
        ],
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    return spec


def pod_template(
    name: str, namespace: str, template: str, spec: Mapping[str, Any], *, backend: str, parent: pulumi.Resource
) -> k8s.core.v1.PodTemplate:
    """The job shape as a v1 PodTemplate in the job namespace: what the admission analysis checks."""
    labels = {**_k8s.MANAGED_BY, JOB_PROFILE_LABEL: f"{backend}.{template}"}
    meta: Any = {"name": f"{backend}-{template}", "namespace": namespace, "labels": labels}
    tmpl: Any = {"metadata": {"labels": labels}, "spec": dict(spec)}
    return k8s.core.v1.PodTemplate(name, metadata=meta, template=tmpl, opts=pulumi.ResourceOptions(parent=parent))


def job_namespace(
    name: str,
    ns: str,
    *,
    parent: pulumi.Resource,
    max_pods: int,
    max_gpus: int,
    default: JobProfile,
    enforce: str = "baseline",
    extra_egress: Sequence[Mapping[str, Any]] = (),
    ingress: Sequence[Mapping[str, Any]] | None = None,
) -> k8s.core.v1.Namespace:
    """A namespace for job pods: PSA ``enforce`` (job images often run as root), quota, LimitRange, default deny.

    The quota counts pods and GPUs only: a CPU/memory quota turns a full namespace into failed jobs
    instead of queued ones (the executors create pods and give up when the API server refuses them).
    The LimitRange default is the CPU job profile, not 500m/1Gi, so a container the executor adds
    without resources (a service, a helper) is not starved into an OOM-killed build.
    """
    namespace = _k8s.namespace(name, ns, parent=parent, enforce=enforce)
    _k8s.quota_and_limits(
        name,
        namespace,
        parent=parent,
        hard={"pods": str(max_pods), "requests.nvidia.com/gpu": str(max_gpus)},
        default_cpu=default.cpu,
        default_memory=default.memory,
    )
    _k8s.default_deny(f"{name}-default-deny", namespace, parent=parent)
    # Jobs reach their CI server, package mirrors (HTTP 80 for apt), registries and the ECR and STS
    # endpoints in the VPC; the instance metadata service stays closed (IRSA needs no IMDS).
    _k8s.network_policy(
        f"{name}-allow-egress",
        namespace,
        "allow-dns-and-web",
        parent=parent,
        egress=[_k8s.dns_egress(), _k8s.tcp_egress(443, 80), *extra_egress],
    )
    if ingress:
        _k8s.network_policy(f"{name}-allow-ingress", namespace, "allow-ingress", parent=parent, ingress=ingress)
    return namespace


def push_role(
    name: str,
    irsa: Irsa,
    namespace: str,
    service_account: str,
    repository_arns: Sequence[pulumi.Input[str]],
    *,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
) -> aws.iam.Role:
    """An IRSA role that pushes to the platform's repositories only, scoped like the registry's ARC push role.

    Same-account ECR access needs only the identity policy (the repository policy grants nothing it
    would have to); no KMS statement: ECR makes the KMS calls through its own grant
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html).
    """
    policy = pulumi.Output.all(*repository_arns).apply(
        lambda arns: policy_json(
            [
                {
                    "Sid": "PushPlatformRepositories",
                    "Effect": "Allow",
                    "Action": list(PUSH_ACTIONS),
                    "Resource": sorted(arns),
                },
                # GetAuthorizationToken has no resource-level permissions (Service Authorization Reference).
                {"Sid": "RegistryLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            ]
        )
    )
    return irsa_role(name, irsa, namespace, service_account, parent=parent, policy=policy, tags={**tags, "Name": name})


def service_account(
    name: str, namespace: k8s.core.v1.Namespace, sa: str, role: aws.iam.Role | None, *, parent: pulumi.Resource
) -> k8s.core.v1.ServiceAccount:
    """The job pods' service account: the push role's annotation where the stack builds images, no token mount."""
    annotations: dict[str, Any] = {}
    if role is not None:
        annotations["eks.amazonaws.com/role-arn"] = role.arn
    meta: Any = {
        "name": sa,
        "namespace": namespace.metadata.name,
        "labels": dict(_k8s.MANAGED_BY),
        "annotations": annotations,
    }
    return k8s.core.v1.ServiceAccount(
        name, metadata=meta, automount_service_account_token=False, opts=pulumi.ResourceOptions(parent=parent)
    )


def secret(
    name: str,
    namespace: k8s.core.v1.Namespace,
    secret_name: str,
    data: Mapping[str, pulumi.Input[str]],
    *,
    parent: pulumi.Resource,
) -> k8s.core.v1.Secret:
    """An Opaque Secret whose values stay secret in the state (referenced by name from Helm values)."""
    meta: Any = {"name": secret_name, "namespace": namespace.metadata.name, "labels": dict(_k8s.MANAGED_BY)}
    return k8s.core.v1.Secret(
        name,
        metadata=meta,
        type="Opaque",
        string_data={k: pulumi.Output.secret(v) for k, v in data.items()},
        opts=pulumi.ResourceOptions(parent=parent),
    )


# --------------------------------------------------------------------------- TOML (GitLab's config.toml template)
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list) and all(not isinstance(i, Mapping) for i in v):
        return "[" + ", ".join(_toml_value(i) for i in v) + "]"
    raise TypeError(f"no TOML value for {v!r}")


def toml(doc: Mapping[str, Any], prefix: str = "") -> str:
    """A small TOML writer for nested tables and arrays of tables (``tomllib`` reads it back in the tests)."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for key, value in doc.items():
        quoted = key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)
        path = f"{prefix}.{quoted}" if prefix else quoted
        if isinstance(value, Mapping):
            tables.append((path, value))
        elif isinstance(value, list) and value and all(isinstance(i, Mapping) for i in value):
            tables.extend((f"[{path}]", item) for item in value)
        else:
            lines.append(f"{quoted} = {_toml_value(value)}")
    out = "\n".join(lines)
    for path, table in tables:
        # An array-of-tables item arrives as "[name]" and gets the "[[name]]" header.
        name = path[1:-1] if path.startswith("[") else path
        body = toml(table, name)
        out += f"\n[{path}]\n{body}" if out else f"[{path}]\n{body}"
    return out
