"""Jenkins: the controller (Kubernetes plugin, Configuration as Code) with CPU and GPU agent pod templates.

Provisions:
- the controller namespace (PSA restricted) and the agent namespace (PSA baseline: build images often
  run as root), each with a default-deny NetworkPolicy and the flows below, a ResourceQuota and a
  LimitRange sized for builds; the controller admits agents (websocket on its HTTP port) and nothing else;
- the admin Secret (password from secret config) referenced by the chart (``controller.admin.existingSecret``);
- ``JENKINS_HOME`` on a PersistentVolumeClaim the program owns, protected and retained with
  ``protect`` (the chart's own claim would be deleted with the release); backups: docs/ci-runners.md;
- the ``jenkins`` release (charts.jenkins.io, pinned; plugins pinned, no "latest" dependencies): the
  controller on the system pool, restricted, behind a ClusterIP service only (no Ingress: reach it with
  ``kubectl port-forward`` or an internal ingress you add), agents in their own namespace, where the
  chart binds the controller's pod-scheduling Role;
- the agents' ServiceAccount (no API token; the registry push role only where the stack builds images);
- JCasC pod templates ``cpu-build`` (label ``cpu``) and ``gpu-job`` (label ``gpu``: ``nvidia.com/gpu``
  request, GPU-taint toleration, GPU pools only), each a ``jnlp`` container and a ``build`` container.

Outputs: ``namespace``, ``agent_namespace``, ``release``, ``home`` (the claim).
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
from components._common import retained
from components._helm import Chart, helm_release
from components.cluster_context import ClusterContext

# jenkinsci/helm-charts tag jenkins-5.9.53 (appVersion 2.568.2); values checked against tests/charts/jenkins.yaml.
CHART = Chart(chart="jenkins", version="5.9.53", repo="https://charts.jenkins.io")
RELEASE = "jenkins"
# The chart's controller pod labels (templates/_helpers.tpl "jenkins.labels", controller.componentName).
CONTROLLER_LABELS = {"app.kubernetes.io/component": "jenkins-controller", "app.kubernetes.io/instance": RELEASE}
HTTP_PORT = 8080
ADMIN_SECRET = "jenkins-admin"  # noqa: S105 - the Secret's name, not a secret
HOME_CLAIM = "jenkins-home"
AGENT_SERVICE_ACCOUNT = "jenkins-agent"
# The jenkins/jenkins and jenkins/inbound-agent images run as `jenkins` (uid 1000).
JENKINS_UID = 1000
# The chart's defaults at 5.9.53 (values.yaml controller.installPlugins), pinned; installLatestPlugins
# is off, so their dependencies resolve to the minimum versions they declare (reproducible restarts).
PLUGINS = (
    "kubernetes:4540.v612369217f87",
    "workflow-aggregator:608.v67378e9d3db_1",
    "git:5.10.1",
    "configuration-as-code:2115.vf6de120eef70",
)
JNLP = _ci.JobProfile(cpu="500m", memory="512Mi", ephemeral_storage_gib=1, restricted=True)


@dataclass(frozen=True)
class JenkinsArgs:
    """Inputs of :class:`Jenkins`. The cluster comes as its :class:`ClusterContext`: the home volume on ``storage_class_name``, the push role from ``irsa`` (tagged ``tags``), the controller on ``system_node_selector``, the release after ``needs_nodes``."""

    admin_password: pulumi.Input[str]
    """Password of the ``admin`` user; kept secret end to end."""
    namespace: str = "jenkins"
    """Namespace of the controller and the admin Secret."""
    agent_namespace: str = "jenkins-agents"
    """Namespace of the agent pods."""
    home_size_gib: int = 50
    """Size of ``JENKINS_HOME``."""
    controller_cpu: str = "1"
    """CPU request of the controller (limit: 4x)."""
    controller_memory: str = "4Gi"
    """Memory of the controller."""
    max_agents: int = 10
    """Most agent pods per template."""
    agent_idle_minutes: int = 0
    """Minutes an idle agent pod waits for the next build."""
    agent_image: str = "jenkins/inbound-agent:3355.v388858a_47b_33-3-jdk21"
    """The ``jnlp`` container image."""
    build_image: str = "public.ecr.aws/docker/library/ubuntu:24.04"
    """The ``build`` container image."""
    cpu_job: _ci.JobProfile = field(default_factory=_ci.JobProfile)
    """The ``cpu-build`` template."""
    gpu_job: _ci.JobProfile = field(default_factory=lambda: _ci.JobProfile(cpu="8", memory="32Gi", gpus=1))
    """The ``gpu-job`` template; gpus 0: none."""
    push_repository_arns: Sequence[pulumi.Input[str]] = ()
    """Repositories the agents may push to; empty: no AWS access."""
    protect: bool = True
    """Protect and retain ``JENKINS_HOME`` (job history, credentials, plugin state)."""


def jenkins_flows(args: JenkinsArgs) -> list[_contracts.Flow]:
    """Agents reach the controller over websocket (HTTP port); the controller drives the API server and fetches plugins."""
    ctrl = _contracts.pods(args.namespace, CONTROLLER_LABELS)
    agents = _contracts.pods(args.agent_namespace, {})
    web, vpc, flow = _contracts.cidr(_contracts.INTERNET), _contracts.vpc(), _contracts.Flow
    src = "jenkins chart 5.9.53 templates/jenkins-controller-statefulset.yaml (port http)"
    return [
        *_contracts.dns(args.namespace, CONTROLLER_LABELS, what="Jenkins controller"),
        *_contracts.dns(args.agent_namespace, what="Jenkins agents"),
        flow("Jenkins agents -> controller (websocket)", agents, ctrl, HTTP_PORT, port_name="http", source=src),
        flow("Jenkins controller -> API server (Kubernetes plugin)", ctrl, vpc, 443),
        flow("Jenkins controller -> update center (plugins)", ctrl, web, 443),
        flow("Jenkins agents -> SCM, registries and packages", agents, web, 443),
        flow("Jenkins agents -> ECR and STS endpoints", agents, vpc, 443),
    ]


def agent_pod(args: JenkinsArgs, profile: _ci.JobProfile) -> dict[str, Any]:
    """An agent pod: the ``jnlp`` container (restricted, uid 1000) and the ``build`` container of the profile."""
    jnlp = {
        "name": "jnlp",
        "image": args.agent_image,
        "resources": _ci.resources(JNLP),
        "securityContext": {**_ci.container_security(JNLP), "runAsUser": JENKINS_UID},
    }
    spec = _ci.job_pod_spec(profile, "build", args.build_image, service_account=AGENT_SERVICE_ACCOUNT)
    build = spec["containers"][0]
    # The kubernetes plugin runs `sh` steps in `container('build')`; the container must stay up.
    build |= {"command": ["sleep"], "args": ["infinity"]}
    spec["containers"] = [jnlp, build]
    return spec


def pod_templates(args: JenkinsArgs) -> dict[str, dict[str, Any]]:
    """JCasC ``jenkins.clouds[].kubernetes.templates`` entries by name (kubernetes plugin PodTemplate fields)."""
    out: dict[str, dict[str, Any]] = {}
    profiles = {"cpu-build": ("cpu", args.cpu_job)}
    if args.gpu_job.gpus:
        profiles["gpu-job"] = ("gpu", args.gpu_job)
    for name, (label, profile) in profiles.items():
        out[name] = {
            "name": name,
            "label": label,
            "namespace": args.agent_namespace,
            "serviceAccount": AGENT_SERVICE_ACCOUNT,
            "instanceCap": args.max_agents,
            "idleMinutes": args.agent_idle_minutes,
            "nodeUsageMode": "EXCLUSIVE",
            # The raw pod wins over the plugin's defaults (resources, placement, security).
            "yamlMergeStrategy": "override",
            "yaml": json.dumps({"apiVersion": "v1", "kind": "Pod", "spec": agent_pod(args, profile)}, sort_keys=True),
        }
    return out


class Jenkins(pulumi.ComponentResource):
    """Jenkins controller, its home volume and admin Secret, and the agents' namespace, identity and templates."""

    namespace: str
    agent_namespace: str
    release: pulumi.Resource
    home: k8s.core.v1.PersistentVolumeClaim

    def __init__(
        self, name: str, args: JenkinsArgs, context: ClusterContext, opts: pulumi.ResourceOptions | None = None
    ):
        props = _contracts.declare(flows=jenkins_flows(args))
        super().__init__("platform:index:Jenkins", name, props, _k8s.with_provider(opts, context.k8s_provider))
        self._name, self._args, self._ctx = name, args, context
        ctrl_ns, agent_ns = self._namespaces()
        admin = _ci.secret(
            f"{name}-admin",
            ctrl_ns,
            ADMIN_SECRET,
            {"jenkins-admin-user": "admin", "jenkins-admin-password": args.admin_password},
            parent=self,
        )
        self.home = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-home",
            metadata={
                "name": HOME_CLAIM,
                "namespace": ctrl_ns.metadata.name,
                "labels": dict(_k8s.MANAGED_BY),
                # A WaitForFirstConsumer class binds the claim only when the controller pod starts, after
                # this resource; the release below waits for that pod instead.
                "annotations": {"pulumi.com/skipAwait": "true"},
            },
            spec={
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": self._ctx.storage_class_name,
                "resources": {"requests": {"storage": f"{args.home_size_gib}Gi"}},
            },
            opts=retained(self, args.protect),
        )
        sa = self._agent_identity(agent_ns)
        for tmpl_name, tmpl in pod_templates(args).items():
            spec = json.loads(tmpl["yaml"])["spec"]
            _ci.pod_template(
                f"{name}-{tmpl_name}-template", args.agent_namespace, tmpl_name, spec, backend="jenkins", parent=self
            )
        self.release = helm_release(
            f"{name}-controller",
            RELEASE,
            CHART,
            args.namespace,
            self._values(),
            parent=self,
            depends_on=[admin, self.home, sa, agent_ns, *self._ctx.needs_nodes],
        )
        self.namespace, self.agent_namespace = args.namespace, args.agent_namespace
        self.register_outputs({"namespace": self.namespace, "agent_namespace": self.agent_namespace})

    def _namespaces(self) -> tuple[k8s.core.v1.Namespace, k8s.core.v1.Namespace]:
        name, args = self._name, self._args
        ctrl_ns = _k8s.namespace(f"{name}-namespace", args.namespace, parent=self)
        _k8s.quota_and_limits(
            f"{name}-controller", ctrl_ns, parent=self, hard={"pods": "10", "requests.nvidia.com/gpu": "0"}
        )
        _k8s.default_deny(f"{name}-controller-default-deny", ctrl_ns, parent=self)
        _k8s.network_policy(
            f"{name}-controller-allow",
            ctrl_ns,
            "allow-controller",
            parent=self,
            pod_selector={"matchLabels": dict(CONTROLLER_LABELS)},
            ingress=[_k8s.from_namespace(args.agent_namespace, HTTP_PORT)],
            egress=[_k8s.dns_egress(), _k8s.tcp_egress(443)],
        )
        templates = 2 if args.gpu_job.gpus else 1
        to_controller = {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": args.namespace}},
                    "podSelector": {"matchLabels": dict(CONTROLLER_LABELS)},
                }
            ],
            "ports": [{"protocol": "TCP", "port": HTTP_PORT}],
        }
        agent_ns = _ci.job_namespace(
            f"{name}-agents",
            args.agent_namespace,
            parent=self,
            max_pods=templates * args.max_agents + 10,
            max_gpus=args.max_agents * args.gpu_job.gpus,
            default=args.cpu_job,
            extra_egress=[to_controller],
        )
        return ctrl_ns, agent_ns

    def _agent_identity(self, agent_ns: k8s.core.v1.Namespace) -> pulumi.Resource:
        name, args = self._name, self._args
        role: aws.iam.Role | None = None
        if args.push_repository_arns:
            role = _ci.push_role(
                f"{name}-push",
                self._ctx.irsa,
                args.agent_namespace,
                AGENT_SERVICE_ACCOUNT,
                args.push_repository_arns,
                parent=self,
                tags=self._ctx.tags,
            )
        return _ci.service_account(f"{name}-agent-sa", agent_ns, AGENT_SERVICE_ACCOUNT, role, parent=self)

    def _values(self) -> dict[str, Any]:
        args = self._args
        small = _k8s.agent_resources("100m", "256Mi", memory_limit="512Mi")
        restricted = dict(_k8s.RESTRICTED_CONTAINER)
        templates = pod_templates(args)
        return {
            "fullnameOverride": RELEASE,
            "controller": {
                "admin": {"createSecret": False, "existingSecret": ADMIN_SECRET},
                "resources": _k8s.agent_resources(args.controller_cpu, args.controller_memory),
                "initContainerResources": _k8s.agent_resources("250m", "1Gi"),
                "podSecurityContextOverride": _k8s.restricted_pod(JENKINS_UID),
                "containerSecurityContext": restricted,
                "serviceType": "ClusterIP",
                "ingress": {"enabled": False},
                # Agents connect over websocket on the HTTP port: no inbound-agent TCP listener.
                "agentListenerEnabled": False,
                "nodeSelector": dict(self._ctx.system_node_selector),
                "installPlugins": list(PLUGINS),
                "installLatestPlugins": False,
                "JCasC": {"defaultConfig": True},
                "sidecars": {"configAutoReload": {"resources": small, "containerSecurityContext": restricted}},
            },
            "persistence": {"enabled": True, "existingClaim": HOME_CLAIM},
            "agent": {
                "enabled": True,
                "namespace": args.agent_namespace,
                "websocket": True,
                # Only the platform's templates: the chart's default agent has no build container.
                "disableDefaultAgent": True,
                "containerCap": len(templates) * args.max_agents,
                # One JCasC list item per template, as a single JSON line (JSON is YAML).
                "podTemplates": {k: "- " + json.dumps(v, sort_keys=True) for k, v in templates.items()},
            },
            "rbac": {"create": True, "readSecrets": False},
            "serviceAccount": {"create": True, "name": RELEASE},
            "serviceAccountAgent": {"create": False},
            "networkPolicy": {"enabled": False},
        }
