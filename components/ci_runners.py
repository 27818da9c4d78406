"""CiRunners: GitHub Actions Runner Controller (ARC) with one runner scale set per config entry.

Provisions:
- the controller namespace (``arc-systems``, PSA baseline enforced, restricted audited), the runner
  namespace (PSA restricted, or privileged only when a scale set uses docker-in-docker) and the job
  namespace (PSA baseline: workflow containers often run as root), each with a default-deny
  NetworkPolicy plus egress to DNS and the web (GitHub, the Kubernetes API, registries);
- the ``gha-runner-scale-set-controller`` chart (0.14.2) on the system pool, watching the runner
  namespace only, with restricted security contexts and the ``eventual`` update strategy;
- a Secret with the GitHub App credentials (from secret config) in the runner namespace, where ARC
  0.14.2 reads it (``secretresolver`` k8sResolver: the AutoscalingRunnerSet's namespace), referenced by
  name so the key never appears in Helm values;
- the runners' ServiceAccount (annotated with the registry's push role only where the stack builds
  images) and the Role the container hooks need, in the *job* namespace only: job pods go there
  (``ACTIONS_RUNNER_KUBERNETES_NAMESPACE``, honoured by the k8s-novolume hooks 0.8.0), so no runner
  and no job pod holds any permission on the runner namespace's secrets;
- per scale set: a ConfigMap with the hooks' job pod template (``ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE``):
  explicit CPU, memory and ephemeral storage for job pods, placement, no API token; and one
  ``gha-runner-scale-set`` release (0.14.2): min/max runners, container mode ``kubernetes-novolume``
  (``dind`` on request), requests/limits, CPU runners on CPU pools and GPU runners on GPU pools.

Outputs: ``namespace`` (runner namespace), ``job_namespace``, ``controller`` (release),
``scale_sets`` (name -> release). See docs/ci-runners.md for the IRSA limits and the upgrade procedure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _contracts, _k8s
from components._helm import Chart, helm_release
from components.cluster_context import ClusterContext

# The registry's CI push role trusts exactly <runner namespace>:RUNNER_SERVICE_ACCOUNT.
from components.vocabulary import LABEL_ACCELERATOR, LABEL_POOL, RUNNER_SERVICE_ACCOUNT

_OCI = "oci://ghcr.io/actions/actions-runner-controller-charts"
# actions/actions-runner-controller tag gha-runner-scale-set-0.14.2 (both charts, appVersion 0.14.2).
CONTROLLER_CHART = Chart(chart=f"{_OCI}/gha-runner-scale-set-controller", version="0.14.2")
SCALE_SET_CHART = Chart(chart=f"{_OCI}/gha-runner-scale-set", version="0.14.2")

CONTROLLER_SERVICE_ACCOUNT = "arc-controller"
GITHUB_SECRET = "github-app"  # noqa: S105 - the Secret's name, not a secret
# The actions-runner image runs as `runner` (uid 1001) and its `docker` group (gid 123) owns the
# work directory; ARC's kubernetes-mode docs set fsGroup 123 so the work volume is writable.
RUNNER_UID, RUNNER_FS_GROUP = 1001, 123

# The chart's kube-mode Role for kubernetes-novolume (charts/gha-runner-scale-set/templates/
# kube_mode_role.yaml @gha-runner-scale-set-0.14.2, no batch jobs in that mode): the hooks create job
# pods, exec into them, read their logs, and create, list and delete the secrets they pass to them.
# The hooks check exactly these verbs before a job starts (runner-container-hooks v0.8.0,
# packages/k8s/src/k8s/index.ts requiredPermissions), so secrets get/list cannot be dropped; that is
# why this Role is bound in the job namespace and never in the namespace of the GitHub App key.
KUBE_MODE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "delete"]},
]

# The runner image (actions/runner images/Dockerfile @v2.329.0) ships hooks 0.7.0 in /home/runner/k8s
# and 0.8.0 in /home/runner/k8s-novolume; ARC's kubernetes-novolume mode runs the latter, which copies
# the workspace into the job pod instead of sharing a PVC, so job pods can live in another namespace.
HOOK_TEMPLATE_DIR = "/home/runner/hook-template"
HOOK_TEMPLATE_FILE = "job-pod.yaml"
# The label the admission analysis reads hook templates by (blueprint/preview/analyses/admission.py).
HOOK_TEMPLATE_LABEL = "platform.ai/hook-template"


@dataclass(frozen=True)
class RunnerScaleSet:
    """One runner scale set, with the platform's defaults (``ciRunners.scaleSetDefaults`` overrides them)."""

    min_runners: int = 0
    """Idle runners kept warm."""
    max_runners: int = 5
    """Maximum concurrent runners."""
    gpus: int = 0
    """GPUs per runner; >0 places it on GPU pools with the taint tolerated."""
    cpu: str = "2"
    """CPU per runner (requests equal limits)."""
    memory: str = "4Gi"
    """Memory per runner (requests equal limits)."""
    container_mode: Literal["kubernetes", "dind"] = "kubernetes"
    """``kubernetes`` (job containers as pods in the job namespace) or ``dind`` (privileged)."""
    node_pool: str | None = None
    """Run the runners on this node pool only; None: any CPU pool (GPU runners: any GPU pool)."""
    work_volume_gib: int = 20
    """Ephemeral storage of a runner (its ``_work`` directory lives in the container)."""
    job_cpu: str = "4"
    """CPU of each job pod the container hooks create (requests equal limits)."""
    job_memory: str = "8Gi"
    """Memory of each job pod (requests equal limits)."""
    job_ephemeral_storage_gib: int = 50
    """Ephemeral storage of each job pod: checkout, caches and build outputs."""


@dataclass(frozen=True)
class CiRunnersArgs:
    """Inputs of :class:`CiRunners`. The cluster comes as its :class:`ClusterContext`: the controller and
    listeners run on ``system_node_selector``, every release waits for ``needs_nodes``."""

    github_config_url: str
    """Organisation or repository URL the runners register with."""
    github_app_id: str
    """GitHub App ID."""
    github_app_installation_id: str
    """GitHub App installation ID."""
    github_app_private_key: pulumi.Input[str]
    """GitHub App private key (PEM); kept secret end to end."""
    scale_sets: Mapping[str, RunnerScaleSet]
    """Scale sets keyed by ``runs-on`` label (``cfg.runner_scale_sets()``)."""
    runner_image: pulumi.Input[str]
    """Runner image by digest (built by :class:`~components.images.Images` or from config)."""
    push_role: aws.iam.Role | None = None
    """IAM role the runners assume (IRSA) to push to the platform's repositories; None: no AWS access."""
    namespace: str = "arc-runners"
    """Namespace of the runner pods and of the GitHub App secret."""
    job_namespace: str = "arc-jobs"
    """Namespace of the job pods the container hooks create; the runners' Role is bound here only."""
    runner_group: str | None = None
    """GitHub runner group the scale sets join (limits which repositories may use them)."""
    controller_namespace: str = "arc-systems"
    """Namespace of the controller and the listeners."""


def runner_placement(spec: RunnerScaleSet) -> dict[str, Any]:
    """Tolerations and node affinity: GPU runners on GPU pools, CPU runners off them."""
    gpus = spec.gpus
    placement = _k8s.gpu_placement(gpus)
    if gpus:
        terms = placement["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        exprs = terms["nodeSelectorTerms"][0]["matchExpressions"]
    else:
        exprs = [{"key": LABEL_ACCELERATOR, "operator": "DoesNotExist"}]
        placement["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": exprs}]}
            }
        }
    if spec.node_pool:
        exprs.append({"key": LABEL_POOL, "operator": "In", "values": [spec.node_pool]})
    return placement


def runner_flows(args: CiRunnersArgs) -> list[_contracts.Flow]:
    """What the ARC controller, its listeners and the runners reach (components/_contracts.py).

    GitHub is on the internet; ECR's API and registry are interface endpoints in the VPC and its
    layers come from S3 (gateway endpoint, S3's public addresses); the EKS API endpoint is in the VPC.
    """
    ctrl, runners = _contracts.pods(args.controller_namespace, {}), _contracts.pods(args.namespace, {})
    jobs = _contracts.pods(args.job_namespace, {})
    web, vpc, flow = _contracts.cidr(_contracts.INTERNET), _contracts.vpc(), _contracts.Flow
    return [
        *_contracts.dns(args.controller_namespace, what="ARC controller"),
        *_contracts.dns(args.namespace, what="runners"),
        *_contracts.dns(args.job_namespace, what="job pods"),
        flow("job pods -> GitHub and package registries", jobs, web, 443),
        flow("ARC controller and listeners -> GitHub", ctrl, web, 443),
        flow("ARC controller -> API server", ctrl, vpc, 443),
        flow("runners -> GitHub", runners, web, 443),
        flow("runners -> ECR endpoints", runners, vpc, 443),
        flow("runners -> ECR layers on S3", runners, web, 443),
        flow("runners -> API server (kubernetes-mode hooks)", runners, vpc, 443),
    ]


class CiRunners(pulumi.ComponentResource):
    """ARC controller, GitHub App secret, runner identity and runner scale sets."""

    namespace: str
    job_namespace: str
    controller: pulumi.Resource
    scale_sets: dict[str, pulumi.Resource]

    def __init__(
        self, name: str, args: CiRunnersArgs, context: ClusterContext, opts: pulumi.ResourceOptions | None = None
    ):
        props = _contracts.declare(flows=runner_flows(args))
        super().__init__("platform:index:CiRunners", name, props, _k8s.with_provider(opts, context.k8s_provider))
        self._name, self._args, self._ctx = name, args, context
        ctrl_ns, runner_ns, job_ns = self._namespaces()
        self.controller = self._controller(ctrl_ns, runner_ns)
        secret = k8s.core.v1.Secret(
            f"{name}-github-app",
            metadata={"name": GITHUB_SECRET, "namespace": runner_ns.metadata.name, "labels": dict(_k8s.MANAGED_BY)},
            type="Opaque",
            # Keys ARC reads (apis/actions.github.com/v1alpha1/appconfig/appconfig.go).
            string_data={
                "github_app_id": args.github_app_id,
                "github_app_installation_id": args.github_app_installation_id,
                "github_app_private_key": pulumi.Output.secret(args.github_app_private_key),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        binding = self._identity(runner_ns, job_ns)
        self.scale_sets = {}
        for set_name, spec in args.scale_sets.items():
            deps: list[pulumi.Resource] = [self.controller, secret, binding, *self._ctx.needs_nodes]
            if spec.container_mode != "dind":
                deps.append(self._hook_template(set_name, spec, runner_ns))
            self.scale_sets[set_name] = helm_release(
                f"{name}-{set_name}",
                set_name,
                SCALE_SET_CHART,
                args.namespace,
                self._scale_set_values(set_name, spec, args, self._ctx.system_node_selector),
                parent=self,
                depends_on=deps,
            )
        self.namespace = args.namespace
        self.job_namespace = args.job_namespace
        self.register_outputs({"namespace": self.namespace, "job_namespace": self.job_namespace})

    def _namespaces(self) -> tuple[k8s.core.v1.Namespace, k8s.core.v1.Namespace, k8s.core.v1.Namespace]:
        name, args = self._name, self._args
        dind = any(s.container_mode == "dind" for s in args.scale_sets.values())
        ctrl_ns = _k8s.namespace(
            f"{name}-controller-namespace", args.controller_namespace, parent=self, enforce="baseline"
        )
        # Runner pods run as uid 1001 with no privileges (restricted); docker-in-docker needs privileged.
        runner_ns = _k8s.namespace(
            f"{name}-namespace", args.namespace, parent=self, enforce="privileged" if dind else "restricted"
        )
        # Workflow containers (often root) run as job pods, which the restricted profile would reject.
        job_ns = _k8s.namespace(f"{name}-job-namespace", args.job_namespace, parent=self, enforce="baseline")
        # Quotas count pods and GPUs only: a CPU/memory quota makes ARC's kubernetes-mode jobs fail
        # instead of queueing when it is full (actions/runner-container-hooks#229). Job pods get no
        # GPU (GPU work runs on the GPU runners themselves).
        max_runners = sum(s.max_runners for s in args.scale_sets.values())
        max_gpus = sum(s.max_runners * s.gpus for s in args.scale_sets.values())
        _k8s.quota_and_limits(f"{name}-controller", ctrl_ns, parent=self, hard={"pods": "20"})
        _k8s.quota_and_limits(
            f"{name}-runners",
            runner_ns,
            parent=self,
            hard={"pods": str(max_runners + 10), "requests.nvidia.com/gpu": str(max_gpus)},
            default_cpu="500m",
            default_memory="1Gi",
        )
        # A runner runs one job pod at a time; container-action steps add a short-lived second pod.
        _k8s.quota_and_limits(
            f"{name}-jobs",
            job_ns,
            parent=self,
            hard={"pods": str(2 * max_runners + 10), "requests.nvidia.com/gpu": "0"},
            default_cpu="500m",
            default_memory="1Gi",
        )
        for part, ns in (("controller", ctrl_ns), ("runners", runner_ns), ("jobs", job_ns)):
            _k8s.default_deny(f"{name}-{part}-default-deny", ns, parent=self)
            # GitHub (API, actions, packages) and the EKS API endpoint are HTTPS; port 80 serves
            # distribution package mirrors (apt) that jobs install from.
            ports = (443,) if part == "controller" else (443, 80)
            _k8s.network_policy(
                f"{name}-{part}-allow-egress",
                ns,
                "allow-dns-and-web",
                parent=self,
                egress=[_k8s.dns_egress(), _k8s.tcp_egress(*ports)],
            )
        return ctrl_ns, runner_ns, job_ns

    def _controller(self, ctrl_ns: k8s.core.v1.Namespace, runner_ns: k8s.core.v1.Namespace) -> pulumi.Resource:
        name, args = self._name, self._args
        small = _k8s.resources("100m", "256Mi")
        small["limits"] = {"cpu": "500m", "memory": "512Mi"}
        return helm_release(
            f"{name}-controller",
            "arc",
            CONTROLLER_CHART,
            args.controller_namespace,
            {
                "replicaCount": 1,
                "serviceAccount": {"create": True, "name": CONTROLLER_SERVICE_ACCOUNT, "annotations": {}},
                "podSecurityContext": _k8s.restricted_pod(65532),
                "securityContext": dict(_k8s.RESTRICTED_CONTAINER),
                "resources": small,
                "nodeSelector": dict(self._ctx.system_node_selector),
                "flags": {
                    "logLevel": "info",
                    "logFormat": "json",
                    # Namespaced RBAC for the runner namespace instead of cluster-wide.
                    "watchSingleNamespace": args.namespace,
                    # Config changes wait for running jobs instead of recreating runners mid-job.
                    "updateStrategy": "eventual",
                },
            },
            parent=self,
            depends_on=[ctrl_ns, runner_ns, *self._ctx.needs_nodes],
        )

    def _identity(self, runner_ns: k8s.core.v1.Namespace, job_ns: k8s.core.v1.Namespace) -> pulumi.Resource:
        """The runners' service account, and its Role in the job namespace only."""
        name, args = self._name, self._args
        annotations: dict[str, Any] = {}
        if args.push_role is not None:
            annotations["eks.amazonaws.com/role-arn"] = args.push_role.arn
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-runner-sa",
            metadata={
                "name": RUNNER_SERVICE_ACCOUNT,
                "namespace": runner_ns.metadata.name,
                "labels": dict(_k8s.MANAGED_BY),
                "annotations": annotations,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        rbac_meta: Any = {"name": "arc-runner-kube-mode", "namespace": job_ns.metadata.name}
        rules: Any = KUBE_MODE_RULES
        role_ref: Any = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "arc-runner-kube-mode"}
        subjects: Any = [{"kind": "ServiceAccount", "name": RUNNER_SERVICE_ACCOUNT, "namespace": args.namespace}]
        role = k8s.rbac.v1.Role(
            f"{name}-runner-role", metadata=rbac_meta, rules=rules, opts=pulumi.ResourceOptions(parent=self)
        )
        return k8s.rbac.v1.RoleBinding(
            f"{name}-runner-rolebinding",
            metadata=rbac_meta,
            role_ref=role_ref,
            subjects=subjects,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, sa]),
        )

    def _hook_template(self, set_name: str, spec: RunnerScaleSet, runner_ns: k8s.core.v1.Namespace) -> pulumi.Resource:
        """The job pod template the hooks merge into every job pod of this scale set."""
        return k8s.core.v1.ConfigMap(
            f"{self._name}-{set_name}-hook-template",
            metadata={
                "name": f"{set_name}-hook-template",
                "namespace": runner_ns.metadata.name,
                "labels": {**_k8s.MANAGED_BY, HOOK_TEMPLATE_LABEL: set_name},
            },
            # JSON is YAML: the hooks read the file with js-yaml (readExtensionFromFile).
            data={HOOK_TEMPLATE_FILE: json.dumps(job_pod_template(set_name, spec), indent=1, sort_keys=True)},
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _scale_set_values(
        set_name: str, spec: RunnerScaleSet, args: CiRunnersArgs, system_node_selector: Mapping[str, str]
    ) -> dict[str, Any]:
        kube_mode = spec.container_mode != "dind"
        values: dict[str, Any] = {
            "githubConfigUrl": args.github_config_url,
            # A plain string names a pre-created Secret in the scale set's namespace.
            "githubConfigSecret": GITHUB_SECRET,
            "runnerScaleSetName": set_name,
            "minRunners": spec.min_runners,
            "maxRunners": spec.max_runners,
            # Required with the controller's watchSingleNamespace (chart values.yaml).
            "controllerServiceAccount": {"namespace": args.controller_namespace, "name": CONTROLLER_SERVICE_ACCOUNT},
            "template": {"spec": runner_pod(set_name, spec, args.runner_image, kube_mode, args.job_namespace)},
            "listenerTemplate": _listener_template(system_node_selector),
            # kubernetes-novolume: no shared work PVC, so job pods may run in the job namespace.
            "containerMode": {"type": "kubernetes-novolume" if kube_mode else "dind"},
        }
        if args.runner_group:
            values["runnerGroup"] = args.runner_group
        return values


def _listener_template(node_selector: Mapping[str, str]) -> dict[str, Any]:
    return {
        "spec": {
            "nodeSelector": dict(node_selector),
            "containers": [
                {
                    "name": "listener",
                    "resources": {
                        "requests": {"cpu": "50m", "memory": "64Mi"},
                        "limits": {"cpu": "250m", "memory": "256Mi"},
                    },
                    "securityContext": dict(_k8s.RESTRICTED_CONTAINER),
                }
            ],
        }
    }


def runner_pod(
    set_name: str, spec: RunnerScaleSet, image: pulumi.Input[str], kube_mode: bool, job_namespace: str
) -> dict[str, Any]:
    """The runner pod of a scale set (the chart adds the hook and pod-name env in kubernetes-novolume mode)."""
    gpus = spec.gpus
    env: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if gpus:
        # `container:` jobs run as job pods without the GPU; GPU jobs run their steps on the runner
        # itself, so job containers cannot be required here.
        env.append({"name": "ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER", "value": "false"})
    if kube_mode:
        env += [
            {"name": "ACTIONS_RUNNER_KUBERNETES_NAMESPACE", "value": job_namespace},
            {"name": "ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE", "value": f"{HOOK_TEMPLATE_DIR}/{HOOK_TEMPLATE_FILE}"},
        ]
        mounts.append({"name": "hook-template", "mountPath": HOOK_TEMPLATE_DIR, "readOnly": True})
        volumes.append({"name": "hook-template", "configMap": {"name": f"{set_name}-hook-template"}})
    runner: dict[str, Any] = {
        "name": "runner",
        "image": image,
        "command": ["/home/runner/run.sh"],
        # The work directory lives in the container (no volume in kubernetes-novolume mode).
        "resources": _k8s.resources(spec.cpu, spec.memory, gpus, ephemeral_storage=f"{spec.work_volume_gib}Gi"),
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "env": env,
    }
    if mounts:
        runner["volumeMounts"] = mounts
    pod: dict[str, Any] = {
        "serviceAccountName": RUNNER_SERVICE_ACCOUNT,
        # The dind sidecar runs as root (privileged), so only kubernetes mode pins the UID.
        "securityContext": {"fsGroup": RUNNER_FS_GROUP, "seccompProfile": {"type": "RuntimeDefault"}}
        if not kube_mode
        else {
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "fsGroup": RUNNER_FS_GROUP,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [runner],
        **runner_placement(spec),
    }
    if volumes:
        pod["volumes"] = volumes
    return pod


def job_pod_template(set_name: str, spec: RunnerScaleSet) -> dict[str, Any]:
    """The hooks' pod template: ``$job`` fields merge onto the job container (runner-container-hooks
    v0.8.0 packages/k8s/src/k8s/utils.ts mergeContainerWithOptions/mergePodSpecWithOptions).

    Job pods get explicit resources (the namespace LimitRange default would cap builds at 500m/1Gi),
    no Kubernetes API token, CPU nodes only (no GPU: the job namespace's quota allows none).
    """
    cpu_only = replace(spec, gpus=0, node_pool=None if spec.gpus else spec.node_pool)
    return {
        "metadata": {"labels": {"app.kubernetes.io/part-of": "ai-platform", "platform.ai/scale-set": set_name}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            **runner_placement(cpu_only),
            "containers": [
                {
                    "name": "$job",
                    "resources": _k8s.resources(
                        spec.job_cpu,
                        spec.job_memory,
                        ephemeral_storage=f"{spec.job_ephemeral_storage_gib}Gi",
                    ),
                }
            ],
        },
    }
