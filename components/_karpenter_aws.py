"""Karpenter's AWS side (internal to :mod:`components.karpenter`): the controller's IAM policy, the
interruption queue's policy and the EventBridge events it subscribes to, from Karpenter's getting-started
CloudFormation template at v1.13."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def controller_statements(cluster: str, region: str, account: str, node_role: str, queue: str) -> list[dict[str, Any]]:
    """The controller policy of Karpenter's getting-started CloudFormation template at v1.13
    (website/content/en/v1.13/getting-started/getting-started-with-karpenter/cloudformation.yaml):
    launches, tags and deletes only resources tagged for this cluster, passes only the node role."""
    return [
        *_ec2_statements(cluster, region),
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": node_role,
         "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com"]}}},
        *_instance_profile_statements(cluster, region, account),
        *_read_statements(cluster, region, account, queue),
    ]  # fmt: skip


def _owned(cluster: str) -> tuple[dict[str, str], dict[str, str]]:
    """(resource tag, request tags) conditions naming this cluster."""
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    req = {f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned", "aws:RequestTag/eks:eks-cluster-name": cluster}
    return owned, req


def _ec2_statements(cluster: str, region: str) -> list[dict[str, Any]]:
    """Launch, tag and delete instances, fleets and launch templates tagged for this cluster and a node pool."""
    owned, req = _owned(cluster)
    ec2 = [_arn("ec2", region, "*", r) for r in ("fleet/*", "instance/*", "volume/*", "network-interface/*",
                                                  "launch-template/*", "spot-instances-request/*")]  # fmt: skip
    pool_tag = "karpenter.sh/nodepool"
    return [
        {"Sid": "AllowScopedEC2InstanceAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
         "Resource": [f"arn:aws:ec2:{region}::image/*", f"arn:aws:ec2:{region}::snapshot/*",
                      *(_arn("ec2", region, "*", r) for r in ("security-group/*", "subnet/*",
                                                               "capacity-reservation/*", "placement-group/*"))]},
        {"Sid": "AllowScopedEC2LaunchTemplateAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"], "Resource": _arn("ec2", region, "*", "launch-template/*"),
         "Condition": {"StringEquals": owned, "StringLike": {f"aws:ResourceTag/{pool_tag}": "*"}}},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"], "Resource": ec2,
         "Condition": {"StringEquals": req, "StringLike": {f"aws:RequestTag/{pool_tag}": "*"}}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": ec2,
         "Condition": {"StringEquals": {**req, "ec2:CreateAction": ["RunInstances", "CreateFleet",
                                                                    "CreateLaunchTemplate"]},
                       "StringLike": {f"aws:RequestTag/{pool_tag}": "*"}}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": _arn("ec2", region, "*", "instance/*"),
         "Condition": {"StringEquals": owned, "StringLike": {f"aws:ResourceTag/{pool_tag}": "*"},
                       "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name",
                                                                    "karpenter.sh/nodeclaim", "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow", "Action": ["ec2:TerminateInstances",
                                                                     "ec2:DeleteLaunchTemplate"],
         "Resource": [_arn("ec2", region, "*", "instance/*"), _arn("ec2", region, "*", "launch-template/*")],
         "Condition": {"StringEquals": owned, "StringLike": {f"aws:ResourceTag/{pool_tag}": "*"}}},
    ]  # fmt: skip


def _instance_profile_statements(cluster: str, region: str, account: str) -> list[dict[str, Any]]:
    """Create, tag and manage only instance profiles tagged for this cluster, region and an EC2NodeClass."""
    owned, req = _owned(cluster)
    profile = f"arn:aws:iam::{account}:instance-profile/*"
    region_tag, nc_tag = "topology.kubernetes.io/region", "karpenter.k8s.aws/ec2nodeclass"
    return [
        {"Sid": "AllowScopedInstanceProfileCreationActions", "Effect": "Allow", "Action": ["iam:CreateInstanceProfile"],
         "Resource": profile,
         "Condition": {"StringEquals": {**req, f"aws:RequestTag/{region_tag}": region},
                       "StringLike": {f"aws:RequestTag/{nc_tag}": "*"}}},
        {"Sid": "AllowScopedInstanceProfileTagActions", "Effect": "Allow", "Action": ["iam:TagInstanceProfile"],
         "Resource": profile,
         "Condition": {"StringEquals": {**owned, f"aws:ResourceTag/{region_tag}": region, **req,
                                        f"aws:RequestTag/{region_tag}": region},
                       "StringLike": {f"aws:ResourceTag/{nc_tag}": "*", f"aws:RequestTag/{nc_tag}": "*"}}},
        {"Sid": "AllowScopedInstanceProfileActions", "Effect": "Allow",
         "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
         "Resource": profile,
         "Condition": {"StringEquals": {**owned, f"aws:ResourceTag/{region_tag}": region},
                       "StringLike": {f"aws:ResourceTag/{nc_tag}": "*"}}},
    ]  # fmt: skip


def _read_statements(cluster: str, region: str, account: str, queue: str) -> list[dict[str, Any]]:
    """The cluster's endpoint, the interruption queue, and the regional reads (EC2, SSM, pricing, profiles)."""
    profile = f"arn:aws:iam::{account}:instance-profile/*"
    return [
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow", "Action": "eks:DescribeCluster",
         "Resource": _arn("eks", region, account, f"cluster/{cluster}")},
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow",
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], "Resource": queue},
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets"],
         "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": f"arn:aws:ssm:{region}::parameter/aws/service/*"},
        # Pricing has no resource ARNs; the controller calls it in one of three regions only
        # (pkg/providers/pricing/pricing.go at v1.13.0), so that is the condition that scopes it.
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": list(PRICING_API_REGIONS)}}},
        # The template grants this on "*"; the account's instance profiles are the only thing it lists.
        {"Sid": "AllowInstanceProfileListAction", "Effect": "Allow", "Action": "iam:ListInstanceProfiles",
         "Resource": profile},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow", "Action": "iam:GetInstanceProfile",
         "Resource": profile},
    ]  # fmt: skip


PRICING_API_REGIONS = ("us-east-1", "ap-south-1", "eu-central-1")

# EventBridge rules of the same template: what Karpenter reacts to before AWS takes a node away.
INTERRUPTION_EVENTS: Mapping[str, dict[str, list[str]]] = {
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "capacity-reservation-interruption": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
    },
}


def queue_policy(queue_arn: str) -> str:
    """EventBridge (and SQS) may send; nothing is accepted over plain HTTP."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "EC2InterruptionPolicy",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                },
                {
                    "Sid": "DenyHTTP",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )
