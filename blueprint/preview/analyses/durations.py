"""The duration tables behind ``estimates.deployTime`` and ``estimates.coldStart``, with their sources.

Every number is a *typical* value from a public measurement or vendor statement (the ``source``),
or a stated assumption where none exists. docs/cost-and-time.md explains how to replace them with
your own measurements (a `pulumi up --json` event log gives per-resource durations).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Duration:
    """Seconds, and where the number comes from."""

    seconds: float
    source: str


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
PROVISIONER_REACTION: dict[str, Duration] = {
    "cluster-autoscaler": Duration(
        40,
        "scan-interval 10 s (cluster-autoscaler FAQ default) plus the ASG SetDesiredCapacity/RunInstances round trip (assumption ~30 s)",
    ),
    "karpenter": Duration(
        10, "Karpenter batches pending pods for 1-10 s before launching (batchIdleDuration/batchMaxDuration defaults)"
    ),
}

# Instance launch to kubelet Ready, by family (GPU families boot slower).
NODE_READY: dict[str, Duration] = {
    "cpu": Duration(
        75,
        "Karpenter ~30-40 s to Ready on Bottlerocket; ~70-80 s instance to registration on other AMIs (aws/karpenter-provider-aws#6165, #6128; awslabs/amazon-eks-ami#1099)",
    ),
    "g": Duration(
        150,
        "'GPU instance types often take much longer to boot' (awslabs/amazon-eks-ami#1099); assumption 2.5 min for g4dn/g5/g6/g6e",
    ),
    "p": Duration(300, "assumption: 8-GPU p4d/p5 hosts, driver and fabric initialisation"),
}

DEVICE_PLUGIN = Duration(
    90,
    "GPUs appear as allocatable ~90 s after the node is up, when the device plugin registers (NVIDIA/k8s-device-plugin#291)",
)

# Seconds per GiB of (compressed) image by pull path, plus a fixed floor.
IMAGE_PULL_S_PER_GIB: dict[str, Duration] = {
    "plain": Duration(
        38,
        "PyTorch NGC image 9.5 GB compressed pulled uncached in 334 s (terraform-aws-eks-blueprints patterns/ml-container-cache/README.md)",
    ),
    "lazy": Duration(
        19,
        "SOCI parallel pull: assumption of half the plain time (AWS Containers blog, 'Introducing Seekable OCI Parallel Pull Mode for Amazon EKS')",
    ),
    "cached": Duration(0, "image pre-pulled on an EBS snapshot: < 5 s regardless of size (same README)"),
}
IMAGE_PULL_FLOOR = Duration(5, "cached pull of the same image (patterns/ml-container-cache/README.md)")

S3_COPY_MIBPS = Duration(
    500,
    "assumption: aws s3 sync with its 10 concurrent requests inside one pod; the volume's throughput usually binds first",
)
STREAM_S_PER_GIB = Duration(2, "assumption: a streaming loader (e.g. Run:ai Model Streamer) from S3 at ~0.5 GiB/s")
GPU_LOAD_S_PER_GIB = Duration(1, "assumption: safetensors from the page cache into GPU memory at ~1 GiB/s")
SERVER_INIT = Duration(
    60, "assumption: vLLM engine start, KV-cache profiling and CUDA graph capture for a single-GPU model"
)
PREEMPTION = Duration(
    5,
    "assumption: the scheduler preempts a lower-priority placeholder with terminationGracePeriodSeconds 0 and binds the "
    "pod in its next cycle (Kubernetes docs, 'Pod Priority and Preemption')",
)
HPA_SYNC = Duration(
    15,
    "HorizontalPodAutoscaler sync period default 15 s (kube-controller-manager --horizontal-pod-autoscaler-sync-period)",
)

# pulumi-kubernetes waits this long for a Deployment to become available unless the
# `pulumi.com/timeoutSeconds` annotation (or customTimeouts) says otherwise
# (pulumi/pulumi-kubernetes provider/pkg/await/deployment.go, DefaultDeploymentTimeoutMins = 10).
DEPLOYMENT_AWAIT_SECONDS = 600
