"""The duration tables behind ``estimates.deployTime`` and ``estimates.coldStart``, with their sources.

Every number is a *typical* value from a public measurement or vendor statement (the ``source``),
or a stated assumption where none exists. docs/cost-and-time.md explains how to replace them with
your own measurements (a `pulumi up --json` event log gives per-resource durations).
"""

from __future__ import annotations

from components.cold_start import Duration

# --------------------------------------------------------------------------- deploy time (cold `pulumi up`)
# Create duration per resource type; Helm releases by chart below. Types not listed take DEFAULT.
BY_TYPE: dict[str, Duration] = {
    "aws:eks/cluster:Cluster": Duration(
        600,
        "AWS: '9 minutes or less, on average' (What's New, Mar 2021, quoted in aws-samples/eks-workshop PR #1101); "
        "users report ~14 min (aws/containers-roadmap#1227)",
    ),
    "aws:eks/nodeGroup:NodeGroup": Duration(
        240,
        "assumption: MNG create with instances joining, 3-5 min in the project's runs; creation failures surface "
        "after 21-23 min (terraform-aws-modules/terraform-aws-eks#1910, #2041)",
    ),
    "aws:eks/addon:Addon": Duration(60, "assumption: managed add-on reaches ACTIVE in about a minute once nodes exist"),
    "aws:ec2/natGateway:NatGateway": Duration(
        120, "assumption: NAT gateway leaves 'pending' within 1-3 min (Terraform's create timeout is 10 min)"
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": Duration(90, "assumption: interface endpoint 'pending' to 'available' 1-2 min"),
    "aws:ec2/vpc:Vpc": Duration(5, "assumption: API call plus describe"),
    "aws:ec2/subnet:Subnet": Duration(5, "assumption: a single create call"),
    "aws:ec2/eip:Eip": Duration(3, "assumption: a single create call"),
    "aws:iam/role:Role": Duration(3, "assumption: IAM create plus the provider's propagation wait"),
    "aws:kms/key:Key": Duration(5, "assumption: a single create call"),
    "aws:s3/bucket:Bucket": Duration(5, "assumption: a single create call"),
    "aws:cloudwatch/logGroup:LogGroup": Duration(2, "assumption: a single create call"),
    "aws:ec2/launchTemplate:LaunchTemplate": Duration(2, "assumption: a single create call"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": Duration(3, "assumption: a single create call"),
    "kubernetes:core/v1:Namespace": Duration(2, "assumption: the provider waits for the namespace to be Active"),
    "kubernetes:networking.k8s.io/v1:Ingress": Duration(
        120, "assumption: pulumi-kubernetes waits for the Ingress status address, i.e. the ALB to be provisioned"
    ),
}
DEFAULT = Duration(2, "assumption: one API call")

BY_CHART: dict[str, Duration] = {
    "kube-prometheus-stack": Duration(
        420,
        "install often exceeds Helm's 10-min default with CRDs included (spack/spack-infrastructure PR #1191); CRDs are a separate release here",
    ),
    "prometheus-operator-crds": Duration(30, "assumption: CRDs only, no pods"),
    "aws-load-balancer-controller": Duration(90, "assumption: two replicas plus webhook certificates"),
    "cluster-autoscaler": Duration(60, "assumption: one Deployment"),
    "keda": Duration(90, "assumption: operator, metrics server and webhooks"),
    "nvidia-device-plugin": Duration(30, "assumption: a DaemonSet (no pods until a GPU node exists)"),
    "dcgm-exporter": Duration(30, "assumption: a DaemonSet on GPU nodes only"),
    "gha-runner-scale-set-controller": Duration(60, "assumption: one Deployment"),
    "gha-runner-scale-set": Duration(45, "assumption: the listener pod"),
}
HELM_DEFAULT = Duration(90, "assumption: a chart with a few Deployments")

# --------------------------------------------------------------------------- GPU cold start
# The cold-start tables live with the estimate the serving component also uses (components/cold_start.py).
from components.cold_start import (  # noqa: E402
    DEVICE_PLUGIN,
    GPU_LOAD_S_PER_GIB,
    HPA_SYNC,
    IMAGE_PULL_FLOOR,
    IMAGE_PULL_S_PER_GIB,
    NODE_READY,
    PREEMPTION,
    PROVISIONER_REACTION,
    S3_COPY_MIBPS,
    SERVER_INIT,
    STREAM_S_PER_GIB,
)

__all__ = [
    "BY_CHART",
    "BY_TYPE",
    "DEFAULT",
    "DEPLOYMENT_AWAIT_SECONDS",
    "DEVICE_PLUGIN",
    "GPU_LOAD_S_PER_GIB",
    "HELM_DEFAULT",
    "HPA_SYNC",
    "IMAGE_PULL_FLOOR",
    "IMAGE_PULL_S_PER_GIB",
    "NODE_READY",
    "PREEMPTION",
    "PROVISIONER_REACTION",
    "S3_COPY_MIBPS",
    "SERVER_INIT",
    "STREAM_S_PER_GIB",
    "Duration",
]

# pulumi-kubernetes waits this long for a Deployment to become available unless the
# `pulumi.com/timeoutSeconds` annotation (or customTimeouts) says otherwise
# (pulumi/pulumi-kubernetes provider/pkg/await/deployment.go, DefaultDeploymentTimeoutMins = 10).
DEPLOYMENT_AWAIT_SECONDS = 600
