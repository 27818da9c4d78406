"""CI runners: GitHub Actions runner scale sets (ARC) (catalogue §3.10, CI-01…03), and the GitLab Runner,
Jenkins and CircleCI container-agent releases and their job pod templates (components/_ci.py).

CI-04…10 are checks on workflow files, not on resources; they belong to the repository's
workflow linting (actionlint/zizmor), not to this pack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from ._util import (
    GPU_RESOURCE,
    HELM_RELEASE,
    STACK_FILE,
    PolicyList,
    ReportViolation,
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
POD_TEMPLATE = "kubernetes:core/v1:PodTemplate"
# The label components/_ci.py puts on the CI backends' job pod templates.
JOB_PROFILE_LABEL = "platform.ai/ci-job-profile"


POLICIES = PolicyList()


def _values(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    return helm_values(args.props) if chart_name(args.props) == SCALE_SET else None


def _name(args: ResourceValidationArgs) -> str:
    return str(args.props.get("name") or args.name)


@POLICIES.resource(
    "ci-runner-github-app-auth",
    "Runner scale sets use GitHub App auth, a runner ceiling and (where required) scale to zero (CI-01).",
    Severity.MEDIUM,
    [HELM_RELEASE],
    config={"requireScaleToZero": {"type": "boolean", "default": False}},
)
def _github_app(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Runner scale sets authenticate with a GitHub App, set maxRunners and, where configured, minRunners 0."""
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


@POLICIES.resource(
    "ci-runner-no-dind",
    "Runners use containerMode kubernetes; privileged dind only in an isolated, listed namespace (CI-02).",
    Severity.HIGH,
    [HELM_RELEASE],
    config={"dindNamespaces": {"type": "array", "items": {"type": "string"}, "default": []}},
)
def _container_mode(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Runner scale sets use containerMode kubernetes; privileged dind only in a listed namespace."""
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


@POLICIES.resource(
    "ci-runner-isolated",
    "Runners have their own namespace, no GPU toleration unless they use GPUs, and resource limits (CI-03).",
    Severity.MEDIUM,
    [HELM_RELEASE],
    config={
        "forbiddenNamespaces": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["default", "kube-system", "serving", "monitoring"],
        }
    },
)
def _isolation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Runners avoid shared namespaces, tolerate GPUs only when they request them, and set resources."""
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


@POLICIES.resource(
    "ci-backend-secrets-by-reference",
    "GitLab Runner, Jenkins and CircleCI agent credentials come from a Secret, never from Helm values.",
    Severity.HIGH,
    [HELM_RELEASE],
)
def _backend_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CI backend credentials come from a Secret the program writes, never from Helm values."""
    # Values end up in the Pulumi state and in `helm get values`; a Secret the program writes does not.
    chart, v = chart_name(args.props), helm_values(args.props)
    name = _name(args)
    if chart == "gitlab-runner":
        if v.get("runnerToken") or v.get("runnerRegistrationToken"):
            report(f"gitlab-runner release '{name}' has its token in the Helm values: reference runners.secret instead")
        elif not get(v, "runners.secret"):
            report(f"gitlab-runner release '{name}' names no runners.secret: pass the token Secret's name")
    elif chart == "jenkins":
        if get(v, "controller.admin.password"):
            report(
                f"jenkins release '{name}' has the admin password in the Helm values: use controller.admin.existingSecret"
            )
        elif not get(v, "controller.admin.existingSecret"):
            report(
                f"jenkins release '{name}' has no controller.admin.existingSecret: the chart would generate a password"
            )
    elif chart == "container-agent":
        classes = get(v, "agent.resourceClasses") or {}
        if any(isinstance(c, Mapping) and c.get("token") for c in classes.values()):
            report(
                f"container-agent release '{name}' has resource-class tokens in the Helm values: use agent.customSecret"
            )
        elif not get(v, "agent.customSecret"):
            report(f"container-agent release '{name}' has no agent.customSecret: pass the token Secret's name")


@POLICIES.resource(
    "ci-jenkins-not-exposed",
    "The Jenkins controller has ClusterIP services and no Ingress or Route.",
    Severity.HIGH,
    [HELM_RELEASE],
)
def _jenkins_exposure(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The Jenkins controller (script console, credentials) is reachable only inside the cluster."""
    if chart_name(args.props) != "jenkins":
        return
    v, name = helm_values(args.props), _name(args)
    for key in ("controller.serviceType", "controller.agentListenerServiceType"):
        kind = get(v, key) or "ClusterIP"
        if kind != "ClusterIP":
            report(
                f"jenkins release '{name}' sets {key}: {kind}: keep ClusterIP (kubectl port-forward or an internal ingress)"
            )
    if get(v, "controller.ingress.enabled") is True or get(v, "controller.route.enabled") is True:
        report(f"jenkins release '{name}' publishes the controller through an Ingress/Route: remove it")


@POLICIES.resource(
    "ci-job-template-bounded",
    "CI job pod templates set CPU, memory and ephemeral-storage requests and limits, mount no API token, run "
    "unprivileged and tolerate the GPU taint only when they request GPUs.",
    Severity.MEDIUM,
    [POD_TEMPLATE],
)
def _job_template(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A CI job pod template: bounded, tokenless, unprivileged, GPU nodes only for GPU jobs."""
    labels = get(args.props, "metadata.labels") or {}
    if JOB_PROFILE_LABEL not in labels:
        return
    spec = get(args.props, "template.spec") or {}
    name = str(get(args.props, "metadata.name") or args.name)
    for c in containers(spec):
        missing = [
            f"{section}.{res}"
            for section in ("requests", "limits")
            for res in ("cpu", "memory", "ephemeral-storage")
            if not get(c, f"resources.{section}.{res}")
        ]
        if missing:
            report(
                f"CI job template '{name}' container '{c.get('name')}' has no {', '.join(missing)}: set the job profile in {STACK_FILE}"
            )
        if get(c, "securityContext.privileged") is True:
            report(f"CI job template '{name}' container '{c.get('name')}' is privileged: remove it")
    if spec.get("automountServiceAccountToken") is not False:
        report(f"CI job template '{name}' mounts a Kubernetes API token: set automountServiceAccountToken: false")
    if tolerates_gpu_taint(spec) and not requests_gpu(spec):
        report(
            f"CI job template '{name}' tolerates the GPU taint without requesting {GPU_RESOURCE}: CPU jobs would occupy GPU nodes"
        )
