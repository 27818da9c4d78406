"""GitlabRunner: GitLab Runner with the Kubernetes executor, a CPU runner and a GPU runner selected by the ``gpu`` tag.

Provisions:
- the runner namespace (PSA restricted: the runner managers and their token Secrets) and the job
  namespace (PSA baseline: job images often run as root), each with a default-deny NetworkPolicy, the
  egress it needs, a ResourceQuota and a LimitRange sized for builds (``components/_ci.py``);
- one Secret per runner with its authentication token (``glrt-``, from secret config) in the runner
  namespace, referenced by name (``runners.secret``) so the token never appears in Helm values;
- the runners' ServiceAccount, with a Role in the *job* namespace only (the executor's documented
  permissions): no job pod and no runner holds any permission on the tokens' namespace;
- the job pods' ServiceAccount (no API token; the registry push role only where the stack builds images);
- one ``gitlab-runner`` release (charts.gitlab.io, pinned) per runner: the CPU runner, and the GPU runner
  when ``gpuConcurrent`` > 0. GitLab picks the runner by tags: a runner's tags are set where it is created
  in GitLab (authentication-token workflow), so the GPU runner is a second registration tagged ``gpu`` whose
  job pods request ``nvidia.com/gpu`` and land on the GPU pools (docs/ci-runners.md). A node-selector
  overwrite by job variable cannot add a GPU request, and would let any job claim GPU nodes.

Outputs: ``namespace``, ``job_namespace``, ``releases`` (``cpu``/``gpu`` -> release).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _ci, _contracts, _k8s
from components._helm import Chart, helm_release
from components.cluster_context import ClusterContext

# gitlab-org/charts/gitlab-runner, chart 0.93.0; values checked against tests/charts/gitlab-runner.yaml.
CHART = Chart(chart="gitlab-runner", version="0.93.0", repo="https://charts.gitlab.io")
RUNNER_SERVICE_ACCOUNT = "gitlab-runner"
JOB_SERVICE_ACCOUNT = "gitlab-job"
# The gitlab-runner (alpine) image runs as uid 100 with group 65533 (the chart's default podSecurityContext).
RUNNER_UID, RUNNER_FS_GROUP = 100, 65533

# What the Kubernetes executor needs in the namespace of its job pods (GitLab Runner docs,
# executors/kubernetes "Configure runner API permissions"): it creates the pod, attaches to and execs
# into its containers, reads logs, and creates the secrets (registry credentials) and the config maps
# (scripts) the job pod mounts.
EXECUTOR_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/attach", "pods/exec"], "verbs": ["create", "delete", "get", "patch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["create", "delete", "get", "update"]},
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
]
# The helper container (git clone, artifacts, cache) and services of every job pod.
HELPER = _ci.JobProfile(cpu="500m", memory="512Mi", ephemeral_storage_gib=2)
SERVICE = _ci.JobProfile(cpu="1", memory="1Gi", ephemeral_storage_gib=5)


@dataclass(frozen=True)
class GitlabRunnerArgs:
    """Inputs of :class:`GitlabRunner`. The cluster comes as its :class:`ClusterContext`: the push role from ``irsa`` (tagged ``tags``), the managers on ``system_node_selector``, the releases after ``needs_nodes``."""

    gitlab_url: str
    """The GitLab instance the runners were created in (``https://gitlab.com/``)."""
    runner_token: pulumi.Input[str]
    """Authentication token of the CPU runner; kept secret end to end."""
    gpu_runner_token: pulumi.Input[str] | None = None
    """Authentication token of the runner tagged ``gpu``; None: no GPU runner."""
    namespace: str = "gitlab-runner"
    """Namespace of the runner managers and the token Secrets."""
    job_namespace: str = "gitlab-jobs"
    """Namespace of the job pods."""
    concurrent: int = 10
    """Most CPU jobs at once."""
    gpu_concurrent: int = 1
    """Most GPU jobs at once."""
    check_interval_seconds: int = 3
    """How often an idle runner polls GitLab for jobs."""
    job_image: str = "public.ecr.aws/docker/library/ubuntu:24.04"
    """Image of jobs that name none."""
    cpu_job: _ci.JobProfile = field(default_factory=_ci.JobProfile)
    """CPU job pods."""
    gpu_job: _ci.JobProfile = field(default_factory=lambda: _ci.JobProfile(cpu="8", memory="32Gi", gpus=1))
    """GPU job pods."""
    push_repository_arns: Sequence[pulumi.Input[str]] = ()
    """Repositories the job pods may push to; empty: no AWS access (only the stack that builds images sets it)."""


def gitlab_flows(args: GitlabRunnerArgs) -> list[_contracts.Flow]:
    """The runners poll GitLab and drive the API server; jobs reach GitLab, registries and the ECR endpoints."""
    runners, jobs = _contracts.pods(args.namespace, {}), _contracts.pods(args.job_namespace, {})
    web, vpc, flow = _contracts.cidr(_contracts.INTERNET), _contracts.vpc(), _contracts.Flow
    return [
        *_contracts.dns(args.namespace, what="GitLab runners"),
        *_contracts.dns(args.job_namespace, what="GitLab job pods"),
        flow("GitLab runners -> GitLab", runners, web, 443),
        flow("GitLab runners -> API server (Kubernetes executor)", runners, vpc, 443),
        flow("GitLab job pods -> GitLab, registries and packages", jobs, web, 443),
        flow("GitLab job pods -> ECR and STS endpoints", jobs, vpc, 443),
    ]


def runner_toml(args: GitlabRunnerArgs, profile: _ci.JobProfile) -> str:
    """The ``config.toml`` template of one runner (GitLab Runner docs, ``[runners.kubernetes]``)."""
    kube: dict[str, Any] = {
        "namespace": args.job_namespace,
        "image": args.job_image,
        "service_account": JOB_SERVICE_ACCOUNT,
        "privileged": False,
        "allow_privilege_escalation": False,
        # A GPU job may wait for the autoscaler to start a GPU node (minutes), not the 180 s default.
        "poll_timeout": 900,
    }
    for prefix, p in (("", profile), ("helper_", HELPER), ("service_", SERVICE)):
        kube |= {
            f"{prefix}cpu_request": p.cpu,
            f"{prefix}cpu_limit": p.cpu,
            f"{prefix}memory_request": p.memory,
            f"{prefix}memory_limit": p.memory,
            f"{prefix}ephemeral_storage_request": f"{p.ephemeral_storage_gib}Gi",
            f"{prefix}ephemeral_storage_limit": f"{p.ephemeral_storage_gib}Gi",
        }
    placed = _ci.placement(profile)
    if placed.get("nodeSelector") or profile.gpus:
        kube["node_selector"] = {
            **({_k8s.LABEL_ACCELERATOR: "nvidia"} if profile.gpus else {}),
            **placed.get("nodeSelector", {}),
        }
    if profile.gpus:
        # A key without "=value" tolerates with operator Exists (node_tolerations format).
        kube["node_tolerations"] = {t["key"]: t["effect"] for t in placed["tolerations"]}
    else:
        kube["affinity"] = {
            "node_affinity": {
                "required_during_scheduling_ignored_during_execution": {
                    "node_selector_terms": [
                        {"match_expressions": [{"key": _k8s.LABEL_ACCELERATOR, "operator": "DoesNotExist"}]}
                    ]
                }
            }
        }
    if profile.restricted:
        kube["pod_security_context"] = {
            "run_as_non_root": True,
            "run_as_user": _ci.JOB_UID,
            "run_as_group": _ci.JOB_UID,
            "fs_group": _ci.JOB_UID,
        }
        kube["build_container_security_context"] = {"run_as_non_root": True, "capabilities": {"drop": ["ALL"]}}
    runner: dict[str, Any] = {"executor": "kubernetes", "kubernetes": kube}
    if profile.gpus:
        # The executor has no GPU setting; the pod spec patch adds the extended resource to the build
        # container (GitLab Runner docs, "Overwrite generated pod specifications", behind this flag).
        gpu = {"nvidia.com/gpu": str(profile.gpus)}
        patch = {"containers": [{"name": "build", "resources": {"requests": gpu, "limits": gpu}}]}
        kube["pod_spec"] = [{"name": "gpu", "patch_type": "strategic", "patch": json.dumps(patch)}]
        runner["feature_flags"] = {"FF_USE_ADVANCED_POD_SPEC_CONFIGURATION": True}
    return _ci.toml({"runners": [runner]})


def job_pod(args: GitlabRunnerArgs, profile: _ci.JobProfile) -> dict[str, Any]:
    """The job pod the executor creates from :func:`runner_toml` (build and helper containers)."""
    helper = {
        "name": "helper",
        # The executor's default helper image: the runner's own revision (GitLab Runner docs, helper_image).
        "image": "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-${CI_RUNNER_REVISION}",
        "resources": _ci.resources(HELPER),
        "securityContext": _ci.container_security(profile),
    }
    return _ci.job_pod_spec(
        profile, "build", args.job_image, service_account=JOB_SERVICE_ACCOUNT, extra_containers=[helper]
    )


class GitlabRunner(pulumi.ComponentResource):
    """GitLab runners (CPU, and GPU by tag), their token Secrets, identities and job namespace."""

    namespace: str
    job_namespace: str
    releases: dict[str, pulumi.Resource]

    def __init__(
        self, name: str, args: GitlabRunnerArgs, context: ClusterContext, opts: pulumi.ResourceOptions | None = None
    ):
        props = _contracts.declare(flows=gitlab_flows(args))
        super().__init__("platform:index:GitlabRunner", name, props, _k8s.with_provider(opts, context.k8s_provider))
        self._name, self._args, self._ctx = name, args, context
        runner_ns, job_ns = self._namespaces()
        binding = self._identity(runner_ns, job_ns)
        profiles = {"cpu": (args.cpu_job, args.runner_token, args.concurrent)}
        if args.gpu_runner_token is not None and args.gpu_concurrent:
            profiles["gpu"] = (args.gpu_job, args.gpu_runner_token, args.gpu_concurrent)
        self.releases = {}
        for kind, (profile, token, concurrent) in profiles.items():
            _ci.pod_template(
                f"{name}-{kind}-job-template",
                args.job_namespace,
                kind,
                job_pod(args, profile),
                backend="gitlab",
                parent=self,
            )
            secret = _ci.secret(
                f"{name}-{kind}-token",
                runner_ns,
                f"gitlab-runner-{kind}",
                # runner-registration-token stays empty with authentication tokens (chart docs, "Store
                # registration tokens or runner tokens in secrets").
                {"runner-registration-token": "", "runner-token": token},
                parent=self,
            )
            self.releases[kind] = helm_release(
                f"{name}-{kind}",
                f"gitlab-runner-{kind}",
                CHART,
                args.namespace,
                self._values(kind, profile, concurrent),
                parent=self,
                depends_on=[secret, binding, job_ns, *self._ctx.needs_nodes],
            )
        self.namespace, self.job_namespace = args.namespace, args.job_namespace
        self.register_outputs({"namespace": self.namespace, "job_namespace": self.job_namespace})

    def _namespaces(self) -> tuple[k8s.core.v1.Namespace, k8s.core.v1.Namespace]:
        name, args = self._name, self._args
        runner_ns = _k8s.namespace(f"{name}-namespace", args.namespace, parent=self)
        _k8s.quota_and_limits(f"{name}-runners", runner_ns, parent=self, hard={"pods": "10"})
        _k8s.default_deny(f"{name}-runners-default-deny", runner_ns, parent=self)
        _k8s.network_policy(
            f"{name}-runners-allow-egress",
            runner_ns,
            "allow-dns-and-https",
            parent=self,
            egress=[_k8s.dns_egress(), _k8s.tcp_egress(443)],
        )
        # One pod per job, plus room for pods still terminating.
        gpu_jobs = args.gpu_concurrent if args.gpu_runner_token is not None else 0
        job_ns = _ci.job_namespace(
            f"{name}-jobs",
            args.job_namespace,
            parent=self,
            max_pods=args.concurrent + gpu_jobs + 10,
            max_gpus=gpu_jobs * args.gpu_job.gpus,
            default=args.cpu_job,
        )
        return runner_ns, job_ns

    def _identity(self, runner_ns: k8s.core.v1.Namespace, job_ns: k8s.core.v1.Namespace) -> pulumi.Resource:
        """Runner SA (Role in the job namespace only) and the job pods' SA (push role where the stack builds)."""
        name, args = self._name, self._args
        role: aws.iam.Role | None = None
        if args.push_repository_arns:
            role = _ci.push_role(
                f"{name}-push",
                self._ctx.irsa,
                args.job_namespace,
                JOB_SERVICE_ACCOUNT,
                args.push_repository_arns,
                parent=self,
                tags=self._ctx.tags,
            )
        _ci.service_account(f"{name}-job-sa", job_ns, JOB_SERVICE_ACCOUNT, role, parent=self)
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-runner-sa",
            metadata={
                "name": RUNNER_SERVICE_ACCOUNT,
                "namespace": runner_ns.metadata.name,
                "labels": dict(_k8s.MANAGED_BY),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        meta: Any = {"name": "gitlab-runner-executor", "namespace": job_ns.metadata.name}
        rules: Any = EXECUTOR_RULES
        k8s_role = k8s.rbac.v1.Role(
            f"{name}-executor-role", metadata=meta, rules=rules, opts=pulumi.ResourceOptions(parent=self)
        )
        ref: Any = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gitlab-runner-executor"}
        subjects: Any = [{"kind": "ServiceAccount", "name": RUNNER_SERVICE_ACCOUNT, "namespace": args.namespace}]
        return k8s.rbac.v1.RoleBinding(
            f"{name}-executor-rolebinding",
            metadata=meta,
            role_ref=ref,
            subjects=subjects,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[k8s_role, sa]),
        )

    def _values(self, kind: str, profile: _ci.JobProfile, concurrent: int) -> dict[str, Any]:
        args = self._args
        return {
            "gitlabUrl": args.gitlab_url,
            "concurrent": concurrent,
            "checkInterval": args.check_interval_seconds,
            "logFormat": "json",
            # Our Role in the job namespace; the chart's would be in the token Secrets' namespace.
            "rbac": {"create": False},
            "serviceAccount": {"create": False, "name": RUNNER_SERVICE_ACCOUNT},
            "runners": {"secret": f"gitlab-runner-{kind}", "config": runner_toml(args, profile)},
            "resources": _k8s.agent_resources("100m", "256Mi", memory_limit="512Mi"),
            "podSecurityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUNNER_UID,
                "fsGroup": RUNNER_FS_GROUP,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            # The runner writes its config.toml into its home directory: root filesystem stays writable.
            "securityContext": {**_k8s.RESTRICTED_CONTAINER, "readOnlyRootFilesystem": False},
            "nodeSelector": dict(self._ctx.system_node_selector),
            "metrics": {"enabled": False},
        }
