"""NodePool: one EKS managed node group, CPU or NVIDIA GPU, that the cluster-autoscaler can scale from zero.

Provisions:
- a launch template: IMDSv2 required with a hop limit of 1, an encrypted gp3 volume sized for
  large model images (the root volume on AL2023, the data volume on Bottlerocket), one network
  interface with no public IP and the cluster security group, instance/volume/ENI tags;
- the managed node group on the given private subnets, with labels (``platform.ai/pool``; GPU
  pools also ``platform.ai/accelerator``, ``platform.ai/gpu-model``, ``platform.ai/ami-family``
  and ``k8s.amazonaws.com/accelerator``), the ``nvidia.com/gpu=true:NoSchedule`` taint on every
  GPU pool, an update config, node auto-repair, and ``desiredSize`` ignored after creation (the
  cluster-autoscaler owns it);
- ``aws.autoscaling.Tag`` resources on the node group's Auto Scaling group describing the node
  template (labels, taint, GPU count, ephemeral storage), so the autoscaler can scale an empty
  pool: managed node group labels and taints do not reach the ASG (kubernetes/autoscaler#903,
  #2642; cluster-autoscaler ``cloudprovider/aws/README.md``, "Auto-Discovery Setup").

Outputs: ``node_group``, ``launch_template``, ``asg_name``, ``labels``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.cluster import Cluster
from components.vocabulary import (
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LABEL_ACCELERATOR,
    LABEL_AMI_FAMILY,
    LABEL_GPU_MODEL,
    LABEL_POOL,
)

CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
# The cluster-autoscaler's AWS GPU label: a node carrying it is treated as a GPU node that is not
# ready until the device plugin advertises its GPUs, so the autoscaler does not scale out again
# meanwhile (cluster-autoscaler AWS README, "Special note on GPU instances").
CA_GPU_LABEL = "k8s.amazonaws.com/accelerator"
# EKS sets this label itself; it is in the node template so workloads may select on it from zero.
CAPACITY_TYPE_LABEL = "eks.amazonaws.com/capacityType"


@dataclass(frozen=True)
class NodePoolArgs:
    """Inputs of :class:`NodePool`. The component's name is the pool name (``platform.ai/pool``)."""

    cluster: Cluster
    """The cluster (its name, node role, security group and pre-node add-ons)."""
    subnets: Sequence[aws.ec2.Subnet]
    """Private subnets of the pool's availability zones."""
    instance_types: Sequence[str]
    """EC2 instance types; the autoscaler sizes its template from the first one."""
    ami_type: str = "AL2023_x86_64_STANDARD"
    """EKS AMI type (``AL2023_x86_64_NVIDIA`` / ``BOTTLEROCKET_x86_64_NVIDIA`` for GPU pools)."""
    capacity_type: str = "ON_DEMAND"
    """``ON_DEMAND`` or ``SPOT``."""
    min_size: int = 1
    """Minimum nodes; 0 lets the autoscaler empty the pool."""
    desired_size: int = 1
    """Nodes at creation only; afterwards the autoscaler owns it."""
    max_size: int = 3
    """Maximum nodes."""
    disk_size_gib: int = 50
    """Size of the volume that holds container images (root on AL2023, data on Bottlerocket)."""
    max_unavailable: int = 1
    """Nodes replaced at once during a rolling update."""
    auto_repair: bool = True
    """EKS node auto-repair (replaces nodes that turn unhealthy)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra node labels; the platform labels are added on top."""
    gpu_model: str | None = None
    """GPU model label value (``a10g``) for a GPU pool; None for a CPU pool."""
    gpus_per_node: int = 0
    """Physical GPUs per node (0 for CPU pools)."""
    advertised_gpus: int | None = None
    """``nvidia.com/gpu`` a node advertises (GPUs x time-slicing replicas); defaults to ``gpus_per_node``."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for the AWS resources, propagated to instances, volumes and ENIs."""


def ami_family(ami_type: str) -> str:
    """``bottlerocket`` or ``al2023``, the value of ``platform.ai/ami-family``."""
    return "bottlerocket" if ami_type.startswith("BOTTLEROCKET") else "al2023"


def node_labels(pool: str, args: NodePoolArgs) -> dict[str, str]:
    """The labels every node of the pool carries."""
    labels = {**args.labels, LABEL_POOL: pool, LABEL_AMI_FAMILY: ami_family(args.ami_type)}
    if args.gpus_per_node:
        labels |= {
            LABEL_ACCELERATOR: "nvidia",
            LABEL_GPU_MODEL: args.gpu_model or "unknown",
            CA_GPU_LABEL: f"nvidia-{args.gpu_model or 'unknown'}",
        }
    return labels


def block_devices(ami_type: str, disk_size_gib: int) -> list[aws.ec2.LaunchTemplateBlockDeviceMappingArgs]:
    """Encrypted gp3 volumes. Which device holds the images depends on the AMI family.

    AL2023 keeps everything on the root volume ``/dev/xvda``. Bottlerocket boots from a small OS
    volume ``/dev/xvda`` and keeps images and ephemeral storage on the data volume ``/dev/xvdb``
    (https://github.com/bottlerocket-os/bottlerocket#default-volumes), so that one is sized, and
    the OS volume keeps the AMI's size but is still encrypted.
    """

    def ebs(size: int | None) -> aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs:
        return aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_type="gp3", volume_size=size, encrypted="true", delete_on_termination="true"
        )

    if ami_family(ami_type) == "bottlerocket":
        return [
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name="/dev/xvda", ebs=ebs(None)),
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name="/dev/xvdb", ebs=ebs(disk_size_gib)),
        ]
    return [aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name="/dev/xvda", ebs=ebs(disk_size_gib))]


def autoscaler_template_tags(pool: str, args: NodePoolArgs) -> dict[str, str]:
    """The ASG tags the cluster-autoscaler reads to build a node template for an empty pool.

    Format from the cluster-autoscaler AWS README: ``…/label/<name>: <value>``,
    ``…/taint/<key>: <value>:<Effect>``, ``…/resources/<name>: <quantity>``.
    """
    labels = {**node_labels(pool, args), CAPACITY_TYPE_LABEL: args.capacity_type}
    tags = {f"{CA_TEMPLATE}/label/{k}": v for k, v in labels.items()}
    # What pods can actually request, not the raw volume: the kubelet evicts below 10% free nodefs
    # and the OS and images take a few GiB more. Overstating it would let the autoscaler add a node
    # that cannot take the pending pod.
    tags[f"{CA_TEMPLATE}/resources/ephemeral-storage"] = f"{args.disk_size_gib * 85 // 100}Gi"
    if args.gpus_per_node:
        tags[f"{CA_TEMPLATE}/taint/{GPU_TAINT_KEY}"] = f"{GPU_TAINT_VALUE}:NoSchedule"
        tags[f"{CA_TEMPLATE}/resources/{GPU_RESOURCE}"] = str(args.advertised_gpus or args.gpus_per_node)
    return tags


def _asg_name(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str:
    groups = [g for r in resources or [] for g in r.autoscaling_groups or []]
    return (groups[0].name or "") if groups else ""


def _slug(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", key.removeprefix(CA_TEMPLATE + "/").lower()).strip("-")


class NodePool(pulumi.ComponentResource):
    """A managed node group behind a hardened launch template, tagged for scale-from-zero."""

    node_group: aws.eks.NodeGroup
    launch_template: aws.ec2.LaunchTemplate
    asg_name: pulumi.Output[str]
    labels: dict[str, str]

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        if not args.min_size <= args.desired_size <= args.max_size:
            raise ValueError(f"node pool {name}: need min_size <= desired_size <= max_size")
        super().__init__("platform:index:NodePool", name, None, opts)
        tags = {**args.tags, "platform.ai/pool": name}
        self.labels = node_labels(name, args)

        self.launch_template = self._launch_template(name, args, tags)
        self.node_group = self._node_group(name, args, tags)
        self._autoscaler_tags(name, args)

        self.register_outputs({"node_group": self.node_group.arn, "asg_name": self.asg_name, "labels": self.labels})

    def _launch_template(self, name: str, args: NodePoolArgs, tags: dict[str, str]) -> aws.ec2.LaunchTemplate:
        cluster = args.cluster
        return aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"EKS managed node group {name}",
            update_default_version=True,
            # IMDSv2 only, and a hop limit of 1 so pods (one network hop further) cannot reach the
            # node role's credentials; pods get AWS access through IRSA instead (EKS Best Practices,
            # Security > IAM, "Restrict access to the instance profile assigned to the worker node").
            # hostNetwork pods (aws-node, kube-proxy) are not behind the extra hop and keep IMDS;
            # other controllers get their region/VPC explicitly (the autoscaler's awsRegion).
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=block_devices(args.ami_type, args.disk_size_gib),
            # No public IP, explicitly, whatever the subnet says. A launch template may carry
            # security groups on the instance or on an interface, not both, and once it names any
            # EKS stops adding the cluster security group itself, so the interface names it
            # (EKS user guide, launch-templates: "Using custom security groups"). The subnet is
            # left to the node group: a subnet in the template is prohibited ("Launch template
            # configuration basics").
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                    security_groups=[cluster.cluster_security_group_id],
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=rt, tags={**tags, "Name": f"{name}-node"})
                for rt in ("instance", "volume", "network-interface")
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _node_group(self, name: str, args: NodePoolArgs, tags: dict[str, str]) -> aws.eks.NodeGroup:
        cluster = args.cluster
        gpu = args.gpus_per_node > 0
        return aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=cluster.eks.name,
            # A prefix, not a name: changes that replace the group (instance or AMI type, subnets)
            # create the new group before the old one drains, without a name clash.
            node_group_name_prefix=f"{name}-",
            node_role_arn=cluster.node_role.arn,
            subnet_ids=[s.id for s in args.subnets],
            instance_types=list(args.instance_types),
            ami_type=args.ami_type,
            # Follows the control plane: raising the cluster version rolls the pools after it.
            version=cluster.eks.version,
            capacity_type=args.capacity_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=args.min_size, desired_size=args.desired_size, max_size=args.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=args.max_unavailable),
            node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=args.auto_repair),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=self.launch_template.id, version=self.launch_template.latest_version.apply(str)
            ),
            labels=self.labels,
            # Every GPU pool, always: only pods that tolerate the taint (GPU work) land there.
            taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE")]
            if gpu
            else [],
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The CNI must be installed before nodes join, or they never turn Ready.
                depends_on=list(cluster.node_prerequisites),
                # Set at creation, then owned by the cluster-autoscaler (a property path in the
                # provider's schema names: https://www.pulumi.com/docs/iac/concepts/options/ignorechanges/).
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

    def _autoscaler_tags(self, name: str, args: NodePoolArgs) -> None:
        # Only the name string is extracted in apply; the Tag resources are created outside it.
        self.asg_name = self.node_group.resources.apply(_asg_name)
        # EKS already tags the ASG with k8s.io/cluster-autoscaler/enabled and
        # k8s.io/cluster-autoscaler/<cluster>=owned ("Amazon EKS tags managed node group resources so
        # that they are configured to use the Kubernetes Cluster Autoscaler", managed-node-groups
        # docs); managing them here would delete EKS's own tags on removal, so only the node
        # template is added. propagate_at_launch is off: these describe the template, not instances.
        for key, value in autoscaler_template_tags(name, args).items():
            aws.autoscaling.Tag(
                f"{name}-asg-{_slug(key)}",
                autoscaling_group_name=self.asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=pulumi.ResourceOptions(parent=self),
            )
