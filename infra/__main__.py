"""The ai-platform program: load the validated stack config, compose the components, export.

Pulumi's language host runs this file with ``runpy.run_path("infra")``; the offline preview
(``blueprint preview``) runs it the same way under the SDK's mock engine.
"""

import pulumi
import pulumi_aws as aws

from components._common import Irsa
from components.artifacts import Artifacts, ArtifactsArgs
from components.network import Network, NetworkArgs
from components.registry import CiPushIdentity, PullThroughUpstream, Registry, RegistryArgs, RepositorySpec
from infra.config import PROJECT, PULL_THROUGH_UPSTREAMS, RUNNER_SERVICE_ACCOUNT, load_config

cfg = load_config()
tags = cfg.stack_tags
cluster_name = f"{PROJECT}-{pulumi.get_stack()}"

# One explicit AWS provider: it refuses any account but the stack's (allowedAccountIds) and tags
# everything it creates. Components inherit it from their parent options.
aws_provider = aws.Provider(
    "aws",
    region=cfg.region,
    allowed_account_ids=[cfg.account_id],
    default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
)
on_aws = pulumi.ResourceOptions(providers=[aws_provider])

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
    ),
    on_aws,
)

pulumi.export("vpcId", network.vpc_id)
pulumi.export("privateSubnetIds", network.private_subnet_ids)

# --------------------------------------------------------------------------- registry and artifacts
# The registry grants pull to the cluster's node role and creates the CI runners' IRSA push role,
# both from the Cluster component (cluster.node_role, cluster.irsa). Until the cluster is composed
# above, they are None: no pull statement and no CI push role (admins push through IAM).
node_role: aws.iam.Role | None = None
cluster_irsa: Irsa | None = None

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
        pull_principal_arns=[node_role.arn] if node_role else [],
        ci_push_identity=(
            CiPushIdentity(cluster_irsa, cfg.ci_runners.namespace, RUNNER_SERVICE_ACCOUNT)
            if cluster_irsa and cfg.ci_runners.enabled
            else None
        ),
        protect=cfg.protect_stateful_resources,
        tags=tags,
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
        protect=cfg.protect_stateful_resources,
        tags=tags,
    ),
    on_aws,
)

pulumi.export("registryUrls", registry.repository_urls)
pulumi.export("artifactBucket", artifacts.bucket_name)
