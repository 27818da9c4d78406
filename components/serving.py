"""Serving: the models the platform serves, their autoscaling, A/B canaries and the ALB in front.

Provisions:
- the serving namespace with Pod Security Admission ``restricted`` enforced, a ResourceQuota sized
  from the models' maximum footprint (GPUs included) and a LimitRange for anything else;
- a default-deny NetworkPolicy (ingress and egress) plus allows: the ALB (target type ``ip``, so
  traffic comes from the VPC CIDR) to each model's port, Prometheus (monitoring namespace) to the
  metrics port, egress to CoreDNS and to HTTPS (S3/STS through the VPC endpoints);
- KEDA from its pinned chart (own namespace, restricted, default-deny ingress) when a model scales
  on a Prometheus query;
- per model: a ServiceAccount with an IRSA role that may only read its own S3 prefix and decrypt
  with the artifact key; and, once the model is deployable (``deploy``, default true), a Deployment
  (GPU limits, Guaranteed QoS, memory-backed ``/dev/shm``, an init container that copies the weights
  from S3 into an emptyDir sized from ``weights_size_gib`` or a PVC cache, ephemeral storage
  requested for every emptyDir, startup/readiness/liveness probes, the restricted securityContext
  with a read-only root filesystem, zone spread, GPU tolerations and affinity, a ``replace`` or
  ``surge`` rollout, and a rollout timeout derived from the startup budget); a Service; a PDB; a CPU
  HPA or a KEDA ScaledObject; a ServiceMonitor;
- per canary: a second Deployment, Service, PDB and autoscaler (``<model>-canary``);
- one Ingress (class ``alb``) whose per-model forward action splits traffic between the primary's
  and the canary's target groups by weight (ALB weighted target groups).

Outputs: ``namespace`` (name), ``ingress`` (resource), ``model_roles`` (model -> IAM role).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _k8s, cold_start
from components._common import irsa_role
from components._serving_contracts import (
    KEDA_CHART,
    KEDA_METRICS_APISERVER,
    KEDA_OPERATOR,
    KEDA_OPERATOR_GRPC_PORT,
    Track,
    scaling_query,
    server_args,
    service_monitor_spec,
    serving_contracts,
    vllm_metrics,
)
from components._serving_ingress import (
    IngressSettings,
    alb_annotations,
    forward_action,
    ingress_paths,
    strip_prefix_transform,
)
from components._serving_pod import (
    INIT_CPU,
    INIT_MEMORY,
    LIMIT_RANGE,
    MODEL_UID,
    canary_replicas,
    copies_weights,
    image_ref,
    mebibytes,
    millicores,
    model_read_policy,
    prefix_of,
    quota_for,
    scratch_volumes,
    topology_spread,
    track_lineage,
    weights,
)
from components._serving_rollout import (
    PROBE_PERIOD_SECONDS,
    ROLLOUT_TIMEOUT_CAP_SECONDS,
    TIMEOUT_ANNOTATION,
    rollout_strategy,
    rollout_timeout_seconds,
    server_container,
)
from components._serving_scaling import hpa_spec, keda_release, scaled_object_spec
from components._serving_spares import SPARE_LABEL, spare_priority_class, warm_spares
from components.cluster_context import ClusterContext
from components.model_spec import ModelSettings as Model  # the serving component's own settings type

# The component, its Args and the helpers tests and analyses use; the helpers live in components/_serving_*.py.
__all__ = [
    "KEDA_CHART",
    "KEDA_METRICS_APISERVER",
    "KEDA_OPERATOR",
    "KEDA_OPERATOR_GRPC_PORT",
    "PROBE_PERIOD_SECONDS",
    "ROLLOUT_TIMEOUT_CAP_SECONDS",
    "TIMEOUT_ANNOTATION",
    "IngressSettings",
    "Serving",
    "ServingArgs",
    "canary_replicas",
    "forward_action",
    "image_ref",
    "mebibytes",
    "millicores",
    "prefix_of",
    "quota_for",
    "server_args",
    "strip_prefix_transform",
    "vllm_metrics",
]

# Objects are written as camelCase dicts (the wire form, as --render-k8s shows them); the SDK's
# TypedDicts spell keys in snake_case, so constructor calls go through an untyped alias.
_K8S: Any = k8s


@dataclass(frozen=True)
class ServingArgs:
    """Inputs of :class:`Serving`. The cluster comes as its :class:`ClusterContext`: per-model IRSA roles from
    ``irsa`` (tagged with ``tags``, the ``owner`` tag also labels the pods), the ALB reaches pods from
    ``vpc_cidr``, PVC model caches use ``storage_class_name``, KEDA runs on ``system_node_selector`` and
    waits for ``needs_nodes``, ``region`` for the KMS ``ViaService`` condition and the AWS CLI."""

    namespace: str
    """Namespace of the models."""
    models: Mapping[str, Model]
    """Resolved models (``cfg.resolved_models()``)."""
    repositories: Mapping[str, aws.ecr.Repository]
    """The platform's ECR repositories by name; model images must come from these."""
    artifacts_bucket: aws.s3.Bucket
    """Bucket holding the model weights."""
    artifacts_key: aws.kms.Key
    """KMS key of the bucket (model roles may decrypt with it through S3 only)."""
    prometheus_url: str
    """In-cluster Prometheus URL KEDA queries."""
    monitoring_crds: pulumi.Resource | None = None
    """The prometheus-operator CRDs release; ServiceMonitors wait for it. None skips ServiceMonitors."""
    monitoring_namespace: str = "monitoring"
    """Namespace of Prometheus (allowed to scrape the models)."""
    model_sync_image: str | None = None
    """AWS CLI image (by digest) of the init container that copies weights from S3."""
    allow_scale_to_zero: bool = False
    """Allow ``min_replicas: 0`` (KEDA only). Off by default: a cold GPU start takes minutes."""
    ingress: IngressSettings = field(default_factory=IngressSettings)
    """ALB settings."""
    ingress_controller: pulumi.Resource | None = None
    """The AWS Load Balancer Controller release; the Ingress waits for its webhooks."""
    gpu_nodes: Sequence[cold_start.NodePath] = ()
    """The stack's GPU pools as cold-start node paths; the deploy await covers the slowest. Empty: the
    slowest path there is (cluster-autoscaler, 8-GPU host, plain pull)."""


# --------------------------------------------------------------------------- pure helpers
def check_model(mname: str, m: Model, args: ServingArgs) -> None:
    """Refuse a model the component cannot deploy as configured (the config layer reports these first)."""
    if m.min_replicas == 0 and not (args.allow_scale_to_zero and m.autoscaling.type == "keda"):
        raise ValueError(f"model {mname}: minReplicas 0 needs KEDA and allow_scale_to_zero")
    if m.image.repository not in args.repositories or (m.canary and m.canary.image.repository not in args.repositories):
        raise ValueError(f"model {mname}: images must come from the platform's repositories")
    if copies_weights(m) and not args.model_sync_image:
        raise ValueError(f"model {mname}: an S3 source needs model_sync_image")
    if m.source.s3_prefix and not m.weights_size_gib:
        raise ValueError(f"model {mname}: an S3 source needs weights_size_gib (it sizes the models volume)")
    if m.autoscaling.type == "keda" and not m.autoscaling.query:
        raise ValueError(f"model {mname}: KEDA autoscaling needs a query")


# --------------------------------------------------------------------------- component


class Serving(pulumi.ComponentResource):
    """Models behind an ALB, with autoscaling, A/B canaries and least-privilege weight access."""

    namespace: pulumi.Output[str]
    ingress: k8s.networking.v1.Ingress | None
    model_roles: dict[str, aws.iam.Role]

    def __init__(
        self, name: str, args: ServingArgs, context: ClusterContext, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(
            "platform:index:Serving",
            name,
            serving_contracts(args.namespace, args.models, context.vpc_cidr),
            _k8s.with_provider(opts, context.k8s_provider),
        )
        self._name, self._args, self._ctx = name, args, context
        for mname, m in args.models.items():
            check_model(mname, m, args)

        self.ns = _k8s.namespace(
            f"{name}-namespace",
            args.namespace,
            parent=self,
            # Readiness gates: a pod counts as ready only once it is healthy in its ALB target
            # group, so rolling updates never outrun the load balancer (LBC pod readiness gate).
            labels={"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"},
        )
        ns_name = self.ns.metadata.name
        self._guardrails(ns_name)
        self._network_policies()

        deployed = {n: m for n, m in args.models.items() if m.deploy}
        keda = (
            keda_release(self, name, context, args.monitoring_namespace, args.monitoring_crds)
            if any(m.autoscaling.type == "keda" for m in deployed.values())
            else None
        )

        self.model_roles = {}
        spares = any(m.warm_spares for m in deployed.values())
        priority = spare_priority_class(self, name) if spares else None
        for mname, m in args.models.items():
            sa = self._service_account(mname, m, ns_name)
            if not m.deploy:
                # Not yet deployable (image or weights missing): only its identity exists.
                continue
            self._track(mname, m, "primary", sa, ns_name, keda)
            if m.warm_spares and priority is not None:
                self._warm_spares(mname, m, ns_name, priority, sa)
            if m.canary:
                self._track(mname, m, "canary", sa, ns_name, keda)
            if args.monitoring_crds is not None:
                self._service_monitor(mname, m, ns_name)

        self.ingress = self._ingress(ns_name, deployed) if deployed else None
        self.namespace = ns_name
        self.register_outputs(
            {"namespace": self.namespace, "model_roles": {k: r.arn for k, r in self.model_roles.items()}}
        )

    # ------------------------------------------------------------------ namespace guardrails
    def _guardrails(self, ns: pulumi.Output[str]) -> None:
        """A quota that fits every model at its maximum, and defaults for pods created without requests."""
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        _K8S.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata={"name": "serving-quota", "namespace": ns, "labels": dict(_k8s.MANAGED_BY)},
            spec={"hard": quota_for(args.models, INIT_CPU, INIT_MEMORY)},
            opts=child,
        )
        _K8S.core.v1.LimitRange(
            f"{name}-limits",
            metadata={"name": "serving-limits", "namespace": ns, "labels": dict(_k8s.MANAGED_BY)},
            spec=LIMIT_RANGE,
            opts=child,
        )

    def _network_policies(self) -> None:
        name, args = self._name, self._args
        _k8s.default_deny(f"{name}-default-deny", self.ns, parent=self)
        _k8s.network_policy(
            f"{name}-allow-egress",
            self.ns,
            "allow-dns-and-https",
            parent=self,
            # HTTPS reaches S3 (gateway endpoint, public S3 addresses) and STS (interface endpoint).
            egress=[_k8s.dns_egress(), _k8s.tcp_egress(443)],
        )
        for mname, m in args.models.items():
            # The ALB sends traffic and health checks from its ENIs in the VPC straight to pod IPs.
            rules = [_k8s.from_cidr(self._ctx.vpc_cidr, m.port), _k8s.from_namespace(args.monitoring_namespace, m.port)]
            _k8s.network_policy(
                f"{name}-{mname}-allow-ingress",
                self.ns,
                f"allow-{mname}",
                parent=self,
                pod_selector={"matchLabels": {"platform.ai/model": mname}},
                ingress=rules,
            )

    # ------------------------------------------------------------------ per model
    def _service_account(self, mname: str, m: Model, ns: pulumi.Output[str]) -> k8s.core.v1.ServiceAccount:
        name, args = self._name, self._args
        annotations: dict[str, Any] = {}
        if m.source.s3_prefix:
            prefix = prefix_of(m)
            role = irsa_role(
                f"{name}-{mname}-role",
                self._ctx.irsa,
                args.namespace,
                mname,
                parent=self,
                policy=pulumi.Output.all(args.artifacts_bucket.arn, args.artifacts_key.arn).apply(
                    lambda a: model_read_policy(a[0], a[1], prefix, self._ctx.region)
                ),
                tags=self._ctx.tags,
            )
            self.model_roles[mname] = role
            annotations["eks.amazonaws.com/role-arn"] = role.arn
        return _K8S.core.v1.ServiceAccount(
            f"{name}-{mname}-sa",
            metadata={"name": mname, "namespace": ns, "labels": self._labels(mname), "annotations": annotations},
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _labels(self, mname: str, track: Track | Literal["warm-spare"] | None = None) -> dict[str, str]:
        labels = {**_k8s.MANAGED_BY, "app.kubernetes.io/name": mname, "platform.ai/model": mname}
        # Ownership for cost allocation: the stack's `owner` tag.
        labels["team"] = self._ctx.tags.get("owner", "ml-platform")
        if track:
            labels["platform.ai/track"] = track
        return labels

    def _track(
        self,
        mname: str,
        m: Model,
        track: Track,
        sa: k8s.core.v1.ServiceAccount,
        ns: pulumi.Output[str],
        keda: pulumi.Resource | None,
    ) -> None:
        """One track of a model (``primary`` or ``canary``): Deployment, Service, PDB and autoscaler."""
        obj = mname if track == "primary" else f"{mname}-canary"
        ref = m.image if track == "primary" else m.canary.image  # type: ignore[union-attr]
        repo = self._args.repositories[ref.repository]
        image = repo.repository_url.apply(lambda url: image_ref(url, ref.tag, ref.digest))
        meta = {"name": obj, "namespace": ns, "labels": self._labels(mname, track)}
        selector = {"platform.ai/model": mname, "platform.ai/track": track}
        lineage = track_lineage(mname, m, track == "canary", image, ref.digest, self._args.artifacts_bucket.bucket)
        low, high = (m.min_replicas, m.max_replicas) if track == "primary" else canary_replicas(m)
        timeout = rollout_timeout_seconds(m, self._args.gpu_nodes, high)
        deployment = _K8S.apps.v1.Deployment(
            f"{self._name}-{obj}",
            metadata={**meta, "annotations": {**lineage, TIMEOUT_ANNOTATION: str(timeout)}},
            spec={
                # No `replicas`: the HPA/ScaledObject owns it; a value here would be re-applied on
                # every update and fight the autoscaler.
                "selector": {"matchLabels": selector},
                "strategy": rollout_strategy(m),
                "revisionHistoryLimit": 5,
                "template": {
                    "metadata": {"labels": meta["labels"], "annotations": lineage},
                    "spec": self._pod_spec(mname, m, image, sa, selector),
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._service_and_budget(obj, m, meta, selector)
        self._autoscaler(obj, mname, m, track, meta, (low, high), deployment, keda)

    def _service_and_budget(self, obj: str, m: Model, meta: Mapping[str, Any], selector: Mapping[str, str]) -> None:
        """The track's ClusterIP Service (the ALB's target group) and its PodDisruptionBudget."""
        child = pulumi.ResourceOptions(parent=self)
        _K8S.core.v1.Service(
            f"{self._name}-{obj}-service",
            metadata={
                **meta,
                "annotations": {
                    "alb.ingress.kubernetes.io/healthcheck-path": "/health",
                    "alb.ingress.kubernetes.io/success-codes": "200",
                },
            },
            spec={
                "type": "ClusterIP",
                "selector": dict(selector),
                "ports": [{"name": "http", "port": m.port, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        _K8S.policy.v1.PodDisruptionBudget(
            f"{self._name}-{obj}-pdb",
            metadata=dict(meta),
            # maxUnavailable (not minAvailable) keeps node drains possible at one replica.
            # AlwaysAllow: crash-looping (never Ready) pods must not block node drains.
            spec={
                "maxUnavailable": 1,
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
                "selector": {"matchLabels": dict(selector)},
            },
            opts=child,
        )

    def _autoscaler(
        self,
        obj: str,
        mname: str,
        m: Model,
        track: Track,
        meta: Mapping[str, Any],
        bounds: tuple[int, int],
        deployment: pulumi.Resource,
        keda: pulumi.Resource | None,
    ) -> None:
        """A KEDA ScaledObject on the model's Prometheus query, or a CPU HPA."""
        if m.autoscaling.type != "keda":
            _K8S.autoscaling.v2.HorizontalPodAutoscaler(
                f"{self._name}-{obj}-hpa",
                metadata=dict(meta),
                spec=hpa_spec(obj, bounds, m.autoscaling.target_cpu_percent),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
            )
            return
        if keda is None or m.autoscaling.query is None:
            raise ValueError(f"model {mname}: KEDA autoscaling needs the KEDA release and a query")
        k8s.apiextensions.CustomResource(
            f"{self._name}-{obj}-scaledobject",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=dict(meta),
            spec=scaled_object_spec(
                obj,
                bounds,
                self._args.prometheus_url,
                scaling_query(m.autoscaling.query, mname, track),
                m.autoscaling.threshold,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[keda, deployment]),
        )

    def _pod_spec(
        self,
        mname: str,
        m: Model,
        image: pulumi.Output[str],
        sa: k8s.core.v1.ServiceAccount,
        selector: Mapping[str, str],
    ) -> dict[str, Any]:
        args = self._args
        claim = self._pvc(mname, m).metadata.name if not m.source.s3_prefix and m.source.pvc_size_gib else None
        w = weights(
            mname,
            m,
            region=self._ctx.region,
            bucket=args.artifacts_bucket.bucket,
            sync_image=args.model_sync_image,
            claim_name=claim,
        )
        volumes, mounts = scratch_volumes(m)
        spec: dict[str, Any] = {
            "serviceAccountName": sa.metadata.name,
            # IRSA mounts its own projected token; the API token is not needed.
            "automountServiceAccountToken": False,
            "securityContext": _k8s.restricted_pod(MODEL_UID),
            "terminationGracePeriodSeconds": 60,
            "topologySpreadConstraints": topology_spread(dict(selector)),
            "initContainers": w.init,
            "containers": [server_container(m, image, w, [*mounts, *w.mounts])],
            "volumes": [*volumes, *w.volumes],
            **_k8s.gpu_placement(m.gpus),
        }
        if not w.init:
            del spec["initContainers"]
        return spec

    def _warm_spares(
        self, mname: str, m: Model, ns: pulumi.Output[str], priority: pulumi.Resource, sa: k8s.core.v1.ServiceAccount
    ) -> None:
        """Placeholders the size of one replica, asleep in the serving image (components/_serving_spares.py)."""
        ref = m.image
        repo = self._args.repositories[ref.repository]
        image = repo.repository_url.apply(lambda url: image_ref(url, ref.tag, ref.digest))
        # Not a model track: no platform.ai/model label, so no Service, monitor or lineage selects it.
        labels = {k: v for k, v in self._labels(mname, "warm-spare").items() if k != "platform.ai/model"}
        labels |= {"app.kubernetes.io/name": f"{mname}-warm-spare", SPARE_LABEL: mname}
        warm_spares(self, f"{self._name}-{mname}", mname, m, ns, labels, image, sa.metadata.name, priority)

    def _pvc(self, mname: str, m: Model) -> k8s.core.v1.PersistentVolumeClaim:
        return _K8S.core.v1.PersistentVolumeClaim(
            f"{self._name}-{mname}-models",
            metadata={"name": f"{mname}-models", "namespace": self.ns.metadata.name, "labels": self._labels(mname)},
            spec={
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": self._ctx.storage_class_name,
                "resources": {"requests": {"storage": f"{m.source.pvc_size_gib}Gi"}},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _service_monitor(self, mname: str, m: Model, ns: pulumi.Output[str]) -> None:
        if self._args.monitoring_crds is None:
            raise ValueError("a ServiceMonitor needs ServingArgs.monitoring_crds")
        k8s.apiextensions.CustomResource(
            f"{self._name}-{mname}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": mname, "namespace": ns, "labels": self._labels(mname)},
            spec=service_monitor_spec(mname, m.metrics_path),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._args.monitoring_crds]),
        )

    # ------------------------------------------------------------------ ingress
    def _ingress(self, ns: pulumi.Output[str], models: Mapping[str, Model]) -> k8s.networking.v1.Ingress:
        args = self._args
        deps = [args.ingress_controller] if args.ingress_controller is not None else []
        return _K8S.networking.v1.Ingress(
            f"{self._name}-ingress",
            metadata={
                "name": "models",
                "namespace": ns,
                "labels": dict(_k8s.MANAGED_BY),
                "annotations": alb_annotations(args.ingress, models, self._ctx.vpc_cidr),
            },
            spec={"ingressClassName": "alb", "rules": [{"http": {"paths": ingress_paths(models)}}]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=deps),
        )
