"""GitHub Actions runner scale sets (ARC) (catalogue §3.10, CI-01…03).

CI-04…10 are checks on workflow files, not on resources; they belong to the repository's
workflow linting (actionlint/zizmor), not to this pack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs, Severity

from ._util import (
    GPU_RESOURCE,
    HELM_RELEASE,
    STACK_FILE,
    ReportViolation,
    TypedResourcePolicy,
    as_list,
    chart_name,
    containers,
    get,
    helm_values,
    num,
    requests_gpu,
    tolerates_gpu_taint,
)

SCALE_SET = "gha-runner-scale-set"


def _values(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    return helm_values(args.props) if chart_name(args.props) == SCALE_SET else None


def _name(args: ResourceValidationArgs) -> str:
    return str(args.props.get("name") or args.name)


def _github_app(args: ResourceValidationArgs, report: ReportViolation) -> None:
    v = _values(args)
    if v is None:
        return
    secret = v.get("githubConfigSecret")
    if isinstance(secret, Mapping) and (secret.get("github_token") or not secret.get("github_app_id")):
        report(
            f"runner scale set '{_name(args)}' authenticates with a personal access token: use the GitHub App "
            f"(ciRunners.githubAppId / githubAppInstallationId in {STACK_FILE}, key in the githubAppPrivateKey secret)"
        )
    elif secret is None:
        report(f"runner scale set '{_name(args)}' has no githubConfigSecret: pass the GitHub App secret's name")
    if args.get_config().get("requireScaleToZero") and (num(v.get("minRunners"), 0) or 0) > 0:
        report(
            f"runner scale set '{_name(args)}' keeps {num(v.get('minRunners')):g} idle runner(s): set "
            f"ciRunners.scaleSets.<name>.minRunners: 0 in {STACK_FILE}"
        )
    if v.get("maxRunners") is None:
        report(
            f"runner scale set '{_name(args)}' has no maxRunners (unbounded): set ciRunners.scaleSets.<name>.maxRunners in {STACK_FILE}"
        )


def _container_mode(args: ResourceValidationArgs, report: ReportViolation) -> None:
    v = _values(args)
    if v is None:
        return
    ns = str(args.props.get("namespace") or "default")
    dind_ok = ns in [str(n) for n in as_list(args.get_config().get("dindNamespaces"))]
    if get(v, "containerMode.type") == "dind" and not dind_ok:
        report(
            f"runner scale set '{_name(args)}' uses dind (a privileged sidecar) in namespace '{ns}': set "
            f"ciRunners.scaleSets.<name>.containerMode: kubernetes in {STACK_FILE}"
        )
    for c in containers(get(v, "template.spec")):
        if get(c, "securityContext.privileged") is True and not dind_ok:
            report(f"runner scale set '{_name(args)}' container '{c.get('name')}' is privileged: remove it")


def _isolation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    v = _values(args)
    if v is None:
        return
    ns = str(args.props.get("namespace") or "default")
    shared = [str(n) for n in as_list(args.get_config().get("forbiddenNamespaces"))]
    if ns in shared:
        report(
            f"runner scale set '{_name(args)}' runs in '{ns}' next to other workloads: set ciRunners.namespace to a dedicated namespace in {STACK_FILE}"
        )
    spec = get(v, "template.spec") or {}
    if tolerates_gpu_taint(spec) and not requests_gpu(spec):
        report(
            f"runner scale set '{_name(args)}' tolerates the GPU taint without requesting {GPU_RESOURCE}: CPU jobs would occupy GPU nodes"
        )
    runner = [c for c in containers(spec, init=False) if c.get("name") == "runner"]
    if not runner or not get(runner[0], "resources.limits.memory") or not get(runner[0], "resources.requests.cpu"):
        report(
            f"runner scale set '{_name(args)}' runner container has no CPU request / memory limit: set "
            f"ciRunners.scaleSets.<name>.cpu/memory in {STACK_FILE}"
        )


POLICIES: list[Policy] = [
    TypedResourcePolicy(
        "ci-runner-github-app-auth",
        "Runner scale sets use GitHub App auth, a runner ceiling and (where required) scale to zero (CI-01).",
        Severity.MEDIUM,
        [HELM_RELEASE],
        _github_app,
        config={"requireScaleToZero": {"type": "boolean", "default": False}},
    ),
    TypedResourcePolicy(
        "ci-runner-no-dind",
        "Runners use containerMode kubernetes; privileged dind only in an isolated, listed namespace (CI-02).",
        Severity.HIGH,
        [HELM_RELEASE],
        _container_mode,
        config={"dindNamespaces": {"type": "array", "items": {"type": "string"}, "default": []}},
    ),
    TypedResourcePolicy(
        "ci-runner-isolated",
        "Runners have their own namespace, no GPU toleration unless they use GPUs, and resource limits (CI-03).",
        Severity.MEDIUM,
        [HELM_RELEASE],
        _isolation,
        config={
            "forbiddenNamespaces": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["default", "kube-system", "serving", "monitoring"],
            }
        },
    ),
]
