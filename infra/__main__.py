"""The ai-platform program: load the validated stack config, compose the components, export.

Pulumi's language host runs this file with ``runpy.run_path("infra")``; the offline preview
(``blueprint preview``) runs it the same way under the SDK's mock engine.
"""

import pulumi
import pulumi_aws as aws

from components.network import Network, NetworkArgs
from infra.config import PROJECT, load_config

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

# ------------------------------------------------------------------------- Kubernetes layer
# Monitoring (prometheus-operator CRDs, kube-prometheus-stack, dashboards, rules) and the GPU stack
# (device plugin or GPU operator, DCGM exporter), on the cluster's explicit provider.
# WIRING (lead): this needs `cluster = Cluster(...)` from components/cluster.py (helper aws-cluster),
# which exposes `k8s_provider` and `storage_class_name`. Until that lands, the block is skipped.
_cluster = globals().get("cluster")
if _cluster is not None:
    from infra.observability import observability

    monitoring, gpu_stack = observability(
        cfg,
        _cluster.k8s_provider,
        storage_class_name=_cluster.storage_class_name,
        cluster_name=cluster_name,
    )
    pulumi.export("prometheusUrl", monitoring.prometheus_url)
