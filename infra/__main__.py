"""The ai-platform program: load the validated stack config, compose the components, export.

``main: infra/`` makes ``infra/`` the program directory: Pulumi's Python language host changes into it
and runs ``runpy.run_path(".")`` (so ``pulumi install`` reads ``infra/requirements.txt``); the offline
preview (``blueprint preview``) runs this file under the SDK's mock engine.

Two layers: the cloud layer (network, roles, cluster, node pools, registry, artifacts, the in-VPC deploy
runner) talks only to AWS APIs; the Kubernetes layer talks to the cluster's API endpoint, which only the
in-VPC runner reaches. ``delivery.kubernetesLayer: false`` deploys the cloud layer alone: the
administrator's first ``up`` of a stack (README, "Deploying for real"; ADR 0008).
"""

import pulumi
import pulumi_aws as aws

from components._ci import JobProfile
from components.artifacts import Artifacts, ArtifactsArgs
from components.audit import Audit, AuditArgs, ObjectLock
from components.ci_runners import CiRunners, CiRunnersArgs
from components.circleci_agent import CircleciAgent, CircleciAgentArgs
from components.cluster import Cluster, ClusterArgs
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.cold_start import NodePath, PullPath
from components.deploy_identity import DeployIdentity, DeployIdentityArgs, branch_subject, environment_subject
from components.deploy_runner import DeployRunner, DeployRunnerArgs
from components.drift import DriftJob, DriftMonitoring, DriftMonitoringArgs
from components.dvc_remote import DvcRemote, DvcRemoteArgs
from components.gitlab_runner import GitlabRunner, GitlabRunnerArgs
from components.images import Images, ImagesArgs
from components.ingress_controller import IngressController, IngressControllerArgs
from components.jenkins import Jenkins, JenkinsArgs
from components.karpenter import GpuNodePool, Karpenter, KarpenterArgs
from components.mlflow import DatabaseSettings, Mlflow, MlflowArgs
from components.network import Network, NetworkArgs
from components.node_pool import NodePool, NodePoolArgs, ami_family
from components.registry import CiPushIdentity, PullThroughUpstream, Registry, RegistryArgs, RepositorySpec
from components.serving import IngressSettings, Serving, ServingArgs, image_ref
from infra.config import (
    LABEL_POOL,
    PROJECT,
    PULL_THROUGH_UPSTREAMS,
    RUNNER_SERVICE_ACCOUNT,
    CiJobProfile,
    admitted_role_arns,
    boundary_policy_name,
    deploy_role_name,
    iam_path,
    load_config,
    preview_environment_name,
    preview_role_name,
    runner_project_name,
)
from infra.config import NodePool as ResolvedPool
from infra.observability import observability


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


# Karpenter's image-pull settings as the cold-start estimate names the paths (components/cold_start.py).
_PULL_PATHS: dict[str, PullPath] = {"soci": "lazy", "snapshot": "cached", "standard": "plain"}


def gpu_node_path(pool: ResolvedPool) -> NodePath:
    """A GPU pool as the cold-start estimate sees it: provisioner, family, image pull path, a node kept up."""
    k = pool.karpenter
    if k is not None:
        return NodePath(pool.name, k.instance_families[0], "karpenter", _PULL_PATHS[k.image_pull])
    return NodePath(pool.name, pool.instance_types[0].split(".")[0], "cluster-autoscaler", warm=pool.min_size > 0)


cfg = load_config()
tags = cfg.stack_tags
cluster_name = f"{PROJECT}-{pulumi.get_stack()}"
IAM_PATH = iam_path()  # every role and policy the stack creates lives under it (ADR 0007)

# One explicit AWS provider: it refuses any account but the stack's (allowedAccountIds) and tags
# everything it creates. Components inherit it from their parent options.
aws_provider = aws.Provider(
    "aws",
    region=cfg.region,
    allowed_account_ids=[cfg.account_id],
    default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
)
on_aws = pulumi.ResourceOptions(providers=[aws_provider])

# ----------------------------------------------------------------------------- delivery
# GitHub OIDC identities: a read-only preview role and this environment's deploy role (its ARN is in
# cluster.adminRoleArns, checked by the config), and the permissions boundary every IAM role of the stack
# carries (docs/adr/0007), so they come first. They come before the cluster, whose access entries
# (admin for the deploy role, view for the preview role) need the roles to exist. Role names come
# from infra.config so the workflows' `python -m blueprint.delivery` helper derives the same ARNs.
deploy_identity: DeployIdentity | None = None
if cfg.delivery.enabled:
    delivery = cfg.delivery
    deploy_identity = DeployIdentity(
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
            cluster_name=cluster_name,
            state_bucket=delivery.state_bucket,
            kms_aliases=[*delivery.secrets_kms_aliases, delivery.state_key_alias],
            project_tag=("project", PROJECT),
            create_oidc_provider=delivery.create_oidc_provider,
            default_branch=delivery.default_branch,
            deploy_policy_arns=delivery.deploy_policy_arns,
            max_session_seconds=delivery.max_session_seconds,
            runner_project_arn=(
                f"arn:aws:codebuild:{cfg.region}:{cfg.account_id}:project/{runner_project_name(pulumi.get_stack())}"
                if delivery.deploy_runner.enabled and delivery.deploy_runner.connection_arn
                else None
            ),
            database_identifiers=[f"{cluster_name}-mlflow"] if cfg.mlflow.enabled else [],
            tags=tags,
        ),
        on_aws,
    )
    pulumi.export("previewRoleArn", deploy_identity.preview_role_arn)
    pulumi.export("deployRoleArn", deploy_identity.deploy_role_arn)
boundary = deploy_identity.boundary_arn if deploy_identity else None

network = Network(
    "network",
    NetworkArgs(
        cidr=cfg.network.cidr,
        availability_zones=cfg.network.availability_zones,
        cluster_name=cluster_name,
        region=cfg.region,
        account_id=cfg.account_id,
        nat_gateways=cfg.network.nat_gateways,
        private_subnet_prefix=cfg.network.private_subnet_prefix,
        public_subnet_prefix=cfg.network.public_subnet_prefix,
        flow_log_retention_days=cfg.network.flow_log_retention_days,
        vpc_endpoints=cfg.network.vpc_endpoints,
        protect=cfg.protect_stateful_resources,
        tags=tags,
        permissions_boundary=boundary,
        iam_path=IAM_PATH,
    ),
    on_aws,
)

pulumi.export("vpcId", network.vpc_id)
pulumi.export("privateSubnetIds", network.private_subnet_ids)

# --------------------------------------------------------------------------- EKS cluster and node pools
cluster = Cluster(
    "cluster",
    ClusterArgs(
        cluster_name=cluster_name,
        version=cfg.cluster.version,
        network=network,
        region=cfg.region,
        account_id=cfg.account_id,
        endpoint_public_access=cfg.cluster.endpoint_public_access,
        public_access_cidrs=cfg.cluster.public_access_cidrs,
        admin_role_arns=admitted_role_arns(cfg),
        viewer_role_arns=[deploy_identity.preview_role_arn] if deploy_identity else [],
        access_depends_on=[deploy_identity] if deploy_identity else [],
        log_retention_days=cfg.cluster.log_retention_days,
        support_type=cfg.cluster.support_type,
        addon_versions=cfg.cluster.addon_versions,
        protect=cfg.protect_stateful_resources,
        kubernetes_objects=cfg.delivery.kubernetes_layer,
        tags=tags,
        permissions_boundary=boundary,
        iam_path=IAM_PATH,
    ),
    on_aws,
)

# The deploy path (ADR 0008): CI jobs that talk to the cluster run on this CodeBuild runner in the
# private subnets, admitted to the API endpoint on 443. Cloud layer: the first `up` creates it.
runner = cfg.delivery.deploy_runner
if cfg.delivery.enabled and runner.enabled and runner.connection_arn:
    deploy_runner = DeployRunner(
        "deploy-runner",
        DeployRunnerArgs(
            project_name=runner_project_name(pulumi.get_stack()),
            permissions_boundary=boundary,
            iam_path=IAM_PATH,
            github_repository=cfg.delivery.github_repository,
            connection_arn=runner.connection_arn,
            network=network,
            cluster_security_group_id=cluster.cluster_security_group_id,
            account_id=cfg.account_id,
            region=cfg.region,
            compute_type=runner.compute_type,
            image=runner.image,
            build_timeout_minutes=runner.build_timeout_minutes,
            workflows=runner.workflows,
            # Deploy job logs are audit data, kept like the control-plane logs.
            log_retention_days=cfg.cluster.log_retention_days,
            protect=cfg.protect_stateful_resources,
            tags=tags,
        ),
        on_aws,
    )
    pulumi.export("deployRunnerLabel", deploy_runner.runner_label)
k8s_layer = cfg.delivery.kubernetes_layer
subnet_by_az = dict(zip(cfg.network.availability_zones, network.private_subnets, strict=True))
all_pools = cfg.resolved_node_pools()
# Karpenter-provisioned GPU pools get no managed node group: the cluster-autoscaler only ever sees
# managed node groups, never capacity Karpenter manages (ADR 0012).
pools = {n: p for n, p in all_pools.items() if p.karpenter is None}
node_pools = {
    pool.name: NodePool(
        pool.name,
        NodePoolArgs(
            cluster=cluster,
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
            # Time-slicing multiplies what the device-plugin chart advertises; Bottlerocket's
            # built-in plugin is not configured by the chart, so its pools advertise physical GPUs.
            advertised_gpus=pool.gpus_per_node
            * ((cfg.gpu.time_slicing_replicas or 1) if ami_family(pool.ami_type) == "al2023" else 1),
            tags=tags,
        ),
        on_aws,
    )
    for pool in pools.values()
}
addons = ClusterAddons(
    "cluster-addons", ClusterAddonsArgs(cluster=cluster, node_pools=list(node_pools.values())), on_aws
)

# Kubernetes-layer components take these options: AWS for IRSA roles, the cluster for k8s/helm.
on_k8s = pulumi.ResourceOptions(providers=[aws_provider, cluster.k8s_provider])
karpenter_pools = [karpenter_pool(p) for p in all_pools.values() if p.karpenter is not None]
karpenter = (
    Karpenter(
        "karpenter",
        KarpenterArgs(
            cluster=cluster,
            cluster_name=cluster_name,
            region=cfg.region,
            account_id=cfg.account_id,
            pools=karpenter_pools,
            node_selector={LABEL_POOL: cfg.system_pool().name},
            kubernetes_objects=k8s_layer,
            # The controller runs on the system pool and needs DNS to reach the AWS APIs.
            depends_on=[addons, *node_pools.values()],
            tags=tags,
        ),
        on_k8s,
    )
    if karpenter_pools
    else None
)
if k8s_layer:
    ClusterAutoscaler(
        "cluster-autoscaler",
        ClusterAutoscalerArgs(
            cluster=cluster,
            cluster_name=cluster_name,
            kubernetes_version=cfg.cluster.version,
            region=cfg.region,
            account_id=cfg.account_id,
            node_selector={LABEL_POOL: cfg.system_pool().name},
            preferred_pools=[p.name for p in pools.values() if p.capacity_type == "SPOT"],
            # Its pod needs a node, and DNS (coredns) to reach the AWS APIs.
            depends_on=[addons, *node_pools.values()],
            tags=tags,
        ),
        on_k8s,
    )

    # Monitoring (prometheus-operator CRDs, kube-prometheus-stack, dashboards, rules) first: its CRD
    # release gates every ServiceMonitor and PrometheusRule. Then the GPU stack (device plugin or GPU
    # operator, DCGM exporter). Both wait for the EBS CSI add-on (their volumes) and the node pools.
    monitoring, gpu_stack = observability(
        cfg,
        cluster.k8s_provider,
        storage_class_name=cluster.storage_class_name,
        cluster_name=cluster_name,
        depends_on=[addons, *node_pools.values()],
    )
    pulumi.export("prometheusUrl", monitoring.prometheus_url)

pulumi.export("clusterName", cluster.name)
pulumi.export("clusterEndpoint", cluster.endpoint)
pulumi.export("oidcIssuer", cluster.oidc_issuer)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("nodeRoleArn", cluster.node_role.arn)

# --------------------------------------------------------------------------- registry and artifacts
# The registry grants pull to the cluster's node role and creates the CI runners' IRSA push role.
reg = cfg.registry
registry = Registry(
    "registry",
    RegistryArgs(
        name_prefix=cluster_name,
        region=cfg.region,
        account_id=cfg.account_id,
        repositories={
            repo_name: RepositorySpec(
                image_tag_mutability=repo.image_tag_mutability or reg.image_tag_mutability,
                untagged_expiry_days=repo.untagged_expiry_days or reg.untagged_expiry_days,
                keep_tagged_count=repo.keep_tagged_count or reg.keep_tagged_count,
            )
            for repo_name, repo in reg.repositories.items()
        },
        scanning=reg.scanning,
        pull_through_cache={
            prefix: PullThroughUpstream(PULL_THROUGH_UPSTREAMS[prefix][0], rule.credential_arn)
            for prefix, rule in reg.pull_through_cache.items()
            if rule.enabled
        },
        cache_untagged_expiry_days=reg.untagged_expiry_days,
        cache_keep_tagged_count=reg.keep_tagged_count,
        pull_principal_arns=[cluster.node_role.arn],
        ci_push_identity=(
            # Only the environment that builds images pushes from the cluster; staging and prod
            # receive images through `blueprint promote` (its scan gate), never from their own CI.
            CiPushIdentity(cluster.irsa, cfg.ci_runners.namespace, RUNNER_SERVICE_ACCOUNT)
            if cfg.ci_runners.enabled and cfg.ci_runners.push_to_registry
            else None
        ),
        protect=cfg.protect_stateful_resources,
        tags=tags,
        permissions_boundary=boundary,
        iam_path=IAM_PATH,
    ),
    on_aws,
)

artifacts = Artifacts(
    "artifacts",
    ArtifactsArgs(
        bucket_prefix=f"{cluster_name}-artifacts-",
        account_id=cfg.account_id,
        noncurrent_version_expiry_days=cfg.artifacts.noncurrent_version_expiry_days,
        abort_incomplete_upload_days=cfg.artifacts.abort_incomplete_upload_days,
        personal_data_expiry_days=cfg.artifacts.personal_data_expiry_days,
        protect=cfg.protect_stateful_resources,
        tags=tags,
    ),
    on_aws,
)

pulumi.export("registryUrls", registry.repository_urls)
pulumi.export("artifactBucket", artifacts.bucket_name)

# --------------------------------------------------------------------------- audit (docs/governance.md)
# One stack per account owns the audit archive and the trail (audit.enabled); the trail records
# the artifact bucket's object reads and writes, and its server access logs go to the archive's log bucket.
if cfg.audit.enabled:
    au = cfg.audit
    audit = Audit(
        "audit",
        AuditArgs(
            permissions_boundary=boundary,
            iam_path=IAM_PATH,
            name_prefix=cluster_name,
            account_id=cfg.account_id,
            region=cfg.region,
            audited_buckets={"artifacts": artifacts.bucket},
            create_trail=au.trail == "create",
            organization_trail_arn=au.organization_trail_arn,
            data_events=au.data_events,
            object_lock=ObjectLock(au.object_lock.mode, au.object_lock.days) if au.object_lock else None,
            cold_after_days=au.cold_after_days,
            retention_days=au.retention_days,
            access_log_retention_days=au.access_log_retention_days,
            cloudwatch_retention_days=au.cloudwatch_retention_days,
            protect=cfg.protect_stateful_resources,
            tags=tags,
        ),
        on_aws,
    )
    pulumi.export("auditArchiveBucket", audit.archive_bucket.bucket)
    pulumi.export("auditTrailArn", audit.trail_arn)

# --------------------------------------------------------------------------- workloads: ingress, serving, CI
system_nodes = {LABEL_POOL: cfg.system_pool().name}
# Every release whose pods need a node waits for the pools and CoreDNS (like monitoring above).
needs_nodes = [addons, *node_pools.values(), *([karpenter] if karpenter else [])]


if k8s_layer:
    ingress_controller = IngressController(
        "ingress-controller",
        IngressControllerArgs(
            cluster_name=cluster.name,
            region=cfg.region,
            vpc_id=network.vpc_id,
            irsa=cluster.irsa,
            k8s_provider=cluster.k8s_provider,
            system_node_selector=system_nodes,
            tags=tags,
            depends_on=needs_nodes,
        ),
        on_k8s,
    )

    sv = cfg.serving
    serving = Serving(
        "serving",
        ServingArgs(
            namespace=sv.namespace,
            models=cfg.resolved_models(),
            repositories=registry.repositories,
            artifacts_bucket=artifacts.bucket,
            artifacts_key=artifacts.key,
            irsa=cluster.irsa,
            k8s_provider=cluster.k8s_provider,
            region=cfg.region,
            vpc_cidr=cfg.network.cidr,
            prometheus_url=monitoring.prometheus_url,
            monitoring_crds=monitoring.crds,
            model_sync_image=sv.model_sync_image.reference(cfg.account_id, cfg.region) if sv.model_sync_image else None,
            storage_class_name=cluster.storage_class_name,
            allow_scale_to_zero=sv.allow_scale_to_zero,
            ingress=IngressSettings(
                scheme=sv.ingress.scheme,
                certificate_arn=sv.ingress.certificate_arn,
                inbound_cidrs=sv.ingress.inbound_cidrs,
                group_name=sv.ingress.group_name,
            ),
            ingress_controller=ingress_controller.release,
            system_node_selector=system_nodes,
            tags=tags,
            depends_on=needs_nodes,
            gpu_nodes=[gpu_node_path(p) for p in all_pools.values() if p.gpu],
        ),
        on_k8s,
    )
    pulumi.export("servingNamespace", serving.namespace)

# --------------------------------------------------------------------------- ML lifecycle: drift evaluation
if k8s_layer:
    dr = cfg.drift
    drift_image: pulumi.Input[str] = ""
    if dr.image is not None:
        drift_ref = dr.image
        drift_image = registry.repositories[drift_ref.repository].repository_url.apply(
            lambda url: image_ref(url, drift_ref.tag, drift_ref.digest)
        )
    drift = DriftMonitoring(
        "drift",
        DriftMonitoringArgs(
            k8s_provider=cluster.k8s_provider,
            irsa=cluster.irsa,
            artifacts_bucket=artifacts.bucket,
            artifacts_key=artifacts.key,
            region=cfg.region,
            image=drift_image,
            jobs={
                n: DriftJob(m.drift.reference, m.drift.current, m.drift.schedule)
                for n, m in cfg.serving.models.items()
                if m.drift
            },
            namespace=dr.namespace,
            monitoring_crds=monitoring.crds,
            storage_class_name=cluster.storage_class_name,
            pushgateway_storage_gib=dr.pushgateway_storage_gib,
            cpu=dr.cpu,
            memory=dr.memory,
            deadline_seconds=dr.deadline_seconds,
            depends_on=needs_nodes,
            system_node_selector=system_nodes,
            tags=tags,
        ),
        on_k8s,
    )
    pulumi.export("pushgatewayUrl", drift.pushgateway_url)

# Platform images: built and pushed only with images.build (needs a Docker daemon even to
# preview); otherwise the runner image comes from config, pinned by digest.
im = cfg.images
if im.build:
    built = {"ci-runner": registry.repositories[im.runner_repository]}
    if im.model_server_repository:
        built["model-server"] = registry.repositories[im.model_server_repository]
    images = Images("images", ImagesArgs(images=built, tag=f"{pulumi.get_stack()}-build"), on_aws)
    runner_image: pulumi.Input[str] = images.digests["ci-runner"]
    pulumi.export("imageDigests", images.digests)
elif im.runner_image is not None:
    ref = im.runner_image
    runner_image = registry.repositories[ref.repository].repository_url.apply(
        lambda url: image_ref(url, ref.tag, ref.digest)
    )

ci = cfg.ci_runners
ci_runners: CiRunners | None = None
if k8s_layer and ci.enabled:
    assert cfg.github_app_private_key is not None  # config validation requires it when enabled
    ci_runners = CiRunners(
        "ci-runners",
        CiRunnersArgs(
            github_config_url=ci.github_config_url,
            github_app_id=ci.github_app_id,
            github_app_installation_id=ci.github_app_installation_id,
            github_app_private_key=pulumi.Output.secret(cfg.github_app_private_key.get_secret_value()),
            scale_sets=cfg.runner_scale_sets(),
            runner_image=runner_image,
            k8s_provider=cluster.k8s_provider,
            push_role=registry.ci_push_role,
            namespace=ci.namespace,
            job_namespace=ci.job_namespace,
            runner_group=ci.runner_group,
            system_node_selector=system_nodes,
            depends_on=needs_nodes,
        ),
        on_k8s,
    )

# The other CI backends (ciRunners.gitlab/jenkins/circleci): each in its own namespaces, job pods with
# explicit resources and a GPU profile, a registry push role only where the backend's pushToRegistry says.
push_arns = [repo.arn for repo in registry.repositories.values()]


def job_profile(p: CiJobProfile) -> JobProfile:
    """A job profile from config, its pool as a node selector."""
    selector = {LABEL_POOL: p.node_pool} if p.node_pool else {}
    return JobProfile(p.cpu, p.memory, p.ephemeral_storage_gib, p.gpus, selector, p.restricted)


if k8s_layer:
    gl, jk, cc = ci.gitlab, ci.jenkins, ci.circleci
    if gl.enabled:
        assert cfg.gitlab_runner_token is not None  # config validation requires it when enabled
        GitlabRunner(
            "gitlab-runner",
            GitlabRunnerArgs(
                gitlab_url=gl.gitlab_url,
                runner_token=pulumi.Output.secret(cfg.gitlab_runner_token.get_secret_value()),
                gpu_runner_token=pulumi.Output.secret(cfg.gitlab_gpu_runner_token.get_secret_value())
                if cfg.gitlab_gpu_runner_token and gl.gpu_concurrent
                else None,
                k8s_provider=cluster.k8s_provider,
                namespace=gl.namespace,
                job_namespace=gl.job_namespace,
                concurrent=gl.concurrent,
                gpu_concurrent=gl.gpu_concurrent,
                check_interval_seconds=gl.check_interval_seconds,
                job_image=gl.job_image,
                cpu_job=job_profile(gl.cpu_job),
                gpu_job=job_profile(gl.gpu_job),
                irsa=cluster.irsa,
                push_repository_arns=push_arns if gl.push_to_registry else [],
                system_node_selector=system_nodes,
                tags=tags,
                depends_on=needs_nodes,
            ),
            on_k8s,
        )
    if jk.enabled:
        assert cfg.jenkins_admin_password is not None  # config validation requires it when enabled
        Jenkins(
            "jenkins",
            JenkinsArgs(
                admin_password=pulumi.Output.secret(cfg.jenkins_admin_password.get_secret_value()),
                k8s_provider=cluster.k8s_provider,
                storage_class_name=cluster.storage_class_name,
                namespace=jk.namespace,
                agent_namespace=jk.agent_namespace,
                home_size_gib=jk.home_size_gib,
                controller_cpu=jk.controller_cpu,
                controller_memory=jk.controller_memory,
                max_agents=jk.max_agents,
                agent_idle_minutes=jk.agent_idle_minutes,
                agent_image=jk.agent_image,
                build_image=jk.build_image,
                cpu_job=job_profile(jk.cpu_job),
                gpu_job=job_profile(jk.gpu_job),
                irsa=cluster.irsa,
                push_repository_arns=push_arns if jk.push_to_registry else [],
                protect=cfg.protect_stateful_resources,
                system_node_selector=system_nodes,
                tags=tags,
                depends_on=needs_nodes,
            ),
            on_k8s,
        )
    if cc.enabled:
        assert cfg.circleci_cpu_resource_class_token is not None  # config validation requires it when enabled
        CircleciAgent(
            "circleci",
            CircleciAgentArgs(
                cpu_resource_class=cc.cpu_resource_class,
                cpu_token=pulumi.Output.secret(cfg.circleci_cpu_resource_class_token.get_secret_value()),
                gpu_resource_class=cc.gpu_resource_class,
                gpu_token=pulumi.Output.secret(cfg.circleci_gpu_resource_class_token.get_secret_value())
                if cfg.circleci_gpu_resource_class_token and cc.gpu_resource_class
                else None,
                k8s_provider=cluster.k8s_provider,
                namespace=cc.namespace,
                max_concurrent_tasks=cc.max_concurrent_tasks,
                cpu_job=job_profile(cc.cpu_job),
                gpu_job=job_profile(cc.gpu_job),
                irsa=cluster.irsa,
                push_repository_arns=push_arns if cc.push_to_registry else [],
                system_node_selector=system_nodes,
                tags=tags,
                depends_on=needs_nodes,
            ),
            on_k8s,
        )

# --------------------------------------------------------------------------- ML lifecycle: MLflow and DVC
mf = cfg.mlflow
# MLflow's database is reached through AWS APIs, but its server is in-cluster: both come with the
# Kubernetes layer (the second `up`, from the in-VPC runner, ADR 0008).
if k8s_layer and mf.enabled:
    assert cfg.mlflow_admin_password is not None  # config validation requires it when enabled
    mlflow = Mlflow(
        "mlflow",
        MlflowArgs(
            k8s_provider=cluster.k8s_provider,
            irsa=cluster.irsa,
            identifier=f"{cluster_name}-mlflow",  # DeployIdentityArgs.database_identifiers names it too
            vpc_id=network.vpc_id,
            vpc_cidr=cfg.network.cidr,
            private_subnet_ids=network.private_subnet_ids,
            cluster_security_group_id=cluster.cluster_security_group_id,
            artifacts_bucket=artifacts.bucket,
            artifacts_key=artifacts.key,
            account_id=cfg.account_id,
            region=cfg.region,
            admin_password=pulumi.Output.secret(cfg.mlflow_admin_password.get_secret_value()),
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
            clients_depend_on=[ci_runners] if ci_runners else [],
            depends_on=needs_nodes,
            protect=cfg.protect_stateful_resources,
            system_node_selector=system_nodes,
            tags=tags,
        ),
        on_k8s,
    )
    pulumi.export("mlflowUrl", mlflow.url)
    pulumi.export("mlflowArtifactUri", mlflow.artifact_uri)

if cfg.dvc.enabled:
    gh = cfg.delivery
    dvc = DvcRemote(
        "dvc",
        DvcRemoteArgs(
            permissions_boundary=boundary,
            iam_path=IAM_PATH,
            artifacts_bucket=artifacts.bucket,
            artifacts_key=artifacts.key,
            region=cfg.region,
            role_name=f"{PROJECT}-dvc-{cfg.stack}",
            github_provider_arn=deploy_identity.oidc_provider_arn if deploy_identity else None,
            github_subjects=(
                [
                    # main, and PR runs a reviewer approved in the stack's preview environment: never
                    # bare `pull_request`, whose code nobody has reviewed (ADR 0007).
                    branch_subject(gh.github_repository, gh.default_branch),
                    environment_subject(gh.github_repository, preview_environment_name(cfg.stack)),
                ]
                if deploy_identity
                else []
            ),
            principal_arns=cfg.dvc.principal_arns,
            tags=tags,
        ),
        on_aws,
    )
    pulumi.export("dvcRemote", dvc.remote_url)
    pulumi.export("dvcRoleArn", dvc.role.arn)
