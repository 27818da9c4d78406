"""In-cluster add-ons and workloads: each takes the :class:`ClusterContext` and its own ``…Args``.

All but Karpenter's AWS plumbing are Kubernetes-layer components, created only with
``delivery.kubernetesLayer`` (ADR 0008); ``infra/__main__.py`` keeps that switch visible.
"""

from __future__ import annotations

import pulumi

from components.artifacts import Artifacts
from components.ci_runners import CiRunners
from components.cluster import Cluster
from components.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.cluster_context import ClusterContext
from components.cold_start import NodePath, PullPath
from components.drift import DriftJob, DriftMonitoring, DriftMonitoringArgs
from components.gpu_stack import GpuStack, GpuStackArgs
from components.ingress_controller import IngressController, IngressControllerArgs
from components.karpenter import GpuNodePool, Karpenter, KarpenterArgs
from components.mlflow import DatabaseSettings, Mlflow, MlflowArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network import Network
from components.node_pool import ami_family
from components.registry import Registry
from components.serving import IngressSettings, Serving, ServingArgs
from infra.config import NodePoolSettings as ResolvedPool
from infra.wiring.cloud import managed_pools, mlflow_identifier
from infra.wiring.stack import Stack, required_secret, secret
from infra.wiring.storage import repository_image

# Karpenter's image-pull settings as the cold-start estimate names the paths (components/cold_start.py).
_PULL_PATHS: dict[str, PullPath] = {"soci": "lazy", "snapshot": "cached", "standard": "plain"}


def gpu_node_path(pool: ResolvedPool) -> NodePath:
    """A GPU pool as the cold-start estimate sees it: provisioner, family, image pull path, a node kept up."""
    k = pool.karpenter
    if k is not None:
        return NodePath(pool.name, k.instance_families[0], "karpenter", _PULL_PATHS[k.image_pull])
    return NodePath(pool.name, pool.instance_types[0].split(".")[0], "cluster-autoscaler", warm=pool.min_size > 0)


def karpenter_pool(pool: ResolvedPool) -> GpuNodePool:
    """A resolved GPU pool with Karpenter settings as the Karpenter component takes it."""
    k = pool.karpenter
    if k is None or pool.gpu_model is None:
        raise ValueError(f"node pool {pool.name} is not a Karpenter GPU pool")
    return GpuNodePool(
        name=pool.name,
        ami_family=ami_family(pool.ami_type),
        gpu_model=pool.gpu_model,
        gpus_per_node=pool.gpus_per_node,
        max_nodes=pool.max_size,
        disk_size_gib=pool.disk_size_gib,
        instance_families=k.instance_families,
        instance_sizes=k.instance_sizes,
        capacity_types=k.capacity_types,
        availability_zones=pool.availability_zones,
        consolidation_policy=k.consolidation_policy,
        consolidate_after=k.consolidate_after,
        expire_after=k.expire_after,
        budget_nodes=k.budget_nodes,
        image_pull=k.image_pull,
        image_cache_snapshot_id=k.image_cache_snapshot_id,
        labels=pool.labels,
    )


def karpenter(stack: Stack, context: ClusterContext) -> Karpenter | None:
    """Karpenter for the GPU pools it provisions (none: no Karpenter). Its AWS plumbing exists in both
    layers; its releases and custom resources only in the Kubernetes layer. The controller runs on the
    system pool and needs DNS to reach the AWS APIs, so it gets the system pool's context."""
    pools = [karpenter_pool(p) for p in stack.cfg.resolved_node_pools().values() if p.karpenter is not None]
    if not pools:
        return None
    component = Karpenter(
        "karpenter",
        KarpenterArgs(pools=pools, kubernetes_objects=stack.cfg.delivery.kubernetes_layer),
        context,
        stack.on_k8s(context.k8s_provider),
    )
    # Beside nodeRoleArn: a stack sharing its account and region lists both in the registry-settings owner's
    # registry.pullThroughPrincipalArns, so its Karpenter nodes may fill the pull-through caches too.
    pulumi.export("karpenterNodeRoleArn", component.node_role.arn)
    return component


def cluster_autoscaler(stack: Stack, context: ClusterContext) -> ClusterAutoscaler:
    """The cluster-autoscaler for the managed pools, trying the spot pools first."""
    spot = [p.name for p in managed_pools(stack).values() if p.capacity_type == "SPOT"]
    return ClusterAutoscaler(
        "cluster-autoscaler",
        ClusterAutoscalerArgs(preferred_pools=spot),
        context,
        stack.on_k8s(context.k8s_provider),
    )


def monitoring(stack: Stack, context: ClusterContext) -> Monitoring:
    """Prometheus, Alertmanager, Grafana: its CRD release gates every ServiceMonitor and PrometheusRule."""
    cfg, m = stack.cfg, stack.cfg.monitoring
    component = Monitoring(
        "monitoring",
        MonitoringArgs(
            grafana_admin_password=required_secret(cfg.grafana_admin_password, "grafanaAdminPassword"),
            prometheus_storage_gib=m.prometheus_storage_gib,
            retention=m.prometheus_retention,
            retention_size_gib=m.retention_size_gib,
            prometheus_replicas=m.prometheus_replicas,
            grafana_storage_gib=m.grafana_storage_gib,
            slack_channel=m.alerting.slack_channel,
            slack_webhook_url=secret(cfg.alertmanager_slack_webhook_url) if m.alerting.slack_channel else None,
            pagerduty_routing_key=secret(cfg.alertmanager_pagerduty_routing_key) if m.alerting.pagerduty else None,
        ),
        context,
    )
    pulumi.export("prometheusUrl", component.prometheus_url)
    return component


def gpu_stack(stack: Stack, context: ClusterContext, prometheus: Monitoring) -> GpuStack:
    """The device plugin or GPU operator and the DCGM exporter, after the monitoring CRDs."""
    g = stack.cfg.gpu
    return GpuStack(
        "gpu",
        GpuStackArgs(
            stack=g.stack,
            time_slicing_replicas=g.time_slicing_replicas,
            mig_strategy=g.mig_strategy,
            mig_manager=g.mig_manager,
            dcgm_memory_limit_mib=g.dcgm_memory_limit_mib,
            monitoring_crds=prometheus.crds,
        ),
        context,
    )


def ingress_controller(stack: Stack, context: ClusterContext, vpc: Network) -> IngressController:
    """The AWS Load Balancer Controller: the models' ALB."""
    return IngressController(
        "ingress-controller",
        IngressControllerArgs(vpc_id=vpc.vpc_id),
        context,
        stack.on_k8s(context.k8s_provider),
    )


def serving(
    stack: Stack,
    context: ClusterContext,
    registry: Registry,
    artifacts: Artifacts,
    prometheus: Monitoring,
    ingress: IngressController,
) -> Serving:
    """The models behind the ALB, scaled by KEDA or the HPA."""
    cfg, sv = stack.cfg, stack.cfg.serving
    component = Serving(
        "serving",
        ServingArgs(
            namespace=sv.namespace,
            models=cfg.resolved_models(),
            repositories=registry.repositories,
            artifacts_bucket=artifacts.bucket,
            artifacts_key=artifacts.key,
            prometheus_url=prometheus.prometheus_url,
            monitoring_crds=prometheus.crds,
            model_sync_image=sv.model_sync_image.reference(cfg.account_id, cfg.region) if sv.model_sync_image else None,
            allow_scale_to_zero=sv.allow_scale_to_zero,
            ingress=IngressSettings(
                scheme=sv.ingress.scheme,
                certificate_arn=sv.ingress.certificate_arn,
                inbound_cidrs=sv.ingress.inbound_cidrs,
                group_name=sv.ingress.group_name,
            ),
            ingress_controller=ingress.release,
            gpu_nodes=[gpu_node_path(p) for p in cfg.resolved_node_pools().values() if p.gpu],
        ),
        context,
        stack.on_k8s(context.k8s_provider),
    )
    pulumi.export("servingNamespace", component.namespace)
    return component


def drift(
    stack: Stack, context: ClusterContext, registry: Registry, artifacts: Artifacts, prometheus: Monitoring
) -> DriftMonitoring:
    """Scheduled drift evaluation per model, results pushed to a Pushgateway Prometheus scrapes."""
    cfg, dr = stack.cfg, stack.cfg.drift
    image = repository_image(registry, dr.image.repository, dr.image.tag, dr.image.digest) if dr.image else ""
    component = DriftMonitoring(
        "drift",
        DriftMonitoringArgs(
            artifacts_bucket=artifacts.bucket,
            artifacts_key=artifacts.key,
            image=image,
            jobs={
                n: DriftJob(m.drift.reference, m.drift.current, m.drift.schedule)
                for n, m in cfg.serving.models.items()
                if m.drift
            },
            namespace=dr.namespace,
            monitoring_crds=prometheus.crds,
            pushgateway_storage_gib=dr.pushgateway_storage_gib,
            cpu=dr.cpu,
            memory=dr.memory,
            deadline_seconds=dr.deadline_seconds,
        ),
        context,
        stack.on_k8s(context.k8s_provider),
    )
    pulumi.export("pushgatewayUrl", component.pushgateway_url)
    return component


def mlflow(
    stack: Stack,
    context: ClusterContext,
    vpc: Network,
    eks: Cluster,
    artifacts: Artifacts,
    github_runners: CiRunners | None,
) -> Mlflow | None:
    """The MLflow tracking server and its RDS database. The database is reached through AWS APIs, but the
    server is in-cluster: both come with the Kubernetes layer (the second ``up``, from the in-VPC runner)."""
    cfg, mf = stack.cfg, stack.cfg.mlflow
    if not mf.enabled:
        return None
    component = Mlflow(
        "mlflow",
        MlflowArgs(
            identifier=mlflow_identifier(stack),  # DeployIdentityArgs.database_identifiers names it too
            vpc_id=vpc.vpc_id,
            private_subnet_ids=vpc.private_subnet_ids,
            cluster_security_group_id=eks.cluster_security_group_id,
            artifacts_bucket=artifacts.bucket,
            artifacts_key=artifacts.key,
            admin_password=required_secret(cfg.mlflow_admin_password, "mlflowAdminPassword"),
            database=DatabaseSettings(
                instance_class=mf.db_instance_class,
                engine_version=mf.db_engine_version,
                storage_gib=mf.db_storage_gib,
                max_storage_gib=mf.db_max_storage_gib,
                multi_az=mf.db_multi_az,
                backup_retention_days=mf.db_backup_retention_days,
                deletion_protection=mf.db_deletion_protection,
            ),
            namespace=mf.namespace,
            replicas=mf.replicas,
            client_namespaces=cfg.mlflow_client_namespaces(),
            # The client namespaces' egress allows need the namespaces (the CI runners' one).
            clients_depend_on=[github_runners] if github_runners else [],
            protect=cfg.protect_stateful_resources,
        ),
        context,
        stack.on_k8s(context.k8s_provider),
    )
    pulumi.export("mlflowUrl", component.url)
    pulumi.export("mlflowArtifactUri", component.artifact_uri)
    return component
