"""The cloud layer: AWS-API-only components, created in both layers of the first deploy (ADR 0008)."""

from __future__ import annotations

import pulumi

from components.cluster import Cluster, ClusterArgs
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.deploy_identity import DeployIdentity, DeployIdentityArgs
from components.deploy_runner import DeployRunner, DeployRunnerArgs
from components.network import Network, NetworkArgs
from components.node_pool import NodePool, NodePoolArgs, ami_family
from infra.config import (
    PROJECT,
    admitted_role_arns,
    boundary_policy_name,
    deploy_role_name,
    preview_environment_name,
    preview_role_name,
    runner_project_name,
)
from infra.config import NodePoolSettings as ResolvedPool
from infra.wiring.stack import Stack


def deploy_identity(stack: Stack) -> DeployIdentity | None:
    """GitHub OIDC identities: a read-only preview role, this environment's deploy role and the permissions
    boundary every IAM role of the stack carries (docs/adr/0007). They come before the cluster, whose
    access entries need the roles. Role names come from infra.config so the workflows' delivery helper
    derives the same ARNs."""
    cfg, delivery = stack.cfg, stack.cfg.delivery
    if not delivery.enabled:
        return None
    runner = delivery.deploy_runner
    identity = DeployIdentity(
        "delivery",
        DeployIdentityArgs(
            github_repository=delivery.github_repository,
            environment=cfg.stack,
            account_id=cfg.account_id,
            region=cfg.region,
            deploy_role_name=deploy_role_name(cfg.stack),
            preview_role_name=preview_role_name(cfg.stack),
            preview_environment=preview_environment_name(cfg.stack),
            boundary_policy_name=boundary_policy_name(cfg.stack),
            cluster_name=stack.cluster_name,
            state_bucket=delivery.state_bucket,
            kms_aliases=[*delivery.secrets_kms_aliases, delivery.state_key_alias],
            project_tag=("project", PROJECT),
            create_oidc_provider=delivery.create_oidc_provider,
            default_branch=delivery.default_branch,
            deploy_policy_arns=delivery.deploy_policy_arns,
            max_session_seconds=delivery.max_session_seconds,
            runner_project_arn=(
                f"arn:aws:codebuild:{cfg.region}:{cfg.account_id}:project/{runner_project_name(pulumi.get_stack())}"
                if runner.enabled and runner.connection_arn
                else None
            ),
            database_identifiers=[mlflow_identifier(stack)] if cfg.mlflow.enabled else [],
            tags=stack.tags,
        ),
        stack.on_aws,
    )
    pulumi.export("previewRoleArn", identity.preview_role_arn)
    pulumi.export("deployRoleArn", identity.deploy_role_arn)
    return identity


def boundary(identity: DeployIdentity | None) -> pulumi.Input[str] | None:
    """The stack's permissions boundary: made by the deploy identity (none without delivery)."""
    return identity.boundary_arn if identity else None


def mlflow_identifier(stack: Stack) -> str:
    """MLflow's database identifier: the deploy role may manage exactly this instance."""
    return f"{stack.cluster_name}-mlflow"


def network(stack: Stack) -> Network:
    """The VPC, its subnets, NAT, endpoints and flow logs."""
    cfg, net = stack.cfg, stack.cfg.network
    vpc = Network(
        "network",
        NetworkArgs(
            cidr=net.cidr,
            availability_zones=net.availability_zones,
            cluster_name=stack.cluster_name,
            region=cfg.region,
            account_id=cfg.account_id,
            nat_gateways=net.nat_gateways,
            private_subnet_prefix=net.private_subnet_prefix,
            public_subnet_prefix=net.public_subnet_prefix,
            flow_log_retention_days=net.flow_log_retention_days,
            vpc_endpoints=net.vpc_endpoints,
            protect=cfg.protect_stateful_resources,
            tags=stack.tags,
            permissions_boundary=stack.boundary,
            iam_path=stack.iam_path,
        ),
        stack.on_aws,
    )
    pulumi.export("vpcId", vpc.vpc_id)
    pulumi.export("privateSubnetIds", vpc.private_subnet_ids)
    return vpc


def cluster(stack: Stack, vpc: Network, identity: DeployIdentity | None) -> Cluster:
    """The EKS cluster: admins from config and the deploy role, the preview role as viewer."""
    cfg, c = stack.cfg, stack.cfg.cluster
    eks = Cluster(
        "cluster",
        ClusterArgs(
            cluster_name=stack.cluster_name,
            version=c.version,
            network=vpc,
            region=cfg.region,
            account_id=cfg.account_id,
            endpoint_public_access=c.endpoint_public_access,
            public_access_cidrs=c.public_access_cidrs,
            admin_role_arns=admitted_role_arns(cfg),
            viewer_role_arns=[identity.preview_role_arn] if identity else [],
            access_depends_on=[identity] if identity else [],
            log_retention_days=c.log_retention_days,
            support_type=c.support_type,
            addon_versions=c.addon_versions,
            protect=cfg.protect_stateful_resources,
            kubernetes_objects=cfg.delivery.kubernetes_layer,
            tags=stack.tags,
            permissions_boundary=stack.boundary,
            iam_path=stack.iam_path,
        ),
        stack.on_aws,
    )
    pulumi.export("clusterName", eks.name)
    pulumi.export("clusterEndpoint", eks.endpoint)
    pulumi.export("oidcIssuer", eks.oidc_issuer)
    pulumi.export("kubeconfig", eks.kubeconfig)
    pulumi.export("nodeRoleArn", eks.node_role.arn)
    return eks


def deploy_runner(stack: Stack, vpc: Network, eks: Cluster) -> DeployRunner | None:
    """The deploy path (ADR 0008): CI jobs that talk to the cluster run on this CodeBuild runner in the
    private subnets, admitted to the API endpoint on 443. Cloud layer: the first ``up`` creates it."""
    cfg, runner = stack.cfg, stack.cfg.delivery.deploy_runner
    if not (cfg.delivery.enabled and runner.enabled and runner.connection_arn):
        return None
    component = DeployRunner(
        "deploy-runner",
        DeployRunnerArgs(
            project_name=runner_project_name(pulumi.get_stack()),
            permissions_boundary=stack.boundary,
            iam_path=stack.iam_path,
            github_repository=cfg.delivery.github_repository,
            connection_arn=runner.connection_arn,
            network=vpc,
            cluster_security_group_id=eks.cluster_security_group_id,
            account_id=cfg.account_id,
            region=cfg.region,
            compute_type=runner.compute_type,
            image=runner.image,
            build_timeout_minutes=runner.build_timeout_minutes,
            workflows=runner.workflows,
            # Deploy job logs are audit data, kept like the control-plane logs.
            log_retention_days=cfg.cluster.log_retention_days,
            protect=cfg.protect_stateful_resources,
            tags=stack.tags,
        ),
        stack.on_aws,
    )
    pulumi.export("deployRunnerLabel", component.runner_label)
    return component


def managed_pools(stack: Stack) -> dict[str, ResolvedPool]:
    """The pools that get a managed node group: Karpenter-provisioned GPU pools get none, and the
    cluster-autoscaler only ever sees managed node groups, never capacity Karpenter manages (ADR 0012)."""
    return {n: p for n, p in stack.cfg.resolved_node_pools().items() if p.karpenter is None}


def advertised_gpus(stack: Stack, pool: ResolvedPool) -> int:
    """GPUs a node of ``pool`` advertises: time-slicing multiplies what the device-plugin chart advertises;
    Bottlerocket's built-in plugin is not configured by the chart, so its pools advertise physical GPUs."""
    slices = stack.cfg.gpu.time_slicing_replicas or 1
    return pool.gpus_per_node * (slices if ami_family(pool.ami_type) == "al2023" else 1)


def node_pools(stack: Stack, vpc: Network, eks: Cluster) -> dict[str, NodePool]:
    """One managed node group per managed pool, in the subnets of the pool's zones."""
    subnet_by_az = dict(zip(stack.cfg.network.availability_zones, vpc.private_subnets, strict=True))
    return {
        pool.name: NodePool(
            pool.name,
            NodePoolArgs(
                cluster=eks,
                subnets=[subnet_by_az[az] for az in pool.availability_zones],
                instance_types=pool.instance_types,
                ami_type=pool.ami_type,
                capacity_type=pool.capacity_type,
                min_size=pool.min_size,
                desired_size=pool.desired_size,
                max_size=pool.max_size,
                disk_size_gib=pool.disk_size_gib,
                max_unavailable=pool.max_unavailable,
                auto_repair=pool.auto_repair,
                labels=pool.labels,
                gpu_model=pool.gpu_model,
                gpus_per_node=pool.gpus_per_node,
                advertised_gpus=advertised_gpus(stack, pool),
                tags=stack.tags,
            ),
            stack.on_aws,
        )
        for pool in managed_pools(stack).values()
    }


def cluster_addons(stack: Stack, eks: Cluster, pools: dict[str, NodePool]) -> ClusterAddons:
    """CoreDNS and the EBS CSI driver, after the node pools their pods need."""
    return ClusterAddons(
        "cluster-addons", ClusterAddonsArgs(cluster=eks, node_pools=list(pools.values())), stack.on_aws
    )
