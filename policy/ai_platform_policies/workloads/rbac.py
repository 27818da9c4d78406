"""RBAC: least-privilege Roles and no extra cluster-admin bindings (catalogue §3.8, K8S-23)."""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs, Severity

from .._util import (
    PolicyList,
    ReportViolation,
    as_list,
    get,
    k8s_kind,
    object_name,
)
from ._common import (
    BINDING_TYPES,
    ROLE_TYPES,
)

_RBAC_EXEMPT_CFG = {
    "exemptRoles": {
        "type": "array",
        "default": [],
        "description": "Roles allowed exec and unscoped Secret access, each `{namespace, name, reason}`; wildcards, "
        "escalate/bind/impersonate are never exempt.",
    }
}

POLICIES = PolicyList()


def _rbac_exempt(args: ResourceValidationArgs) -> bool:
    ns = str(get(args.props, "metadata.namespace") or "")
    name = object_name(args.props, args.name)
    return any(
        e.get("namespace") == ns and e.get("name") == name and e.get("reason")
        for e in as_list(args.get_config().get("exemptRoles"))
    )


@POLICIES.resource(
    "k8s-rbac-least-privilege",
    "Roles use no wildcards, escalate/bind/impersonate, exec or blanket secret reads (K8S-23; CKV_K8S_49/155–158).",
    Severity.HIGH,
    ROLE_TYPES,
    config=_RBAC_EXEMPT_CFG,
)
def _rbac(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Roles grant no wildcards or escalate/bind/impersonate, and (unless exempt) no exec or unscoped Secret reads."""
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


@POLICIES.resource(
    "k8s-rbac-no-cluster-admin-binding",
    "No extra cluster-admin bindings (K8S-23; CIS 4.1.1).",
    Severity.HIGH,
    BINDING_TYPES,
    config={"allowedSubjects": {"type": "array", "items": {"type": "string"}, "default": []}},
)
def _cluster_admin(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Bindings to cluster-admin name only the allowed subjects."""
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
