"""ClusterAutoscaler: the Kubernetes cluster-autoscaler, scaling the managed node groups (GPU pools from zero).

Provisions:
- an IRSA role for ``kube-system/cluster-autoscaler``: read-only Describe calls on ``*`` (they
  support no resource scoping), ``eks:DescribeNodegroup`` on this cluster's node groups, and
  ``SetDesiredCapacity``/``TerminateInstanceInAutoScalingGroup`` only on ASGs tagged
  ``k8s.io/cluster-autoscaler/<cluster>=owned`` (the tag EKS puts on its managed node groups'
  ASGs), as the autoscaler's AWS README recommends;
- the ``cluster-autoscaler`` Helm chart (pinned), with ASG auto-discovery by those tags, the
  image matching the cluster's Kubernetes minor, ``balance-similar-node-groups``,
  ``skip-nodes-with-system-pods=false``, the ``priority`` expander (preferred pools first, e.g.
  spot) falling back to ``least-waste``, requests/limits, and a nodeSelector for the system pool.

Outputs: ``release``, ``role``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._common import irsa_role, policy_json
from components._helm import Chart, helm_release
from components.cluster_context import ClusterContext

# https://kubernetes.github.io/autoscaler, chart cluster-autoscaler 9.59.0 (appVersion 1.35.0),
# kubernetes/autoscaler@55c37cd5 cluster-autoscaler/charts/cluster-autoscaler/Chart.yaml.
CHART = Chart(chart="cluster-autoscaler", version="9.59.0", repo="https://kubernetes.github.io/autoscaler")

# The autoscaler's minor must match the control plane's ("versioning scheme was changed to match
# Kubernetes minor releases exactly", cluster-autoscaler README "Releases"); newest patch per
# minor in kubernetes/autoscaler as of 2026-08-22. The chart default (v1.35.0) is overridden.
IMAGE_TAGS: Mapping[str, str] = {"1.34": "v1.34.5", "1.35": "v1.35.2", "1.36": "v1.36.1"}

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    """Inputs of :class:`ClusterAutoscaler`. The cluster comes as its :class:`ClusterContext`: ``cluster_name``
    for auto-discovery tags and the IAM condition, ``kubernetes_version`` selects the image, ``region`` is set
    explicitly (IMDS is unreachable from pods, hop limit 1), ``account_id`` scopes ``eks:DescribeNodegroup``;
    it runs on ``system_node_selector`` (never a pool it may scale to zero) and waits for ``needs_nodes``."""

    preferred_pools: Sequence[str] = ()
    """Node pools the priority expander tries first (e.g. the spot pools); the rest follow by least waste."""
    chart: Chart = CHART
    """The pinned chart."""


def autoscaler_policy(cluster_name: str, region: str, account_id: str) -> str:
    """The IRSA policy: describe anything, change only this cluster's node groups."""
    return policy_json(
        [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DescribeOwnNodegroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": f"arn:aws:eks:{region}:{account_id}:nodegroup/{cluster_name}/*/*",
            },
            {
                "Sid": "ScaleOwnNodegroups",
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
            },
        ]
    )


def expander_priorities(preferred_pools: Sequence[str]) -> dict[str, list[str]]:
    """Priority-expander config: ASG-name regexes by priority (higher wins).

    Managed node group ASGs are named ``eks-<nodegroup name>-<uuid>``; node pools name their groups
    with the prefix ``<pool>-`` plus the provider's 26-character unique suffix (18 timestamp digits
    and 8 hex digits: terraform-plugin-sdk ``helper/id.PrefixedUniqueId``), matched exactly so
    ``gpu`` does not also match ``gpu-big``. The catch-all keeps every other pool eligible.
    """
    out: dict[str, list[str]] = {"10": [".*"]}
    if preferred_pools:
        out["50"] = [f"^eks-{p}-[0-9]{{18}}[0-9a-f]{{8}}-" for p in preferred_pools]
    return out


def autoscaler_values(
    args: ClusterAutoscalerArgs, context: ClusterContext, image_tag: str, role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """The chart's values: auto-discovery of this cluster's groups, priority then least-waste expansion."""
    return {
        "cloudProvider": "aws",
        "awsRegion": context.region,
        "fullnameOverride": "cluster-autoscaler",
        # Finds the ASGs tagged k8s.io/cluster-autoscaler/enabled and .../<cluster> (the chart's default tags).
        "autoDiscovery": {"clusterName": context.cluster_name},
        "image": {"tag": image_tag},
        "rbac": {
            "serviceAccount": {
                "name": SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": role_arn},
            }
        },
        "extraArgs": {
            "logtostderr": True,
            "stderrthreshold": "info",
            "v": 2,
            "expander": "priority,least-waste",
            "balance-similar-node-groups": True,
            # kube-system pods (coredns, the CSI controller) must not pin nodes forever.
            "skip-nodes-with-system-pods": False,
            # Pods with emptyDir scratch (model caches, /dev/shm) must not block scale-down.
            "skip-nodes-with-local-storage": False,
            # GPU nodes come up slowly (image pulls of several GiB, driver init).
            "max-node-provision-time": "20m0s",
        },
        "expanderPriorities": expander_priorities(args.preferred_pools),
        "nodeSelector": dict(context.system_node_selector),
        "resources": {
            "requests": {"cpu": "100m", "memory": "600Mi"},
            "limits": {"memory": "600Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


class ClusterAutoscaler(pulumi.ComponentResource):
    """cluster-autoscaler on the system pool with a least-privilege IRSA role."""

    release: k8s.helm.v3.Release
    role: aws.iam.Role

    def __init__(
        self,
        name: str,
        args: ClusterAutoscalerArgs,
        context: ClusterContext,
        opts: pulumi.ResourceOptions | None = None,
    ):
        tag = IMAGE_TAGS.get(context.kubernetes_version)
        if tag is None:
            raise ValueError(
                f"no cluster-autoscaler image known for Kubernetes {context.kubernetes_version}; add it to IMAGE_TAGS"
            )
        super().__init__("platform:index:ClusterAutoscaler", name, None, opts)
        self.role = irsa_role(
            f"{name}-role",
            context.irsa,
            NAMESPACE,
            SERVICE_ACCOUNT,
            parent=self,
            policy=autoscaler_policy(context.cluster_name, context.region, context.account_id),
            tags=context.tags,
        )
        values = autoscaler_values(args, context, tag, self.role.arn)
        self.release = helm_release(
            f"{name}-release",
            "cluster-autoscaler",
            args.chart,
            NAMESPACE,
            values,
            parent=self,
            depends_on=context.needs_nodes,
        )
        self.register_outputs({"role_arn": self.role.arn, "release": self.release.name})
