"""Fixture rows of the policies in policy/ai_platform_policies/cluster.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    ADDON,
    CLUSTER,
    KEY,
    LOG_GROUP,
    TAGS,
    case,
    deep,
    merged,
    without,
)
from tests.policy.harness import R

CLUSTER_OK = {
    "name": "ai-platform-dev",
    "version": "1.35",
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": ["s-1", "s-2"]},
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-west-2:1:key/k"}},
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
    "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
    "tags": TAGS,
}
case(
    "eks-cluster-endpoint-private-access",
    R(CLUSTER, CLUSTER_OK),
    R(CLUSTER, deep(CLUSTER_OK, "vpcConfig.endpointPrivateAccess", False)),
    "set vpcConfig.endpointPrivateAccess: true",
    R(CLUSTER, without(CLUSTER_OK, "vpcConfig.endpointPrivateAccess")),
    True,
)
case(
    "eks-cluster-public-endpoint-restricted",
    R(
        CLUSTER,
        deep(
            deep(CLUSTER_OK, "vpcConfig.endpointPublicAccess", True), "vpcConfig.publicAccessCidrs", ["203.0.113.0/24"]
        ),
    ),
    R(
        CLUSTER,
        deep(deep(CLUSTER_OK, "vpcConfig.endpointPublicAccess", True), "vpcConfig.publicAccessCidrs", ["0.0.0.0/0"]),
    ),
    "list specific CIDRs in cluster.publicAccessCidrs in stacks/Pulumi.<stack>.yaml",
    R(CLUSTER, deep(CLUSTER_OK, "vpcConfig", {"endpointPrivateAccess": True})),
    True,
    allowPublicEndpoint=True,
)
case(
    "eks-cluster-secrets-encryption",
    R(CLUSTER, CLUSTER_OK),
    R(CLUSTER, deep(CLUSTER_OK, "encryptionConfig.resources", [])),
    "set encryptionConfig: {resources: [secrets]",
    R(CLUSTER, without(CLUSTER_OK, "encryptionConfig")),
    True,
)
case(
    "eks-cluster-control-plane-logging",
    R(CLUSTER, CLUSTER_OK),
    R(CLUSTER, merged(CLUSTER_OK, enabledClusterLogTypes=["api"])),
    "audit, authenticator, controllerManager, scheduler; set enabledClusterLogTypes",
    R(CLUSTER, without(CLUSTER_OK, "enabledClusterLogTypes")),
    True,
)
case(
    "eks-cluster-supported-version",
    R(CLUSTER, CLUSTER_OK),
    R(CLUSTER, merged(CLUSTER_OK, version="1.29")),
    "set cluster.version in stacks/Pulumi.<stack>.yaml",
    R(CLUSTER, without(CLUSTER_OK, "version")),
    True,
)
case(
    "eks-cluster-access-entries",
    R(CLUSTER, CLUSTER_OK),
    R(CLUSTER, deep(CLUSTER_OK, "accessConfig.authenticationMode", "CONFIG_MAP")),
    "set accessConfig.authenticationMode: API",
    R(CLUSTER, without(CLUSTER_OK, "accessConfig")),
    True,
)
case(
    "eks-cluster-no-creator-admin",
    R(CLUSTER, CLUSTER_OK),
    R(CLUSTER, deep(CLUSTER_OK, "accessConfig.bootstrapClusterCreatorAdminPermissions", True)),
    "accessConfig.bootstrapClusterCreatorAdminPermissions: false",
    R(CLUSTER, without(CLUSTER_OK, "accessConfig")),
    True,
)
case(
    "eks-cluster-network-policy-enabled",
    [
        R(CLUSTER, CLUSTER_OK, "eks"),
        R(ADDON, {"addonName": "vpc-cni", "configurationValues": '{"enableNetworkPolicy": "true"}'}, "cni"),
    ],
    [R(CLUSTER, CLUSTER_OK, "eks"), R(ADDON, {"addonName": "vpc-cni", "configurationValues": "{}"}, "cni")],
    '"enableNetworkPolicy": "true"',
    [R(CLUSTER, CLUSTER_OK, "eks"), R(ADDON, {"addonName": "vpc-cni"}, "cni")],
    True,
)
KEY_OK = {
    "description": "EKS secrets",
    "enableKeyRotation": True,
    "policy": '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*", "Resource": "*"}]}',
    "tags": TAGS,
}
case(
    "kms-key-rotation-enabled",
    R(KEY, KEY_OK),
    R(KEY, merged(KEY_OK, enableKeyRotation=False)),
    "set enableKeyRotation: true",
    R(KEY, without(KEY_OK, "enableKeyRotation")),
    True,
)
case(
    "kms-key-no-lockout-bypass",
    R(KEY, KEY_OK),
    R(KEY, merged(KEY_OK, bypassPolicyLockoutSafetyCheck=True)),
    "remove bypassPolicyLockoutSafetyCheck",
    R(KEY, {}),
    False,
)
case(
    "kms-key-description",
    R(KEY, KEY_OK),
    R(KEY, merged(KEY_OK, description=" ")),
    "set description",
    R(KEY, without(KEY_OK, "description")),
    True,
)
case(
    "kms-key-policy-no-public-principal",
    R(KEY, KEY_OK),
    R(
        KEY,
        merged(KEY_OK, policy={"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt"}]}),
    ),
    "name the account root or specific roles",
    R(KEY, without(KEY_OK, "policy")),
    False,
)
case(
    "cloudwatch-log-group-retention",
    R(LOG_GROUP, {"name": "/aws/eks/x/cluster", "retentionInDays": 365.0}),
    R(LOG_GROUP, {"name": "/aws/eks/x/cluster", "retentionInDays": 30.0}),
    "raise cluster.logRetentionDays",
    R(LOG_GROUP, {"name": "/aws/eks/x/cluster"}),
    True,
    minRetentionDays=365,
)
