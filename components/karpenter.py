"""Karpenter: GPU capacity provisioned by Karpenter (v1 API) instead of managed node groups.

Provisions (AWS, in both deploy layers):
- the node role for Karpenter's nodes (worker, ECR pull-only and SSM core policies, like the managed
  node groups' role; the CNI policy stays with the vpc-cni add-on's IRSA role) and its EKS access
  entry of type ``EC2_LINUX`` (Linux and Bottlerocket nodes join with it). A role of its own: EKS
  already creates the access entry of the managed node groups' role;
- the interruption queue (SQS, SSE, 5-minute retention, TLS only) with its queue policy and the
  EventBridge rules that feed it: spot interruption warning, rebalance recommendation, instance
  state change, AWS Health scheduled change and capacity-reservation interruption;
- the controller's IRSA role (``kube-system/karpenter``) with the policy of Karpenter's
  getting-started CloudFormation template, scoped to this cluster, region, account, node role and queue.

Provisions (Kubernetes layer only, ``kubernetes_objects``):
- the ``karpenter-crd`` chart as its own release, then the ``karpenter`` chart (``skip_crds``) on the
  system pool: CRD upgrades are never left to Helm's ``crds/`` handling, which installs but never
  upgrades them (docs/operations.md, "Karpenter upgrades");
- one ``EC2NodeClass`` per AMI family and image-pull path in use: AMI alias, subnets and security
  group by the ``karpenter.sh/discovery`` tag, IMDSv2 required with a hop limit of 1, an encrypted
  gp3 volume for images (root on AL2023, data on Bottlerocket), SOCI parallel pull (AL2023) or a
  pre-pulled image snapshot (Bottlerocket), the stack's tags;
- one ``NodePool`` per GPU pool: the ``nvidia.com/gpu`` NoSchedule taint, the platform labels,
  instance families/sizes, capacity types and zones, ``limits`` on cpu, memory and ``nvidia.com/gpu``
  for ``max_size`` nodes of the largest allowed instance, disruption budget, ``consolidateAfter`` and
  ``expireAfter``.

Outputs: ``node_role``, ``queue``, ``controller_role``, ``release`` (None without the Kubernetes layer),
``node_classes`` and ``node_pools`` (names -> resources).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _contracts
from components._common import irsa_role
from components._helm import Chart, helm_release
from components._karpenter_aws import INTERRUPTION_EVENTS, controller_statements, queue_policy
from components.cluster import NODE_ROLE_POLICIES
from components.cluster_context import ClusterContext
from components.network import DISCOVERY_TAG
from components.vocabulary import (
    GPU_FAMILIES,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LABEL_ACCELERATOR,
    LABEL_AMI_FAMILY,
    LABEL_GPU_MODEL,
    LABEL_POOL,
)

# Chart 1.13.0 (appVersion 1.13.0) from aws/karpenter-provider-aws@fe623d53 ("chore: Release v1.13.0"):
# charts/karpenter/values.yaml keys used below (serviceAccount.annotations, replicas, nodeSelector,
# controller.env/resources, settings.clusterName/interruptionQueue, logLevel) exist at that commit.
VERSION = "1.13.0"
CHART = Chart(chart="oci://public.ecr.aws/karpenter/karpenter", version=VERSION)
CRD_CHART = Chart(chart="oci://public.ecr.aws/karpenter/karpenter-crd", version=VERSION)
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
API_VERSION_NODECLASS = "karpenter.k8s.aws/v1"
API_VERSION_NODEPOOL = "karpenter.sh/v1"
POD_LABELS = {"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": "karpenter"}

# AMI aliases (EC2NodeClass amiSelectorTerms): `al2023@<version>` resolves the standard, NVIDIA and
# Neuron variants and Karpenter launches the NVIDIA one for NVIDIA instance types
# (pkg/providers/amifamily/al2023.go at v1.13.0: variants per arch incl. VariantNvidia); Bottlerocket's
# alias does the same with its NVIDIA variant. `@latest` follows the newest EKS-optimised AMI (nodes
# drift to it); pin `al2023@v<date>` in a fork that wants AMI changes reviewed.
AMI_ALIASES: Mapping[str, str] = {"al2023": "al2023@latest", "bottlerocket": "bottlerocket@latest"}

# vCPUs per instance size and memory per vCPU (GiB) per family, from the EC2 accelerated-computing
# and general-purpose instance pages; they size the NodePool limits so max_size nodes of the largest
# allowed type fit, and the preview's schedulability analysis reads every pool's nodes from them.
VCPUS_BY_SIZE: Mapping[str, int] = {
    "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48,
    "16xlarge": 64, "24xlarge": 96, "48xlarge": 192, "metal": 96,
}  # fmt: skip
GIB_PER_VCPU: Mapping[str, int] = {
    "g4dn": 4, "g5": 4, "g6": 4, "g6e": 8, "p4d": 12, "p4de": 12, "p5": 11, "p5e": 11,
    "m5": 4, "m6i": 4, "m6a": 4, "m7i": 4, "m7a": 4, "c6i": 2, "c7i": 2, "r6i": 8, "r7i": 8,
}  # fmt: skip

# SOCI parallel pull on AL2023: nodeadm's FastImagePull feature gate (AWS Containers blog, "Introducing
# Seekable OCI Parallel Pull mode for Amazon EKS"); Karpenter merges this NodeConfig with its own.
SOCI_NODECONFIG = """apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  featureGates:
    FastImagePull: true
"""


@dataclass(frozen=True)
class GpuNodePool:
    """One GPU pool as Karpenter provisions it (from ``nodePools.<name>`` and its ``karpenter`` block)."""

    name: str
    ami_family: str
    """``al2023`` or ``bottlerocket``."""
    gpu_model: str
    gpus_per_node: int
    max_nodes: int
    disk_size_gib: int
    instance_families: Sequence[str]
    instance_sizes: Sequence[str]
    capacity_types: Sequence[str]
    availability_zones: Sequence[str]
    consolidation_policy: str = "WhenEmpty"
    consolidate_after: str = "10m"
    expire_after: str = "720h"
    budget_nodes: str = "1"
    image_pull: str = "soci"
    """``soci`` (AL2023), ``snapshot`` (Bottlerocket with ``image_cache_snapshot_id``) or ``standard``."""
    image_cache_snapshot_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def node_class(self) -> str:
        """The EC2NodeClass this pool uses: one per AMI family and image-pull path."""
        snap = f"-{self.image_cache_snapshot_id}" if self.image_pull == "snapshot" else ""
        return f"{self.ami_family}-{self.image_pull}{snap}"


@dataclass(frozen=True)
class KarpenterArgs:
    """Inputs of :class:`Karpenter`. The cluster comes as its :class:`ClusterContext`: ``cluster_name`` for
    discovery tags, IAM conditions and the queue's name, ``eks_name`` for the nodes' access entry,
    ``region`` set on the controller explicitly (pods cannot reach IMDS, hop limit 1), ``account_id`` in
    IAM ARNs, ``tags`` on AWS resources and on every instance, volume and ENI Karpenter launches; the
    controller runs on ``system_node_selector`` (never capacity Karpenter manages) and waits for
    ``needs_nodes``."""

    pools: Sequence[GpuNodePool]
    """GPU pools to provision."""
    kubernetes_objects: bool = True
    """Create the Helm releases and custom resources (false in the cloud-only first layer, ADR 0008)."""
    chart: Chart = CHART
    """The pinned controller chart (installed with ``skipCrds``)."""
    crd_chart: Chart = CRD_CHART
    """The pinned CRD chart, its own release before the controller; same version as ``chart``."""


def node_labels(pool: GpuNodePool) -> dict[str, str]:
    """The platform labels on every node of the pool (the same keys the managed node groups carry)."""
    return {
        **pool.labels,
        LABEL_POOL: pool.name,
        LABEL_AMI_FAMILY: pool.ami_family,
        LABEL_ACCELERATOR: "nvidia",
        LABEL_GPU_MODEL: pool.gpu_model,
    }


def pool_limits(pool: GpuNodePool) -> dict[str, str]:
    """cpu, memory and GPUs of ``max_nodes`` of the largest allowed instance: Karpenter stops there.

    Sized by the largest type, not the first: limits sized for one small node would stop the pool at
    one node whenever Karpenter picks a bigger type (aws/karpenter-provider-aws#8068)."""
    vcpus = max(VCPUS_BY_SIZE.get(s, 192) for s in pool.instance_sizes)
    gib = max(GIB_PER_VCPU.get(f, 16) for f in pool.instance_families) * vcpus
    gpus = max(
        (GPU_FAMILIES[f].gpus_by_size.get(s, 0) for f in pool.instance_families if f in GPU_FAMILIES
         for s in pool.instance_sizes),
        default=pool.gpus_per_node,
    )  # fmt: skip
    n = pool.max_nodes
    return {"cpu": str(n * vcpus), "memory": f"{n * gib}Gi", GPU_RESOURCE: str(n * max(gpus, pool.gpus_per_node))}


def node_class_spec(
    pool: GpuNodePool, cluster_name: str, role: pulumi.Input[str], tags: Mapping[str, str]
) -> dict[str, Any]:
    """EC2NodeClass spec for the pool's AMI family and image-pull path (``pool`` carries the class's largest disk)."""

    def ebs(size: str, snapshot: str | None = None) -> dict[str, Any]:
        vol = {"volumeSize": size, "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}
        return vol | ({"snapshotID": snapshot} if snapshot else {})

    disk = f"{pool.disk_size_gib}Gi"
    devices: list[dict[str, Any]]
    if pool.ami_family == "bottlerocket":
        # Bottlerocket: a small OS volume and the data volume holding images (bottlerocket README,
        # "Default volumes"); a pre-pulled image snapshot restores into the data volume.
        snap = pool.image_cache_snapshot_id if pool.image_pull == "snapshot" else None
        devices = [{"deviceName": "/dev/xvda", "ebs": ebs("4Gi")}, {"deviceName": "/dev/xvdb", "ebs": ebs(disk, snap)}]
    else:
        devices = [{"deviceName": "/dev/xvda", "rootVolume": True, "ebs": ebs(disk)}]
    selector = [{"tags": {DISCOVERY_TAG: cluster_name}}]
    spec: dict[str, Any] = {
        "role": role,
        "amiSelectorTerms": [{"alias": AMI_ALIASES[pool.ami_family]}],
        "subnetSelectorTerms": selector,
        "securityGroupSelectorTerms": selector,
        # IMDSv2 only, hop limit 1: pods cannot reach the node role's credentials (EKS Best Practices,
        # "Restrict access to the instance profile assigned to the worker node"), as on the node groups.
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "blockDeviceMappings": devices,
        "tags": {**tags, "platform.ai/node-class": pool.node_class},
    }
    if pool.image_pull == "soci":
        spec["userData"] = SOCI_NODECONFIG
    return spec


def node_pool_spec(pool: GpuNodePool) -> dict[str, Any]:
    """NodePool spec: tainted GPU nodes of the allowed shapes, bounded, disrupted one budget at a time."""

    def req(key: str, values: Sequence[str]) -> dict[str, Any]:
        return {"key": key, "operator": "In", "values": list(values)}

    return {
        "template": {
            "metadata": {"labels": node_labels(pool)},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.node_class},
                "taints": [{"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": "NoSchedule"}],
                "requirements": [
                    req("karpenter.k8s.aws/instance-family", pool.instance_families),
                    req("karpenter.k8s.aws/instance-size", pool.instance_sizes),
                    req("karpenter.k8s.aws/instance-gpu-manufacturer", ["nvidia"]),
                    req("karpenter.sh/capacity-type", pool.capacity_types),
                    req("kubernetes.io/arch", ["amd64"]),
                    req("topology.kubernetes.io/zone", pool.availability_zones),
                ],
                "expireAfter": pool.expire_after,
            },
        },
        # WhenEmpty by default: a node serving a model is removed only once its pods are gone (scaled
        # in by KEDA/HPA), never repacked mid-request; consolidateAfter absorbs short dips (ADR 0012).
        "disruption": {
            "consolidationPolicy": pool.consolidation_policy,
            "consolidateAfter": pool.consolidate_after,
            "budgets": [{"nodes": pool.budget_nodes}],
        },
        "limits": pool_limits(pool),
    }


def controller_flows() -> list[_contracts.Flow]:
    """The controller reaches the API server (in the VPC) and the EC2, SQS, IAM, SSM, pricing and STS APIs."""
    ctrl, flow = _contracts.pods(NAMESPACE, POD_LABELS), _contracts.Flow
    src = "charts/karpenter/templates/deployment.yaml at v1.13.0 (pod labels)"
    return [
        *_contracts.dns(NAMESPACE, POD_LABELS, what="karpenter"),
        flow("karpenter -> API server", ctrl, _contracts.vpc(), 443, source=src),
        flow("karpenter -> AWS APIs (EC2, SQS, IAM, SSM, pricing)", ctrl, _contracts.cidr(_contracts.INTERNET), 443,
             source=src),
    ]  # fmt: skip


def controller_values(
    context: ClusterContext, role_arn: pulumi.Input[str], queue_name: pulumi.Input[str]
) -> dict[str, Any]:
    """Chart values: IRSA, on the system pool, region explicit, sized requests/limits."""
    return {
        "serviceAccount": {"name": SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        "replicas": 2,
        "logLevel": "info",
        # The chart's affinity already keeps it off Karpenter nodes (karpenter.sh/nodepool DoesNotExist).
        "nodeSelector": {"kubernetes.io/os": "linux", **context.system_node_selector},
        "settings": {"clusterName": context.cluster_name, "interruptionQueue": queue_name},
        "controller": {
            "env": [{"name": "AWS_REGION", "value": context.region}],
            "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        },
    }


class Karpenter(pulumi.ComponentResource):
    """Karpenter controller, its AWS plumbing, EC2NodeClasses and one NodePool per GPU pool."""

    node_role: aws.iam.Role
    queue: aws.sqs.Queue
    controller_role: aws.iam.Role
    release: k8s.helm.v3.Release | None
    node_classes: dict[str, k8s.apiextensions.CustomResource]
    node_pools: dict[str, k8s.apiextensions.CustomResource]

    def __init__(
        self, name: str, args: KarpenterArgs, context: ClusterContext, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("platform:index:Karpenter", name, _contracts.declare(flows=controller_flows()), opts)
        self._ctx = context
        self.release, self.node_classes, self.node_pools = None, {}, {}
        self._node_role(name, args)
        self._interruption_queue(name, args)
        policy = pulumi.Output.all(self.node_role.arn, self.queue.arn).apply(
            lambda a: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": controller_statements(
                        context.cluster_name, context.region, context.account_id, a[0], a[1]
                    ),
                }
            )
        )
        self.controller_role = irsa_role(
            f"{name}-controller-role", context.irsa, NAMESPACE, SERVICE_ACCOUNT,
            parent=self, policy=policy, tags=context.tags,
        )  # fmt: skip
        if args.kubernetes_objects:
            self._kubernetes(name, args)
        self.register_outputs(
            {
                "node_role_arn": self.node_role.arn,
                "queue_arn": self.queue.arn,
                "controller_role_arn": self.controller_role.arn,
            }
        )

    def _node_role(self, name: str, args: KarpenterArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            permissions_boundary=self._ctx.irsa.permissions_boundary,
            path=self._ctx.irsa.path,
            tags=dict(self._ctx.tags),
            opts=child,
        )
        for arn in NODE_ROLE_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-role-{arn.rsplit('/', 1)[-1]}", role=self.node_role.name, policy_arn=arn, opts=child
            )
        # EC2_LINUX: EKS maps the role to system:node:{{EC2PrivateDNSName}} in system:nodes (EKS user guide,
        # "Create access entries"); it also covers Bottlerocket.
        aws.eks.AccessEntry(
            f"{name}-node-access",
            cluster_name=self._ctx.eks_name,
            principal_arn=self.node_role.arn,
            type="EC2_LINUX",
            tags=dict(self._ctx.tags),
            opts=child,
        )

    def _interruption_queue(self, name: str, args: KarpenterArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        # Named after the cluster, as settings.interruptionQueue expects a name; messages older than
        # 5 minutes describe interruptions that already happened.
        self.queue = aws.sqs.Queue(
            f"{name}-interruption",
            name=self._ctx.cluster_name,
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            tags=dict(self._ctx.tags),
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-interruption-policy",
            queue_url=self.queue.url,
            policy=self.queue.arn.apply(queue_policy),
            opts=child,
        )
        for rule_name, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{rule_name}",
                description=f"Karpenter interruption handling for {self._ctx.cluster_name}: {pattern['detail-type'][0]}",
                event_pattern=json.dumps(pattern),
                tags=dict(self._ctx.tags),
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{rule_name}-target", rule=rule.name, target_id="KarpenterInterruptionQueueTarget",
                arn=self.queue.arn, opts=child,
            )  # fmt: skip

    def _kubernetes(self, name: str, args: KarpenterArgs) -> None:
        crds = helm_release(f"{name}-crds", "karpenter-crd", args.crd_chart, NAMESPACE, {}, parent=self,
                            depends_on=self._ctx.needs_nodes)  # fmt: skip
        self.release = helm_release(
            f"{name}-release", "karpenter", args.chart, NAMESPACE,
            controller_values(self._ctx, self.controller_role.arn, self.queue.name),
            parent=self, depends_on=[crds, *self._ctx.needs_nodes], skip_crds=True,
        )  # fmt: skip
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[crds])
        # Pools sharing a class share its volume: the largest disk any of them asks for.
        disk: dict[str, int] = {}
        for pool in args.pools:
            disk[pool.node_class] = max(disk.get(pool.node_class, 0), pool.disk_size_gib)
        for pool in args.pools:
            if pool.node_class not in self.node_classes:
                sized = dataclasses.replace(pool, disk_size_gib=disk[pool.node_class])
                self.node_classes[pool.node_class] = k8s.apiextensions.CustomResource(
                    f"{name}-nodeclass-{pool.node_class}",
                    api_version=API_VERSION_NODECLASS,
                    kind="EC2NodeClass",
                    metadata={"name": pool.node_class},
                    spec=node_class_spec(sized, self._ctx.cluster_name, self.node_role.name, self._ctx.tags),
                    opts=after_crds,
                )
            self.node_pools[pool.name] = k8s.apiextensions.CustomResource(
                f"{name}-nodepool-{pool.name}",
                api_version=API_VERSION_NODEPOOL,
                kind="NodePool",
                metadata={"name": pool.name},
                spec=node_pool_spec(pool),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[crds, self.node_classes[pool.node_class]]),
            )
