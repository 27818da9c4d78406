"""The ai-platform program: load the validated stack config, compose the components, export.

Pulumi's language host runs this file with ``runpy.run_path("infra")``; the offline preview
(``blueprint preview``) runs it the same way under the SDK's mock engine.
"""

import pulumi
import pulumi_aws as aws

from components.deploy_identity import DeployIdentity, DeployIdentityArgs
from components.network import Network, NetworkArgs
from infra.config import PROJECT, deploy_role_name, load_config, preview_role_name

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

# ----------------------------------------------------------------------------- delivery
# GitHub OIDC identities: a read-only preview role and this environment's deploy role (its ARN is in
# cluster.adminRoleArns, checked by the config). Role names come from infra.config so the workflows'
# `python -m blueprint.delivery` helper derives the same ARNs.
if cfg.delivery.enabled:
    delivery = cfg.delivery
    deploy_identity = DeployIdentity(
        "delivery",
        DeployIdentityArgs(
            github_repository=delivery.github_repository,
            environment=cfg.environment.value,
            account_id=cfg.account_id,
            region=cfg.region,
            deploy_role_name=deploy_role_name(cfg.environment.value),
            preview_role_name=preview_role_name(cfg.environment.value),
            state_bucket=delivery.state_bucket,
            kms_aliases=[a for a in (delivery.secrets_kms_alias, delivery.state_kms_alias) if a],
            project_tag=("project", PROJECT),
            create_oidc_provider=delivery.create_oidc_provider,
            default_branch=delivery.default_branch,
            deploy_policy_arns=delivery.deploy_policy_arns,
            max_session_seconds=delivery.max_session_seconds,
            tags=tags,
        ),
        on_aws,
    )
    pulumi.export("previewRoleArn", deploy_identity.preview_role_arn)
    pulumi.export("deployRoleArn", deploy_identity.deploy_role_arn)
