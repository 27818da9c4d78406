"""ClusterAddons: the EKS managed add-ons whose pods need nodes, created after the node pools.

An add-on whose pods cannot schedule stays DEGRADED and its creation times out, so these wait for
every node pool; the add-ons a node needs to turn Ready (vpc-cni, kube-proxy,
eks-pod-identity-agent) belong to :class:`~components.cluster.Cluster` and come before the pools.

Provisions:
- coredns;
- aws-ebs-csi-driver with its IRSA role (``AmazonEBSCSIDriverPolicy``) for
  ``kube-system/ebs-csi-controller-sa``, its node plugin tolerating the GPU taint.

Versions come from the cluster's pinned ``addon_versions`` (EKS default otherwise).

Outputs: ``coredns``, ``ebs_csi_driver``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components._common import irsa_role
from components.cluster import Cluster, managed_addon

EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


@dataclass(frozen=True)
class ClusterAddonsArgs:
    """Inputs of :class:`ClusterAddons`."""

    cluster: Cluster
    """The cluster; add-on versions and tags come from it."""
    node_pools: Sequence[pulumi.Resource]
    """The node pools; these add-ons wait for them because their pods need nodes."""


class ClusterAddons(pulumi.ComponentResource):
    """coredns and aws-ebs-csi-driver (with its IRSA role), after the node pools."""

    coredns: aws.eks.Addon
    ebs_csi_driver: aws.eks.Addon

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:ClusterAddons", name, None, opts)
        c = args.cluster
        # An add-on whose pods cannot schedule stays DEGRADED and its create times out, so these
        # wait for every node pool explicitly (a parent's depends_on does not reach its children).
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.node_pools))
        self.coredns = managed_addon(f"{name}-coredns", c.eks, "coredns", c.addon_versions, after, c.tags)
        ebs_role = irsa_role(
            f"{name}-ebs-csi-role", c.irsa, "kube-system", "ebs-csi-controller-sa", parent=self,
            managed_policy_arns=[EBS_CSI_POLICY], tags=c.tags,
        )  # fmt: skip
        self.ebs_csi_driver = managed_addon(
            f"{name}-ebs-csi-driver", c.eks, "aws-ebs-csi-driver", c.addon_versions, after, c.tags,
            service_account_role_arn=ebs_role.arn,
            # The node plugin must run on the tainted GPU nodes too, or GPU pods cannot mount
            # volumes. It is the chart default (aws-ebs-csi-driver values.yaml); stated so an
            # add-on default change cannot silently drop it.
            configuration_values=json.dumps({"node": {"tolerateAllTaints": True}}),
        )  # fmt: skip
        self.register_outputs({"coredns": self.coredns.arn, "ebs_csi_driver": self.ebs_csi_driver.arn})
