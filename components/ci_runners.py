"""CiRunners: GitHub Actions Runner Controller (ARC) with one runner scale set per config entry.

Provisions:
- the controller namespace (``arc-systems``, PSA baseline enforced, restricted audited) and the
  runner namespace (PSA baseline, or privileged only when a scale set uses docker-in-docker),
  each with a default-deny NetworkPolicy plus egress to DNS and the web (GitHub, the Kubernetes
  API, registries);
- the ``gha-runner-scale-set-controller`` chart (0.14.2) on the system pool, watching the runner
  namespace only, with restricted security contexts and the ``eventual`` update strategy;
- a Secret with the GitHub App credentials (from secret config) that every scale set references
  by name, so the key never appears in Helm values;
- the runners' ServiceAccount, annotated with the registry's push role (IRSA), and the Role the
  kubernetes container mode needs (the chart's own ``kube-mode`` rules);
- one ``gha-runner-scale-set`` release (0.14.2) per scale set: min/max runners, container mode
  ``kubernetes`` by default with an encrypted gp3 RWO work volume per runner, requests/limits,
  CPU runners on CPU pools and GPU runners on GPU pools (taint tolerated, GPUs requested).

Outputs: ``namespace`` (runner namespace), ``controller`` (release), ``scale_sets`` (name -> release).
See docs/ci-runners.md for the IRSA limits in job pods and the upgrade procedure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _k8s
from components._helm import Chart, helm_release

# The registry's CI push role trusts exactly <runner namespace>:RUNNER_SERVICE_ACCOUNT.
from infra.config import LABEL_ACCELERATOR, LABEL_POOL, RUNNER_SERVICE_ACCOUNT, RunnerScaleSetSpec

_OCI = "oci://ghcr.io/actions/actions-runner-controller-charts"
# actions/actions-runner-controller tag gha-runner-scale-set-0.14.2 (both charts, appVersion 0.14.2).
CONTROLLER_CHART = Chart(chart=f"{_OCI}/gha-runner-scale-set-controller", version="0.14.2")
SCALE_SET_CHART = Chart(chart=f"{_OCI}/gha-runner-scale-set", version="0.14.2")

CONTROLLER_SERVICE_ACCOUNT = "arc-controller"
GITHUB_SECRET = "github-app"  # noqa: S105 - the Secret's name, not a secret
# The actions-runner image runs as `runner` (uid 1001) and its `docker` group (gid 123) owns the
# work directory; ARC's kubernetes-mode docs set fsGroup 123 so the work volume is writable.
RUNNER_UID, RUNNER_FS_GROUP = 1001, 123

# The chart's kube-mode Role (charts/gha-runner-scale-set/templates/kube_mode_role.yaml @0.14.2):
# the container hooks create job pods, exec into them, read their logs and pass secrets.
KUBE_MODE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "delete"]},
]


@dataclass(frozen=True)
class CiRunnersArgs:
    """Inputs of :class:`CiRunners`."""

    github_config_url: str
    """Organisation or repository URL the runners register with."""
    github_app_id: str
    """GitHub App ID."""
    github_app_installation_id: str
    """GitHub App installation ID."""
    github_app_private_key: pulumi.Input[str]
    """GitHub App private key (PEM); kept secret end to end."""
    scale_sets: Mapping[str, RunnerScaleSetSpec]
    """Resolved scale sets (``cfg.resolved_scale_sets()``), keyed by ``runs-on`` label."""
    runner_image: pulumi.Input[str]
    """Runner image by digest (built by :class:`~components.images.Images` or from config)."""
    k8s_provider: pulumi.ProviderResource
    """The cluster's explicit Kubernetes provider."""
    push_role: aws.iam.Role | None = None
    """IAM role the runners assume (IRSA) to push to the platform's repositories; None: no AWS access."""
    namespace: str = "arc-runners"
    """Namespace of the runner pods (and of kubernetes-mode job pods)."""
    controller_namespace: str = "arc-systems"
    """Namespace of the controller and the listeners."""
    storage_class_name: str = "gp3-encrypted"
    """StorageClass of the kubernetes-mode work volumes."""
    system_node_selector: Mapping[str, str] = field(default_factory=dict)
    """Node selector of the system pool (controller and listeners)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """The node pools and CoreDNS: the controller and listener pods need nodes before the releases can be ready."""


def runner_placement(spec: RunnerScaleSetSpec) -> dict[str, Any]:
    """Tolerations and node affinity: GPU runners on GPU pools, CPU runners off them."""
    gpus = spec.gpus or 0
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


class CiRunners(pulumi.ComponentResource):
    """ARC controller, GitHub App secret, runner identity and runner scale sets."""

    namespace: str
    controller: pulumi.Resource
    scale_sets: dict[str, pulumi.Resource]

    def __init__(self, name: str, args: CiRunnersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:CiRunners", name, None, _k8s.with_provider(opts, args.k8s_provider))
        child = pulumi.ResourceOptions(parent=self)
        dind = any(s.container_mode == "dind" for s in args.scale_sets.values())

        ctrl_ns = _k8s.namespace(
            f"{name}-controller-namespace", args.controller_namespace, parent=self, enforce="baseline"
        )
        # Docker-in-docker needs privileged pods; kubernetes mode runs workflow containers (often
        # root) as pods, which the restricted profile would reject.
        runner_ns = _k8s.namespace(
            f"{name}-namespace", args.namespace, parent=self, enforce="privileged" if dind else "baseline"
        )
        # Quotas count pods and GPUs only: a CPU/memory quota makes ARC's kubernetes-mode jobs fail
        # instead of queueing when it is full (actions/runner-container-hooks#229). Each runner may
        # run one workflow pod beside it, hence two pods per runner.
        max_runners = sum(s.max_runners or 0 for s in args.scale_sets.values())
        max_gpus = sum((s.max_runners or 0) * (s.gpus or 0) for s in args.scale_sets.values())
        _k8s.quota_and_limits(f"{name}-controller", ctrl_ns, parent=self, hard={"pods": "20"})
        _k8s.quota_and_limits(
            f"{name}-runners",
            runner_ns,
            parent=self,
            hard={"pods": str(2 * max_runners + 10), "requests.nvidia.com/gpu": str(max_gpus)},
            default_cpu="500m",
            default_memory="1Gi",
        )
        for part, ns in (("controller", ctrl_ns), ("runners", runner_ns)):
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

        small = _k8s.resources("100m", "256Mi")
        small["limits"] = {"cpu": "500m", "memory": "512Mi"}
        self.controller = helm_release(
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
                "nodeSelector": dict(args.system_node_selector),
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
            depends_on=[ctrl_ns, runner_ns, *args.depends_on],
        )

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
            opts=child,
        )
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
            opts=child,
        )
        rbac_meta: Any = {"name": "arc-runner-kube-mode", "namespace": runner_ns.metadata.name}
        rules: Any = KUBE_MODE_RULES
        role_ref: Any = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "arc-runner-kube-mode"}
        subjects: Any = [{"kind": "ServiceAccount", "name": RUNNER_SERVICE_ACCOUNT, "namespace": args.namespace}]
        role = k8s.rbac.v1.Role(
            f"{name}-runner-role",
            metadata=rbac_meta,
            rules=rules,
            opts=child,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-runner-rolebinding",
            metadata=rbac_meta,
            role_ref=role_ref,
            subjects=subjects,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, sa]),
        )

        self.scale_sets = {}
        for set_name, spec in args.scale_sets.items():
            self.scale_sets[set_name] = helm_release(
                f"{name}-{set_name}",
                set_name,
                SCALE_SET_CHART,
                args.namespace,
                self._scale_set_values(set_name, spec, args),
                parent=self,
                depends_on=[self.controller, secret, binding],
            )
        self.namespace = args.namespace
        self.register_outputs({"namespace": self.namespace})

    @staticmethod
    def _scale_set_values(set_name: str, spec: RunnerScaleSetSpec, args: CiRunnersArgs) -> dict[str, Any]:
        gpus = spec.gpus or 0
        env: list[dict[str, Any]] = []
        if gpus:
            # Kubernetes mode runs `container:` jobs in a separate pod without the GPU; GPU jobs
            # run their steps on the runner itself, so job containers cannot be required here.
            env.append({"name": "ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER", "value": "false"})
        runner = {
            "name": "runner",
            "image": args.runner_image,
            "command": ["/home/runner/run.sh"],
            "resources": _k8s.resources(spec.cpu or "2", spec.memory or "4Gi", gpus),
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "env": env,
        }
        pod: dict[str, Any] = {
            "serviceAccountName": RUNNER_SERVICE_ACCOUNT,
            # The dind sidecar runs as root (privileged), so only kubernetes mode pins the UID.
            "securityContext": {"fsGroup": RUNNER_FS_GROUP, "seccompProfile": {"type": "RuntimeDefault"}}
            if spec.container_mode == "dind"
            else {
                "runAsNonRoot": True,
                "runAsUser": RUNNER_UID,
                "fsGroup": RUNNER_FS_GROUP,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [runner],
            **runner_placement(spec),
        }
        values: dict[str, Any] = {
            "githubConfigUrl": args.github_config_url,
            # A plain string names a pre-created Secret in the scale set's namespace.
            "githubConfigSecret": GITHUB_SECRET,
            "runnerScaleSetName": set_name,
            "minRunners": spec.min_runners,
            "maxRunners": spec.max_runners,
            # Required with the controller's watchSingleNamespace (chart values.yaml).
            "controllerServiceAccount": {"namespace": args.controller_namespace, "name": CONTROLLER_SERVICE_ACCOUNT},
            "template": {"spec": pod},
            "listenerTemplate": {
                "spec": {
                    "nodeSelector": dict(args.system_node_selector),
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
            },
        }
        if spec.container_mode == "dind":
            values["containerMode"] = {"type": "dind"}
        else:
            values["containerMode"] = {
                "type": "kubernetes",
                # Per-runner ephemeral RWO volume: RWX (EFS) is ~15x slower and RWO shared volumes
                # hit Multi-Attach errors (actions/runner-container-hooks#166).
                "kubernetesModeWorkVolumeClaim": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": args.storage_class_name,
                    "resources": {"requests": {"storage": f"{spec.work_volume_gib or 20}Gi"}},
                },
            }
        return values
