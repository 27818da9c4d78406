"""Admission simulation: what the API server does with every pod the program's objects would create.

For every pod template in the plan (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
Pod; the runner pods of ``gha-runner-scale-set`` releases and the job pods their container hooks
create from the hook template ConfigMap) this applies, in the order the API server does:

1. **LimitRange defaulting of the LimitRange itself** (``SetDefaults_LimitRangeItem``,
   kubernetes ``pkg/apis/core/v1/defaults.go``): for ``type: Container`` a ``max`` without a
   ``default`` becomes the default limit, and a default limit without a ``defaultRequest`` becomes
   the default request. A ``max: {nvidia.com/gpu: 8}`` therefore hands 8 GPUs to every container
   that does not set one, init containers included.
2. **LimitRanger** (``plugin/pkg/admission/limitranger/admission.go``): defaults merged into each
   container and init container (``mergePodResourceRequirements``), then ``min``/``max``/
   ``maxLimitRequestRatio`` per container and init container, and per pod (sum of containers,
   or the largest init container if larger).
3. **ResourceQuota** (``pkg/quota/v1/evaluator/core/pods.go``, ``Constraints``): a quota on
   ``cpu``/``memory`` (``requests.*``/``limits.*``) makes every container and init container state
   it; a single pod larger than a ``hard`` value can never be admitted.
4. **Pod Security Admission** at the namespace's ``enforce`` level (the checks of
   https://kubernetes.io/docs/concepts/security/pod-security-standards/ that matter here).

Helm releases whose pod shape is not known contribute each ``resources`` block of their values as
a chart container, checked against the namespace's LimitRanges and quotas (not PSA).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from blueprint.preview.analyses import AnalysisResult, Finding
from blueprint.preview.analyses.pod_templates import PodTemplate, pod_templates
from blueprint.preview.plan import Plan
from blueprint.preview.render import k8s_object
from components.vocabulary import parse_quantity

NAME = "admission"


# --------------------------------------------------------------------------- quantities
def quantity(value: Any) -> Fraction:
    """A Kubernetes quantity (``500m``, ``16Gi``, ``1e3``, ``8``) as an exact number (components/vocabulary.py)."""
    return parse_quantity(value)


def _show(q: Fraction) -> str:
    return str(int(q)) if q.denominator == 1 else f"{int(q * 1000)}m"


# --------------------------------------------------------------------------- namespace state
@dataclass
class NamespaceRules:
    """What admission consults in one namespace."""

    psa: str = "privileged"
    limit_ranges: list[list[dict[str, Any]]] = field(default_factory=list)
    """Each LimitRange's ``spec.limits``, already defaulted as the API server stores them."""
    quotas: list[tuple[str, dict[str, Fraction]]] = field(default_factory=list)


def default_limit_range_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """``SetDefaults_LimitRangeItem`` (pkg/apis/core/v1/defaults.go): what the API server stores."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in item.items()}
    if out.get("type") != "Container":
        return out
    default = out.setdefault("default", {})
    default_request = out.setdefault("defaultRequest", {})
    for key, value in (item.get("max") or {}).items():
        default.setdefault(key, value)
    for key, value in default.items():
        default_request.setdefault(key, value)
    for key, value in (item.get("min") or {}).items():
        default_request.setdefault(key, value)
    return out


def namespace_rules(plan: Plan) -> dict[str, NamespaceRules]:
    """PSA level, LimitRanges and quotas of every namespace the plan defines."""
    rules: dict[str, NamespaceRules] = {}
    for r in plan.resources:
        kind = r.type.rsplit(":", 1)[-1]
        if kind not in ("Namespace", "LimitRange", "ResourceQuota") or not r.type.startswith("kubernetes:core/v1"):
            continue
        obj = k8s_object(r) or {}
        meta = obj.get("metadata") or {}
        if kind == "Namespace":
            ns = rules.setdefault(meta.get("name", ""), NamespaceRules())
            ns.psa = (meta.get("labels") or {}).get("pod-security.kubernetes.io/enforce", "privileged")
            continue
        ns = rules.setdefault(meta.get("namespace", "default"), NamespaceRules())
        spec = obj.get("spec") or {}
        if kind == "LimitRange":
            ns.limit_ranges.append([default_limit_range_item(i) for i in spec.get("limits") or []])
        else:
            hard = {k: quantity(v) for k, v in (spec.get("hard") or {}).items()}
            ns.quotas.append((meta.get("name", r.name), hard))
    return rules


# --------------------------------------------------------------------------- LimitRanger
def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for c in spec.get("initContainers") or []:
        yield f"init container {c.get('name')}", c
    for c in spec.get("containers") or []:
        yield f"container {c.get('name')}", c


def _resources(c: Mapping[str, Any]) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    res = c.get("resources") or {}
    return (
        {k: quantity(v) for k, v in (res.get("requests") or {}).items()},
        {k: quantity(v) for k, v in (res.get("limits") or {}).items()},
    )


@dataclass
class _Ctr:
    label: str
    requests: dict[str, Fraction]
    limits: dict[str, Fraction]
    defaulted: list[str] = field(default_factory=list)


def _apply_defaults(ctrs: list[_Ctr], limits: list[dict[str, Any]]) -> None:
    """``mergePodResourceRequirements``: a default fills only what a container leaves unset."""
    for item in limits:
        if item.get("type") != "Container":
            continue
        for c in ctrs:
            for key, value in (item.get("default") or {}).items():
                if key not in c.limits:
                    c.limits[key] = quantity(value)
                    c.defaulted.append(f"limit {key}={value}")
            for key, value in (item.get("defaultRequest") or {}).items():
                if key not in c.requests:
                    c.requests[key] = quantity(value)
                    c.defaulted.append(f"request {key}={value}")


def _check_item(
    kind: str, item: Mapping[str, Any], req: Mapping[str, Fraction], lim: Mapping[str, Fraction]
) -> list[str]:
    """minConstraint / maxConstraint / limitRequestRatioConstraint for one subject."""
    errors = []
    for key, value in (item.get("min") or {}).items():
        q = quantity(value)
        if key not in req:
            errors.append(f"minimum {key} usage per {kind} is {value}. No request is specified.")
        elif req[key] < q or (key in lim and lim[key] < q):
            errors.append(f"minimum {key} usage per {kind} is {value}, but it asks for less.")
    for key, value in (item.get("max") or {}).items():
        q = quantity(value)
        if key not in lim:
            errors.append(f"maximum {key} usage per {kind} is {value}. No limit is specified.")
        elif lim[key] > q or (key in req and req[key] > q):
            errors.append(f"maximum {key} usage per {kind} is {value}, but limit is {_show(lim[key])}.")
    for key, value in (item.get("maxLimitRequestRatio") or {}).items():
        if not req.get(key) or not lim.get(key):
            errors.append(f"{key} max limit to request ratio per {kind} is {value}, but no request or limit is set.")
        elif lim[key] / req[key] > quantity(value):
            errors.append(
                f"{key} max limit to request ratio per {kind} is {value}, but it is {float(lim[key] / req[key]):g}."
            )
    return errors


def pod_usage(ctrs: list[_Ctr], n_init: int) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    """Pod requests/limits: sum of the app containers, or the largest init container if larger."""
    req: dict[str, Fraction] = {}
    lim: dict[str, Fraction] = {}
    for c in ctrs[n_init:]:
        for key, v in c.requests.items():
            req[key] = req.get(key, Fraction(0)) + v
        for key, v in c.limits.items():
            lim[key] = lim.get(key, Fraction(0)) + v
    for c in ctrs[:n_init]:
        for key, v in c.requests.items():
            req[key] = max(req.get(key, Fraction(0)), v)
        for key, v in c.limits.items():
            lim[key] = max(lim.get(key, Fraction(0)), v)
    return req, lim


# --------------------------------------------------------------------------- the checks
_QUOTA_VALIDATION = {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}


def _quota_keys(c: _Ctr) -> set[str]:
    """``podComputeUsageHelper``: the quota names one container's resources count towards."""
    keys = set()
    for key in c.requests:
        keys |= {key, f"requests.{key}"} if key in ("cpu", "memory") else {f"requests.{key}"}
    for key in c.limits:
        keys.add(f"limits.{key}")
    return keys


def _limit_range_findings(pod: PodTemplate, ctrs: list[_Ctr], n_init: int, ns: NamespaceRules) -> list[Finding]:
    out = []
    for limits in ns.limit_ranges:
        _apply_defaults(ctrs, limits)
    for c in ctrs:
        extended = [d for d in c.defaulted if "/" in d.split("=")[0]]
        if extended:
            out.append(
                _finding(
                    pod,
                    c.label,
                    f"the namespace's LimitRange gives it {', '.join(sorted(set(extended)))} it never asked for "
                    "(a LimitRange `max` without `default` becomes the default; pkg/apis/core/v1/defaults.go).",
                    "set that resource explicitly on the container, or drop the LimitRange `max` for it",
                )
            )
    for limits in ns.limit_ranges:
        for item in limits:
            if item.get("type") == "Container":
                for c in ctrs:
                    out += [
                        _finding(pod, c.label, e, _lr_fix(pod))
                        for e in _check_item("Container", item, c.requests, c.limits)
                    ]
            elif item.get("type") == "Pod":
                req, lim = pod_usage(ctrs, n_init)
                out += [_finding(pod, "pod", e, _lr_fix(pod)) for e in _check_item("Pod", item, req, lim)]
    return out


def _lr_fix(pod: PodTemplate) -> str:
    return f"give the container explicit resources within the LimitRange of namespace {pod.namespace}, or change the LimitRange"


def _quota_findings(pod: PodTemplate, ctrs: list[_Ctr], n_init: int, ns: NamespaceRules) -> list[Finding]:
    out = []
    req, lim = pod_usage(ctrs, n_init)
    usage = {"pods": Fraction(1)}
    for key, v in req.items():
        usage[f"requests.{key}"] = v
        if key in ("cpu", "memory"):
            usage[key] = v
    usage.update({f"limits.{k}": v for k, v in lim.items()})
    for qname, hard in ns.quotas:
        required = set(hard) & _QUOTA_VALIDATION
        for c in ctrs:
            missing = sorted(required - _quota_keys(c))
            if missing:
                out.append(
                    _finding(
                        pod,
                        c.label,
                        f"ResourceQuota {qname} tracks {', '.join(missing)}, so the pod is refused: "
                        f'"must specify {",".join(missing)}" (pkg/quota/v1/evaluator/core/pods.go).',
                        "set requests and limits for cpu and memory on every container and init container, "
                        f"or a LimitRange default in namespace {pod.namespace}",
                    )
                )
        for key, limit in hard.items():
            if key in usage and usage[key] > limit:
                out.append(
                    _finding(
                        pod,
                        "pod",
                        f"one pod uses {key}={_show(usage[key])}, more than ResourceQuota {qname} allows in total "
                        f'({_show(limit)}): "exceeded quota".',
                        f"size the quota of namespace {pod.namespace} for this pod, or shrink the pod",
                    )
                )
    return out


def _finding(pod: PodTemplate, part: str, rule: str, fix: str) -> Finding:
    return Finding(NAME, f"{pod.where} {part}", rule, f"{fix}.")


# --------------------------------------------------------------------------- Pod Security Admission
_BASELINE_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
_RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip


def psa_violations(spec: Mapping[str, Any], level: str) -> list[tuple[str, str]]:
    """(part, rule) pairs a pod spec breaks at a PSA level (``baseline`` or ``restricted``)."""
    if level not in ("baseline", "restricted"):
        return []
    out: list[tuple[str, str]] = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            out.append(("pod", f"{key}: true is forbidden at {level}"))
    for v in spec.get("volumes") or []:
        if "hostPath" in v:
            out.append(("pod", f"hostPath volume {v.get('name')} is forbidden at {level}"))
        elif level == "restricted" and not (set(v) - {"name"}) <= _RESTRICTED_VOLUMES:
            out.append(("pod", f"volume {v.get('name')} has a type the restricted profile forbids"))
    psc = spec.get("securityContext") or {}
    for part, c in _containers(spec):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append((part, f"privileged: true is forbidden at {level}"))
        if any(p.get("hostPort") for p in c.get("ports") or []):
            out.append((part, f"hostPort is forbidden at {level}"))
        added = set((sc.get("capabilities") or {}).get("add") or [])
        allowed = {"NET_BIND_SERVICE"} if level == "restricted" else _BASELINE_CAPS
        if added - allowed:
            out.append((part, f"capabilities.add {sorted(added - allowed)} is forbidden at {level}"))
        if level == "restricted":
            out += [(part, r) for r in _restricted_container(sc, psc)]
    if level == "restricted" and psc.get("runAsUser") == 0:
        out.append(("pod", "runAsUser: 0 is forbidden at restricted"))
    return out


def _restricted_container(sc: Mapping[str, Any], psc: Mapping[str, Any]) -> list[str]:
    out = []
    if sc.get("allowPrivilegeEscalation") is not False:
        out.append("restricted needs securityContext.allowPrivilegeEscalation: false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        out.append("restricted needs securityContext.capabilities.drop: [ALL]")
    non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    if non_root is not True:
        out.append("restricted needs runAsNonRoot: true (pod or container)")
    if sc.get("runAsUser") == 0:
        out.append("runAsUser: 0 is forbidden at restricted")
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        out.append("restricted needs seccompProfile.type RuntimeDefault or Localhost (pod or container)")
    return out


def _psa_findings(pod: PodTemplate, level: str) -> list[Finding]:
    fix = pod.psa_fix or (
        f"give the pod the restricted securityContext (components/_k8s.py RESTRICTED_CONTAINER), "
        f"or run it in a namespace whose pod-security.kubernetes.io/enforce level allows it (now {level})"
    )
    return [
        _finding(pod, part, f"Pod Security Admission refuses the pod: {rule}.", fix)
        for part, rule in psa_violations(pod.spec, level)
    ]


# --------------------------------------------------------------------------- entry point
def check_pod(pod: PodTemplate, ns: NamespaceRules) -> list[Finding]:
    """Every admission finding for one pod template in its namespace."""
    findings: list[Finding] = []
    spec = pod.spec
    ctrs = []
    for label, c in _containers(spec):
        try:
            req, lim = _resources(c)
        except ValueError as exc:
            findings.append(_finding(pod, label, f"the API server rejects the pod: {exc}.", "use a valid quantity"))
            return findings
        ctrs.append(_Ctr(label, req, lim))
    n_init = len(spec.get("initContainers") or [])
    findings += _limit_range_findings(pod, ctrs, n_init, ns)
    findings += _quota_findings(pod, ctrs, n_init, ns)
    if pod.psa:
        findings += _psa_findings(pod, ns.psa)
        findings += _disk_findings(pod, ctrs)
    if pod.advisory:
        findings = [replace(f, blocking=False) for f in findings]
    return findings


def _disk_findings(pod: PodTemplate, ctrs: list[_Ctr]) -> list[Finding]:
    """A disk-backed emptyDir without ``sizeLimit`` in a pod without an ephemeral-storage limit can fill the node.

    The kubelet evicts a pod whose emptyDir passes its ``sizeLimit``, or whose total use passes the sum of
    its containers' ephemeral-storage limits; with neither, only node disk pressure stops it, and then
    the kubelet evicts whatever it picks on that node.
    """
    if any("ephemeral-storage" in c.limits for c in ctrs):
        return []
    return [
        _finding(
            pod,
            f"volume {v.get('name')}",
            "an emptyDir on the node disk without sizeLimit, in a pod without an ephemeral-storage limit, "
            "can fill the node disk and get other pods evicted.",
            "set emptyDir.sizeLimit (and an ephemeral-storage request and limit on the containers)",
        )
        for v in pod.spec.get("volumes") or []
        if isinstance(v.get("emptyDir"), Mapping)
        and v["emptyDir"].get("medium") != "Memory"
        and "sizeLimit" not in v["emptyDir"]
    ]


def analyse(plan: Plan, root: Path) -> AnalysisResult:
    """Simulate admission of every pod template in the plan."""
    rules = namespace_rules(plan)
    result = AnalysisResult(NAME)
    pods = pod_templates(plan)
    for pod in pods:
        result.findings += check_pod(pod, rules.get(pod.namespace, NamespaceRules()))
    # Chart pods arrive in no fixed order (two runner scale sets swapped between runs): sort for stable snapshots.
    result.findings.sort(key=lambda f: (f.object, f.rule))
    result.checked = {
        "pod templates": sum(1 for p in pods if p.psa and not p.advisory),
        "optional pods": sum(1 for p in pods if p.advisory),
        "chart containers": sum(1 for p in pods if not p.psa),
    }
    return result
