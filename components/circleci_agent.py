"""CircleciAgent: the CircleCI container agent with a CPU and a GPU resource class.

Provisions:
- the agent namespace (PSA baseline: the agent launches task pods in its own namespace, and job images
  often run as root) with a default-deny NetworkPolicy, egress to DNS and the web (CircleCI's runner API,
  registries, the ECR and STS endpoints; never the instance metadata service), a ResourceQuota counting
  pods and GPUs and a LimitRange sized for builds;
- a Secret with the resource-class tokens (from secret config), referenced by name
  (``agent.customSecret``; keys ``<namespace>.<class>``, as the chart documents), so no token is in the
  Helm values;
- the task pods' ServiceAccount (no API token; the registry push role only where the stack builds images);
- the ``container-agent`` release (packagecloud.io/circleci/container-agent, pinned) on the system pool:
  resource classes whose task pods have explicit resources, CPU pools for the CPU class, and the GPU
  request, GPU-taint toleration and GPU-pool affinity for the GPU class.

Outputs: ``namespace``, ``release``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _ci, _contracts, _k8s
from components._helm import Chart, helm_release
from components.cluster_context import ClusterContext

# CircleCI-Public/container-runner-helm-chart tag v101.1.7 (agent 3.1.8); values checked against
# tests/charts/container-agent.yaml.
CHART = Chart(chart="container-agent", version="101.1.7", repo="https://packagecloud.io/circleci/container-agent/helm")
RELEASE = "container-agent"
TOKEN_SECRET = "circleci-resource-class-tokens"  # noqa: S105 - the Secret's name, not a secret
TASK_SERVICE_ACCOUNT = "circleci-task"
# What the task pods look like to the admission analysis: the job picks its image (cimg/base is CircleCI's).
REPRESENTATIVE_IMAGE = "cimg/base:current"
# The init container that copies the task agent into every task pod (chart value orchestrator.resources).
ORCHESTRATOR = _ci.JobProfile(cpu="250m", memory="256Mi", ephemeral_storage_gib=1)


@dataclass(frozen=True)
class CircleciAgentArgs:
    """Inputs of :class:`CircleciAgent`. The cluster comes as its :class:`ClusterContext`: the push role from ``irsa`` (tagged ``tags``), the agent on ``system_node_selector``, the release after ``needs_nodes``."""

    cpu_resource_class: str
    """``<namespace>/<name>`` of the CPU resource class."""
    cpu_token: pulumi.Input[str]
    """Its token; kept secret end to end."""
    gpu_resource_class: str | None = None
    """``<namespace>/<name>`` of the GPU resource class; None: none."""
    gpu_token: pulumi.Input[str] | None = None
    """Token of the GPU resource class."""
    namespace: str = "circleci"
    """Namespace of the agent, the token Secret and the task pods."""
    max_concurrent_tasks: int = 20
    """Most task pods at once."""
    cpu_job: _ci.JobProfile = field(default_factory=_ci.JobProfile)
    """Task pods of the CPU class."""
    gpu_job: _ci.JobProfile = field(default_factory=lambda: _ci.JobProfile(cpu="8", memory="32Gi", gpus=1))
    """Task pods of the GPU class."""
    push_repository_arns: Sequence[pulumi.Input[str]] = ()
    """Repositories the task pods may push to; empty: no AWS access."""


def circleci_flows(args: CircleciAgentArgs) -> list[_contracts.Flow]:
    """The agent claims tasks from CircleCI and drives the API server; task pods reach CircleCI, registries and ECR."""
    agent = _contracts.pods(args.namespace, {"app": "container-agent"})
    tasks = _contracts.pods(args.namespace, {})
    web, vpc, flow = _contracts.cidr(_contracts.INTERNET), _contracts.vpc(), _contracts.Flow
    return [
        *_contracts.dns(args.namespace, what="CircleCI agent and tasks"),
        flow("CircleCI agent -> runner API", agent, web, 443),
        flow("CircleCI agent -> API server (task pods)", agent, vpc, 443),
        flow("CircleCI task pods -> CircleCI, registries and packages", tasks, web, 443),
        flow("CircleCI task pods -> ECR and STS endpoints", tasks, vpc, 443),
    ]


def task_spec(profile: _ci.JobProfile) -> dict[str, Any]:
    """A resource class's task pod spec; the agent merges it into every task pod of the class
    (chart values.yaml ``agent.resourceClasses.<class>.spec``; CircleCI docs "resource class configuration")."""
    spec = _ci.job_pod_spec(profile, "task", REPRESENTATIVE_IMAGE, service_account=TASK_SERVICE_ACCOUNT)
    # The agent names the task container and picks its image from the job; only its settings are ours.
    container = spec["containers"][0]
    spec["containers"] = [{"resources": container["resources"], "securityContext": container["securityContext"]}]
    return spec


def secret_key(resource_class: str) -> str:
    """Kubernetes secret keys cannot hold ``/``; the chart reads ``<namespace>.<class>`` (values.yaml customSecret)."""
    return resource_class.replace("/", ".")


class CircleciAgent(pulumi.ComponentResource):
    """CircleCI container agent, its token Secret, task identity and namespace."""

    namespace: str
    release: pulumi.Resource

    def __init__(
        self, name: str, args: CircleciAgentArgs, context: ClusterContext, opts: pulumi.ResourceOptions | None = None
    ):
        props = _contracts.declare(flows=circleci_flows(args))
        super().__init__("platform:index:CircleciAgent", name, props, _k8s.with_provider(opts, context.k8s_provider))
        self._name, self._args, self._ctx = name, args, context
        classes = self._classes()
        gpu_tasks = args.max_concurrent_tasks * args.gpu_job.gpus if args.gpu_resource_class else 0
        ns = _ci.job_namespace(
            f"{name}-namespace",
            args.namespace,
            parent=self,
            max_pods=args.max_concurrent_tasks + 10,
            max_gpus=gpu_tasks,
            default=args.cpu_job,
        )
        tokens = {secret_key(rc): token for rc, (_, token) in classes.items()}
        secret = _ci.secret(f"{name}-tokens", ns, TOKEN_SECRET, tokens, parent=self)
        sa = self._task_identity(ns)
        for _rc, (profile, _) in classes.items():
            kind = "gpu" if profile.gpus else "cpu"
            spec = task_spec(profile)
            spec["containers"] = [{"name": "task", "image": REPRESENTATIVE_IMAGE, **spec["containers"][0]}]
            # The agent adds its orchestrator init container (image chosen by the agent for its version;
            # resources from orchestrator.resources below, smaller than the task container).
            _ci.pod_template(
                f"{name}-{kind}-task-template", args.namespace, kind, spec, backend="circleci", parent=self
            )
        self.release = helm_release(
            f"{name}-agent",
            RELEASE,
            CHART,
            args.namespace,
            self._values(classes),
            parent=self,
            depends_on=[secret, sa, ns, *self._ctx.needs_nodes],
        )
        self.namespace = args.namespace
        self.register_outputs({"namespace": self.namespace})

    def _classes(self) -> dict[str, tuple[_ci.JobProfile, pulumi.Input[str]]]:
        args = self._args
        out: dict[str, tuple[_ci.JobProfile, pulumi.Input[str]]] = {
            args.cpu_resource_class: (args.cpu_job, args.cpu_token)
        }
        if args.gpu_resource_class and args.gpu_token is not None:
            out[args.gpu_resource_class] = (args.gpu_job, args.gpu_token)
        return out

    def _task_identity(self, ns: k8s.core.v1.Namespace) -> pulumi.Resource:
        name, args = self._name, self._args
        role: aws.iam.Role | None = None
        if args.push_repository_arns:
            role = _ci.push_role(
                f"{name}-push",
                self._ctx.irsa,
                args.namespace,
                TASK_SERVICE_ACCOUNT,
                args.push_repository_arns,
                parent=self,
                tags=self._ctx.tags,
            )
        return _ci.service_account(f"{name}-task-sa", ns, TASK_SERVICE_ACCOUNT, role, parent=self)

    def _values(self, classes: Mapping[str, tuple[_ci.JobProfile, pulumi.Input[str]]]) -> dict[str, Any]:
        args = self._args
        return {
            "agent": {
                "replicaCount": 1,
                "customSecret": TOKEN_SECRET,
                "resourceClasses": {
                    rc: {
                        "metadata": {"labels": {"platform.ai/resource-class": secret_key(rc).lower()}},
                        "spec": task_spec(p),
                    }
                    for rc, (p, _) in classes.items()
                },
                "maxConcurrentTasks": args.max_concurrent_tasks,
                "resources": _k8s.agent_resources("100m", "256Mi", memory_limit="512Mi"),
                "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "nodeSelector": dict(self._ctx.system_node_selector),
            },
            "orchestrator": {"resources": _ci.resources(ORCHESTRATOR)},
        }
