"""One fixture row per policy: a compliant setup, a violating one (with the expected message), and one
with the checked property missing (and whether that must be reported).

Rows are built from the provider's wire props (camelCase, numbers as floats, launch-template and
provider flags as strings), like the captured plans.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.policy.harness import R

# ------------------------------------------------------------------ type tokens
REPO = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
REPO_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
SCANNING = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
CLUSTER = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
NG = "aws:eks/nodeGroup:NodeGroup"
ROLE = "aws:iam/role:Role"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SUBNET = "aws:ec2/subnet:Subnet"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
NAT = "aws:ec2/natGateway:NatGateway"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
USER = "aws:iam/user:User"
BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
S3_LOGGING = "aws:s3/bucketLogging:BucketLogging"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
DEPLOY = "kubernetes:apps/v1:Deployment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
POD = "kubernetes:core/v1:Pod"
JOB = "kubernetes:batch/v1:Job"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SCALED = "kubernetes:keda.sh/v1alpha1:ScaledObject"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CRB = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
OLD_INGRESS = "kubernetes:extensions/v1beta1:Ingress"
RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
PROVIDER = "pulumi:providers:aws"

TAGS = {"owner": "ml", "cost-center": "ml-dev", "project": "ai-platform", "environment": "dev", "managed-by": "pulumi"}
IMAGE = "111111111111.dkr.ecr.us-west-2.amazonaws.com/vllm@sha256:" + "a" * 64


def without(d: Mapping[str, Any], *paths: str) -> dict[str, Any]:
    """A deep copy of ``d`` with the dotted ``paths`` removed (list indexes as numbers)."""
    out = copy.deepcopy(dict(d))
    for path in paths:
        parts = path.split(".")
        cur: Any = out
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        if isinstance(cur, list):
            cur.pop(int(parts[-1]))
        else:
            cur.pop(parts[-1], None)
    return out


def merged(d: Mapping[str, Any], **over: Any) -> dict[str, Any]:
    return {**copy.deepcopy(dict(d)), **over}


def deep(d: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``d`` with ``path`` set to ``value``."""
    out = copy.deepcopy(dict(d))
    cur: Any = out
    parts = path.split(".")
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur.setdefault(p, {})
    if isinstance(cur, list):
        cur[int(parts[-1])] = value
    else:
        cur[parts[-1]] = value
    return out


@dataclass
class Case:
    policy: str
    good: Sequence[R]
    bad: Sequence[R]
    message: str
    """A fragment every violation message of ``bad`` must contain (what to set and where)."""
    missing: Sequence[R]
    missing_violates: bool
    settings: Mapping[str, Any] = field(default_factory=dict)


CASES: list[Case] = []


def case(policy: str, good: Any, bad: Any, message: str, missing: Any, missing_violates: bool, **settings: Any) -> None:
    def norm(x: Any) -> list[R]:
        return [x] if isinstance(x, R) else list(x)

    CASES.append(Case(policy, norm(good), norm(bad), message, norm(missing), missing_violates, settings))


# ------------------------------------------------------------------ pod specs
def container(**over: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": "app",
        "image": IMAGE,
        "ports": [{"containerPort": 8000.0}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001.0,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8000.0}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8000.0}},
    }
    c.update(over)
    return c


def gpu_container(**over: Any) -> dict[str, Any]:
    c = container()
    c["resources"] = {
        "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
        "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
    }
    c.update(over)
    return c


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def pod(*containers: dict[str, Any], **over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": "app",
        "automountServiceAccountToken": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": list(containers) or [container()],
    }
    spec.update(over)
    return spec


LABELS = {"app.kubernetes.io/name": "llama", "app.kubernetes.io/part-of": "ai-platform", "team": "ml"}


def deployment(
    spec: dict[str, Any] | None = None, *, ns: str = "serving", name: str = "llama", replicas: float = 2.0, **over: Any
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": dict(LABELS)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec or pod()},
        },
    }
    d.update(over)
    return d


def gpu_deployment(**over: Any) -> dict[str, Any]:
    return deployment(
        pod(gpu_container(), tolerations=[GPU_TOLERATION], nodeSelector={"platform.ai/accelerator": "nvidia"}), **over
    )


def dep(props: dict[str, Any], name: str = "llama", type_: str = DEPLOY) -> R:
    return R(type_, props, name)


# ------------------------------------------------------------------ registry
REPO_OK = {
    "name": "vllm",
    "imageTagMutability": "IMMUTABLE",
    "imageScanningConfiguration": {"scanOnPush": True},
    "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": "arn:aws:kms:us-west-2:1:key/k"}],
    "tags": TAGS,
}
case(
    "ecr-repository-scan-on-push",
    R(REPO, REPO_OK, "repo"),
    R(REPO, deep(REPO_OK, "imageScanningConfiguration.scanOnPush", False), "repo"),
    "set registry.scanning: basic (scan on push) or enhanced in stacks/Pulumi.<stack>.yaml",
    R(REPO, without(REPO_OK, "imageScanningConfiguration"), "repo"),
    True,
)
# ENHANCED registry scanning covering the repository also passes (second compliant shape, tested in test_policies).
case(
    "ecr-repository-immutable-tags",
    R(REPO, REPO_OK),
    R(REPO, merged(REPO_OK, imageTagMutability="MUTABLE")),
    "set registry.imageTagMutability: IMMUTABLE",
    R(REPO, without(REPO_OK, "imageTagMutability")),
    True,
)
case(
    "ecr-repository-kms-encryption",
    R(REPO, REPO_OK),
    R(REPO, merged(REPO_OK, encryptionConfigurations=[{"encryptionType": "AES256"}])),
    "set encryptionConfigurations: [{encryptionType: KMS",
    R(REPO, without(REPO_OK, "encryptionConfigurations")),
    True,
    requireCustomerManagedKey=True,
)
PUBLIC_STMT = {"Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage"]}
case(
    "ecr-repository-policy-no-public-principal",
    R(
        REPO_POLICY,
        {
            "repository": "vllm",
            "policy": '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/node"}, "Action": "ecr:BatchGetImage"}]}',
        },
    ),
    R(REPO_POLICY, {"repository": "vllm", "policy": {"Statement": [PUBLIC_STMT]}}),
    "name the node role / IRSA roles as principals",
    R(REPO_POLICY, {"repository": "vllm"}),
    False,
)
case(
    "ecr-repository-lifecycle-policy",
    [
        R(REPO, REPO_OK, "repo"),
        R(LIFECYCLE, {"repository": "vllm", "policy": "{}"}, "lc", deps={"repository": ["repo"]}),
    ],
    [R(REPO, REPO_OK, "repo")],
    "has no lifecycle policy: create an aws.ecr.LifecyclePolicy",
    [R(REPO, REPO_OK, "repo"), R(LIFECYCLE, {"policy": "{}"}, "lc")],
    True,
)
ENDPOINTS = [
    R(ENDPOINT, {"serviceName": f"com.amazonaws.us-west-2.{s}"}, f"ep-{s}") for s in ("ecr.api", "ecr.dkr", "s3")
]
case(
    "ec2-vpc-endpoint-ecr-private",
    [R(REPO, REPO_OK, "repo"), *ENDPOINTS],
    [R(REPO, REPO_OK, "repo"), ENDPOINTS[2]],
    "set network.vpcEndpoints: true",
    [R(REPO, REPO_OK, "repo"), R(ENDPOINT, {}, "ep")],
    True,
)

# ------------------------------------------------------------------ cluster
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


# ------------------------------------------------------------------ nodes
LT_OK = {
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0, "httpEndpoint": "enabled"},
    "blockDeviceMappings": [
        {
            "deviceName": "/dev/xvda",
            "ebs": {"encrypted": "true", "volumeType": "gp3", "volumeSize": 200.0, "kmsKeyId": "arn:k"},
        }
    ],
    "networkInterfaces": [{"deviceIndex": 0.0, "associatePublicIpAddress": "false"}],
    "tagSpecifications": [{"resourceType": "instance", "tags": TAGS}, {"resourceType": "volume", "tags": TAGS}],
    "instanceType": "g5.xlarge",
    "tags": TAGS,
}
GPU_NG = {
    "clusterName": "ai-platform-dev",
    "nodeGroupName": "gpu-a10g",
    "instanceTypes": ["g5.xlarge"],
    "amiType": "AL2023_x86_64_NVIDIA",
    "capacityType": "SPOT",
    "scalingConfig": {"minSize": 0.0, "maxSize": 2.0, "desiredSize": 0.0},
    "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
    "labels": {"platform.ai/pool": "gpu-a10g", "platform.ai/accelerator": "nvidia", "platform.ai/gpu-model": "a10g"},
    "launchTemplate": {"id": "lt-1", "version": "1"},
    "subnetIds": ["s-a", "s-b", "s-c"],
    "tags": TAGS,
}
case(
    "ec2-launch-template-imdsv2",
    R(LT, LT_OK),
    R(LT, deep(LT_OK, "metadataOptions.httpTokens", "optional")),
    "set metadataOptions.httpTokens: required",
    R(LT, without(LT_OK, "metadataOptions")),
    True,
)
case(
    "ec2-launch-template-imds-hop-limit",
    R(LT, LT_OK),
    R(LT, deep(LT_OK, "metadataOptions.httpPutResponseHopLimit", 2.0)),
    "set metadataOptions.httpPutResponseHopLimit: 1",
    R(LT, without(LT_OK, "metadataOptions.httpPutResponseHopLimit")),
    True,
)
case(
    "eks-node-group-launch-template",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, launchTemplate={"version": "1"})),
    "set launchTemplate: {id, version}",
    R(NG, without(GPU_NG, "launchTemplate")),
    True,
)
case(
    "ec2-launch-template-ebs-encrypted",
    R(LT, LT_OK),
    R(LT, deep(LT_OK, "blockDeviceMappings.0.ebs.encrypted", "false")),
    "set blockDeviceMappings[].ebs.encrypted: 'true'",
    R(LT, without(LT_OK, "blockDeviceMappings")),
    True,
    requireCustomerManagedKey=True,
)
case(
    "ec2-launch-template-no-public-ip",
    R(LT, LT_OK),
    R(LT, deep(LT_OK, "networkInterfaces.0.associatePublicIpAddress", "true")),
    "remove networkInterfaces[].associatePublicIpAddress",
    R(LT, without(LT_OK, "networkInterfaces")),
    False,
)
case(
    "ec2-launch-template-user-data-no-secrets",
    R(LT, merged(LT_OK, userData="IyEvYmluL2Jhc2gKZWNobyBoaQo=")),
    R(LT, merged(LT_OK, userData="IyEvYmluL2Jhc2gKZXhwb3J0IEFXU19BQ0NFU1NfS0VZX0lEPUFLSUFJT1NGT0ROTjdFWEFNUExFCg==")),
    "read secrets at boot from Secrets Manager/SSM",
    R(LT, LT_OK),
    False,
)
case(
    "eks-node-group-no-ssh",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, remoteAccess={"ec2SshKey": "k"})),
    "remove remoteAccess and use SSM Session Manager",
    R(NG, without(GPU_NG, "remoteAccess")),
    False,
)
case(
    "eks-node-group-gpu-taint",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, taints=[])),
    "add taint {key: nvidia.com/gpu, value: 'true', effect: NO_SCHEDULE}",
    R(NG, without(GPU_NG, "taints")),
    True,
)
case(
    "eks-node-group-gpu-ami",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, amiType="AL2023_x86_64_STANDARD")),
    "set nodePools.gpu-a10g.amiType to one of",
    R(NG, without(GPU_NG, "amiType")),
    True,
)
case(
    "eks-node-group-multi-az",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, subnetIds=["s-a"])),
    "availability zones in network.availabilityZones",
    R(NG, without(GPU_NG, "subnetIds")),
    True,
    minSubnets=3,
)
NODE_ROLE = R(
    ROLE,
    {
        "assumeRolePolicy": '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
    },
    "node-role",
)
case(
    "iam-node-role-least-privilege",
    [
        NODE_ROLE,
        R(
            ATTACH,
            {"role": "node", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
            "a1",
            deps={"role": ["node-role"]},
        ),
    ],
    [
        NODE_ROLE,
        R(
            ATTACH,
            {"role": "node", "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"},
            "a1",
            deps={"role": ["node-role"]},
        ),
    ],
    "give the workload an IRSA role instead",
    [NODE_ROLE, R(ATTACH, {"role": "node"}, "a1", deps={"role": ["node-role"]})],
    True,
)
case(
    "eks-gpu-taint-toleration-consistency",
    [R(NG, GPU_NG, "ng"), dep(gpu_deployment())],
    [R(NG, GPU_NG, "ng"), dep(deployment(pod(gpu_container())))],
    "does not tolerate the GPU node taints",
    [R(NG, without(GPU_NG, "taints"), "ng")],
    True,
)

# ------------------------------------------------------------------ network
case(
    "ec2-vpc-flow-logs",
    [R(VPC, {"cidrBlock": "10.0.0.0/16"}, "vpc"), R(FLOW_LOG, {"vpcId": "vpc-1"}, "fl", deps={"vpcId": ["vpc"]})],
    [R(VPC, {"cidrBlock": "10.0.0.0/16"}, "vpc")],
    "create an aws.ec2.FlowLog for it",
    [R(VPC, {"cidrBlock": "10.0.0.0/16"}, "vpc"), R(FLOW_LOG, {}, "fl")],
    True,
)
case(
    "ec2-default-security-group-closed",
    R(DEFAULT_SG, {"vpcId": "v", "ingress": [], "egress": []}),
    R(
        DEFAULT_SG,
        {
            "vpcId": "v",
            "ingress": [],
            "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}],
        },
    ),
    "set ingress: [] and egress: []",
    R(DEFAULT_SG, {"vpcId": "v"}),
    False,
)
SG_OK = {
    "description": "HTTPS from the VPC",
    "ingress": [
        {"description": "HTTPS", "protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["10.0.0.0/16"]}
    ],
    "egress": [],
}
case(
    "ec2-security-group-no-public-ingress",
    R(SG, SG_OK),
    R(
        SG,
        deep(
            SG_OK,
            "ingress.0",
            {"description": "ssh", "protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"]},
        ),
    ),
    "restrict the source to the VPC",
    R(SG, without(SG_OK, "ingress")),
    False,
)
case(
    "ec2-security-group-descriptions",
    R(SG, SG_OK),
    R(SG, deep(SG_OK, "ingress.0.description", "")),
    "has no description",
    R(SG, without(SG_OK, "description")),
    True,
)
case(
    "ec2-security-group-no-mixed-rules",
    [
        R(SG, without(SG_OK, "ingress", "egress"), "sg"),
        R(
            INGRESS_RULE,
            {"description": "x", "cidrIpv4": "10.0.0.0/16", "ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0},
            "r",
            deps={"securityGroupId": ["sg"]},
        ),
    ],
    [
        R(SG, SG_OK, "sg"),
        R(INGRESS_RULE, {"description": "x", "cidrIpv4": "10.0.0.0/16"}, "r", deps={"securityGroupId": ["sg"]}),
    ],
    "use one style",
    [R(SG, SG_OK, "sg"), R(INGRESS_RULE, {}, "r")],
    False,
)
SUBNETS = [R(SUBNET, {"availabilityZone": f"us-west-2{z}", "mapPublicIpOnLaunch": False}, f"sn-{z}") for z in "abc"]
case(
    "ec2-nat-gateway-count",
    [*SUBNETS, *[R(NAT, {"subnetId": "x"}, f"nat-{i}") for i in range(3)]],
    [*SUBNETS, R(NAT, {"subnetId": "x"}, "nat-0")],
    "set network.natGateways: per-az",
    [*SUBNETS, R(NAT, {}, "nat-0")],
    True,
    mode="per-az",
)
case(
    "ec2-subnet-no-public-ip-on-launch",
    R(SUBNET, {"mapPublicIpOnLaunch": False}),
    R(SUBNET, {"mapPublicIpOnLaunch": True}),
    "set mapPublicIpOnLaunch: false",
    R(SUBNET, {"cidrBlock": "10.0.0.0/19"}),
    False,
)
SVC = {"metadata": {"name": "llama", "namespace": "serving"}, "spec": {"type": "ClusterIP", "ports": [{"port": 80.0}]}}
case(
    "k8s-service-no-public-load-balancer",
    R(SERVICE, SVC),
    R(SERVICE, deep(SVC, "spec.type", "LoadBalancer")),
    "annotate service.beta.kubernetes.io/aws-load-balancer-scheme: internal",
    R(SERVICE, without(SVC, "spec")),
    False,
)
ING_ANN = {
    "alb.ingress.kubernetes.io/scheme": "internet-facing",
    "alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:x",
    "alb.ingress.kubernetes.io/ssl-redirect": "443",
}
case(
    "k8s-ingress-alb-tls",
    R(INGRESS, {"metadata": {"name": "models", "namespace": "serving", "annotations": ING_ANN}}),
    R(
        INGRESS,
        {
            "metadata": {
                "name": "models",
                "namespace": "serving",
                "annotations": {k: v for k, v in ING_ANN.items() if "certificate" not in k},
            }
        },
    ),
    "set serving.ingress.certificateArn",
    R(INGRESS, {"metadata": {"name": "models", "namespace": "serving"}}),
    False,
)


# ------------------------------------------------------------------ iam
def doc(*stmts: dict[str, Any]) -> str:
    import json

    return json.dumps({"Version": "2012-10-17", "Statement": list(stmts)})


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


SCOPED = doc(allow(["s3:GetObject"], "arn:aws:s3:::bucket/*"), allow("ecr:GetAuthorizationToken"))
case(
    "iam-policy-no-admin",
    R(ROLE_POLICY, {"role": "r", "policy": SCOPED}),
    R(ROLE_POLICY, {"role": "r", "policy": doc(allow("*"))}),
    "grants Action '*' on Resource '*' (full admin)",
    R(ROLE_POLICY, {"role": "r"}),
    False,
)
case(
    "iam-policy-no-full-iam",
    R(IAM_POLICY, {"policy": SCOPED}),
    R(IAM_POLICY, {"policy": doc(allow("iam:*", "arn:aws:iam::1:role/x"))}),
    "(full IAM control)",
    R(IAM_POLICY, {}),
    False,
)
case(
    "iam-policy-no-privilege-escalation",
    R(IAM_POLICY, {"policy": doc(allow("iam:PassRole", "arn:aws:iam::1:role/app"))}),
    R(IAM_POLICY, {"policy": doc(allow("iam:PassRole"))}),
    "name the exact roles/policies in Resource",
    R(IAM_POLICY, {"policy": doc({"Effect": "Allow", "Action": "iam:PassRole"})}),
    False,
)
case(
    "iam-policy-resource-scoped",
    R(IAM_POLICY, {"policy": SCOPED}),
    R(IAM_POLICY, {"policy": doc(allow("s3:GetObject"))}),
    "list the ARNs (or add an aws:ResourceTag condition)",
    R(IAM_POLICY, {}),
    False,
)
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/ABC"


def irsa_trust(sub: str = "system:serviceaccount:serving:llama", op: str = "StringEquals", aud: bool = True) -> str:
    cond = {f"{ISSUER}:sub": sub, **({f"{ISSUER}:aud": "sts.amazonaws.com"} if aud else {})}
    return doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{ISSUER}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {op: cond},
        }
    )


case(
    "iam-role-irsa-trust-scoped",
    R(ROLE, {"assumeRolePolicy": irsa_trust()}),
    R(ROLE, {"assumeRolePolicy": irsa_trust("system:serviceaccount:serving:*", "StringLike")}),
    "'<issuer>:sub': 'system:serviceaccount:<ns>:<sa>'",
    R(
        ROLE,
        {
            "assumeRolePolicy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{ISSUER}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            )
        },
    ),
    True,
)
GH = "token.actions.githubusercontent.com"


def gh_trust(sub: str) -> str:
    return doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{GH}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{GH}:sub": sub, f"{GH}:aud": "sts.amazonaws.com"}},
        }
    )


case(
    "iam-role-github-oidc-trust-pinned",
    R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:environment:prod")}),
    R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/*")}),
    "repo:<org>/<repo>:environment:<env>",
    R(
        ROLE,
        {
            "assumeRolePolicy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{GH}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            )
        },
    ),
    True,
)
case(
    "iam-role-trust-no-wildcard-principal",
    NODE_ROLE,
    R(ROLE, {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})}),
    "name the trusted principal",
    R(ROLE, {}),
    False,
)
case(
    "iam-role-no-mixed-policy-management",
    [
        R(ROLE, {"assumeRolePolicy": "{}"}, "role"),
        R(ATTACH, {"policyArn": "arn:aws:iam::aws:policy/X"}, "att", deps={"role": ["role"]}),
    ],
    [
        R(ROLE, {"assumeRolePolicy": "{}", "managedPolicyArns": ["arn:aws:iam::aws:policy/Y"]}, "role"),
        R(ATTACH, {"policyArn": "arn:aws:iam::aws:policy/X"}, "att", deps={"role": ["role"]}),
    ],
    "use attachment resources only",
    [R(ROLE, {}, "role"), R(ATTACH, {}, "att")],
    False,
)
BOUNDARY = "arn:aws:iam::111111111111:policy/ai-platform-boundary-dev"
CI_ROLE = R(
    ROLE,
    {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:environment:dev"), "permissionsBoundary": BOUNDARY},
    "deploy",
)
NODE_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
case(
    "iam-role-permissions-boundary",
    [CI_ROLE, R(ROLE, {"assumeRolePolicy": NODE_TRUST, "permissionsBoundary": BOUNDARY}, "node")],
    [CI_ROLE, R(ROLE, {"assumeRolePolicy": NODE_TRUST}, "node")],
    "has no permissions boundary: pass DeployIdentity.boundary_arn",
    [CI_ROLE, R(ROLE, {}, "node")],
    True,
)
DECRYPT = doc({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "arn:aws:kms:us-west-2:1:key/*"})
case(
    "iam-pull-request-role-no-decrypt",
    [
        R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:environment:dev-preview")}, "preview"),
        R(ROLE_POLICY, {"policy": DECRYPT}, "state", deps={"role": ["preview"]}),
    ],
    [
        R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:pull_request")}, "preview"),
        R(ROLE_POLICY, {"policy": DECRYPT}, "state", deps={"role": ["preview"]}),
    ],
    "can be assumed from a pull_request run and 'state' grants kms:Decrypt",
    [
        R(ROLE, {"assumeRolePolicy": gh_trust("repo:example-org/ai-platform:pull_request")}, "preview"),
        R(ROLE_POLICY, {}, "state", deps={"role": ["preview"]}),
    ],
    False,
)
case(
    "iam-no-users-or-access-keys",
    R(ROLE, {}),
    R(USER, {"name": "ci"}),
    "remove the IAM user/access key",
    R(USER, {}),
    True,
)

# ------------------------------------------------------------------ storage
BUCKET_R = R(BUCKET, {"bucket": "artifacts", "tags": TAGS}, "bucket")


def on_bucket(type_: str, props: dict[str, Any], name: str) -> R:
    return R(type_, {"bucket": "artifacts", **props}, name, deps={"bucket": ["bucket"]})


PAB_OK = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
case(
    "s3-bucket-public-access-block",
    [BUCKET_R, on_bucket(PAB, PAB_OK, "pab")],
    [BUCKET_R],
    "create an aws.s3.BucketPublicAccessBlock",
    [BUCKET_R, R(PAB, {}, "pab")],
    True,
)
case(
    "s3-bucket-public-access-block-all-flags",
    R(PAB, PAB_OK),
    R(PAB, merged(PAB_OK, blockPublicPolicy=False)),
    "leaves blockPublicPolicy off: set all four to true",
    R(PAB, without(PAB_OK, "ignorePublicAcls")),
    True,
)
SSE_OK = {
    "rules": [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:k"},
            "bucketKeyEnabled": True,
        }
    ]
}
case(
    "s3-bucket-encryption-configured",
    [BUCKET_R, on_bucket(SSE, SSE_OK, "sse")],
    [BUCKET_R],
    "create an aws.s3.BucketServerSideEncryptionConfiguration",
    [BUCKET_R, R(SSE, {}, "sse")],
    True,
)
case(
    "s3-bucket-sse-kms-bucket-key",
    R(SSE, SSE_OK),
    R(SSE, deep(SSE_OK, "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256")),
    "{sseAlgorithm: aws:kms",
    R(SSE, without(SSE_OK, "rules")),
    True,
)
case(
    "s3-bucket-versioning",
    [BUCKET_R, on_bucket(VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}, "v")],
    [BUCKET_R, on_bucket(VERSIONING, {"versioningConfiguration": {"status": "Suspended"}}, "v")],
    "create an aws.s3.BucketVersioning with status Enabled",
    [BUCKET_R, on_bucket(VERSIONING, {}, "v")],
    True,
)
LC_OK = {
    "rules": [{"id": "abort", "status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0}}]
}
case(
    "s3-bucket-lifecycle",
    [BUCKET_R, on_bucket(S3_LIFECYCLE, LC_OK, "lc")],
    [
        BUCKET_R,
        on_bucket(S3_LIFECYCLE, {"rules": [{"id": "x", "status": "Enabled", "expiration": {"days": 30.0}}]}, "lc"),
    ],
    "add a lifecycle rule with abortIncompleteMultipartUpload",
    [BUCKET_R, on_bucket(S3_LIFECYCLE, {}, "lc")],
    True,
)
case(
    "s3-bucket-access-logging",
    [
        BUCKET_R,
        R(BUCKET, {"bucket": "logs"}, "logs"),
        R(
            S3_LOGGING,
            {"bucket": "artifacts", "targetBucket": "logs"},
            "log",
            deps={"bucket": ["bucket"], "targetBucket": ["logs"]},
        ),
    ],
    [BUCKET_R],
    "create an aws.s3.BucketLogging",
    [BUCKET_R, R(S3_LOGGING, {}, "log")],
    True,
)
SC = {
    "metadata": {"name": "gp3-encrypted"},
    "provisioner": "ebs.csi.aws.com",
    "parameters": {"type": "gp3", "encrypted": "true"},
}
case(
    "k8s-storage-class-encrypted-gp3",
    R(STORAGE_CLASS, SC),
    R(STORAGE_CLASS, deep(SC, "parameters.encrypted", "false")),
    "set parameters.encrypted: 'true'",
    R(STORAGE_CLASS, without(SC, "parameters")),
    True,
)


# ------------------------------------------------------------------ workloads
def with_sc(**sc: Any) -> dict[str, Any]:
    c = container()
    c["securityContext"] = {**c["securityContext"], **sc}
    return c


def sc_without(key: str) -> dict[str, Any]:
    c = container()
    c["securityContext"] = without(c["securityContext"], key)
    return c


GOOD = dep(deployment())
case(
    "k8s-pod-no-privileged",
    GOOD,
    dep(deployment(pod(with_sc(privileged=True)))),
    "remove securityContext.privileged",
    dep(deployment(pod(container(securityContext={})))),
    False,
)
case(
    "k8s-pod-no-host-namespaces",
    GOOD,
    dep(deployment(pod(hostNetwork=True))),
    "shares the node's hostNetwork: remove hostNetwork",
    dep(deployment(without(pod(), "securityContext"))),
    False,
)
HOSTPATH_POD = pod(
    container(volumeMounts=[{"name": "h", "mountPath": "/h"}]),
    volumes=[{"name": "h", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}],
)
case(
    "k8s-pod-no-host-path",
    dep(deployment(pod(volumes=[{"name": "cache", "emptyDir": {}}]))),
    dep(deployment(HOSTPATH_POD)),
    "use a PVC/emptyDir, or add a narrow exemption",
    dep(deployment(pod(volumes=[{"name": "h"}]))),
    False,
)
case(
    "k8s-pod-no-host-port",
    GOOD,
    dep(deployment(pod(container(ports=[{"containerPort": 80.0, "hostPort": 80.0}])))),
    "expose it through a Service",
    dep(deployment(pod(container(ports=[{}])))),
    False,
)
case(
    "k8s-container-capabilities-restricted",
    GOOD,
    dep(deployment(pod(with_sc(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})))),
    "add only NET_BIND_SERVICE",
    dep(deployment(pod(sc_without("capabilities")))),
    True,
)
case(
    "k8s-container-no-privilege-escalation",
    GOOD,
    dep(deployment(pod(with_sc(allowPrivilegeEscalation=True)))),
    "securityContext.allowPrivilegeEscalation: false",
    dep(deployment(pod(sc_without("allowPrivilegeEscalation")))),
    True,
)
case(
    "k8s-pod-run-as-non-root",
    GOOD,
    dep(deployment(pod(with_sc(runAsUser=0.0)))),
    "set securityContext.runAsNonRoot: true",
    dep(deployment(pod(sc_without("runAsNonRoot")))),
    True,
)
case(
    "k8s-pod-seccomp-runtime-default",
    GOOD,
    dep(deployment(pod(securityContext={"seccompProfile": {"type": "Unconfined"}}))),
    "seccompProfile.type: RuntimeDefault",
    dep(deployment(without(pod(), "securityContext"))),
    True,
)
case(
    "k8s-container-read-only-root-fs",
    GOOD,
    dep(deployment(pod(with_sc(readOnlyRootFilesystem=False)))),
    "set securityContext.readOnlyRootFilesystem: true",
    dep(deployment(pod(sc_without("readOnlyRootFilesystem")))),
    True,
)
BAD_GPU = gpu_container()
BAD_GPU["resources"] = {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}, "limits": {"memory": "16Gi"}}
case(
    "k8s-container-resources",
    dep(gpu_deployment()),
    dep(deployment(pod(BAD_GPU, tolerations=[GPU_TOLERATION]))),
    "extended resources are set in resources.limits",
    dep(deployment(pod(container(resources={})))),
    True,
)
case(
    "k8s-container-probes",
    GOOD,
    dep(deployment(pod(container(readinessProbe=None)))),
    "has no readinessProbe",
    dep(deployment(pod(without(container(), "livenessProbe", "readinessProbe")))),
    True,
)
case(
    "k8s-container-image-pinned",
    GOOD,
    dep(deployment(pod(container(image="111111111111.dkr.ecr.us-west-2.amazonaws.com/vllm:latest")))),
    "pin a tag or digest",
    dep(deployment(pod(without(container(), "image")))),
    True,
    allowedRegistries=["111111111111.dkr.ecr.us-west-2.amazonaws.com"],
    requireDigest=True,
)
case(
    "k8s-pod-dedicated-service-account",
    GOOD,
    dep(deployment(pod(serviceAccountName="default"))),
    "create a dedicated ServiceAccount",
    dep(deployment(without(pod(), "serviceAccountName"))),
    True,
)
case(
    "k8s-pod-no-automount-token",
    GOOD,
    dep(deployment(pod(automountServiceAccountToken=True))),
    "set automountServiceAccountToken: false",
    dep(deployment(without(pod(), "automountServiceAccountToken"))),
    True,
)
case(
    "k8s-container-secrets-as-files",
    GOOD,
    dep(
        deployment(
            pod(container(env=[{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]))
        )
    ),
    "mount the Secret as a read-only volume",
    dep(deployment(pod(container(env=[{"name": "X"}])))),
    False,
)
case(
    "k8s-object-not-default-namespace",
    GOOD,
    dep(deployment(ns="default")),
    "set metadata.namespace",
    dep(without(deployment(), "metadata.namespace")),
    True,
)
NS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


def ns(name: str = "serving", labels: dict[str, str] | None = None) -> R:
    return R(
        NAMESPACE, {"metadata": {"name": name, "labels": dict(NS_LABELS if labels is None else labels)}}, f"ns-{name}"
    )


NETPOL_R = R(NETPOL, {"metadata": {"name": "default-deny", "namespace": "serving"}, "spec": {"podSelector": {}}}, "np")
case(
    "k8s-namespace-network-policy",
    [ns(), NETPOL_R],
    [ns()],
    "add a default-deny NetworkPolicy",
    [ns(), R(NETPOL, {"spec": {}}, "np")],
    True,
)
case(
    "k8s-namespace-pod-security-labels",
    ns(),
    ns(labels={**NS_LABELS, "pod-security.kubernetes.io/enforce": "privileged"}),
    "label it pod-security.kubernetes.io/enforce: restricted",
    ns(labels={}),
    True,
)
QUOTA_R = R(
    QUOTA,
    {"metadata": {"name": "q", "namespace": "serving"}, "spec": {"hard": {"requests.nvidia.com/gpu": "4"}}},
    "quota",
)
LIMITS_R = R(LIMITS, {"metadata": {"name": "l", "namespace": "serving"}, "spec": {"limits": []}}, "limits")
case(
    "k8s-namespace-quota-and-limits",
    [ns(), QUOTA_R, LIMITS_R, dep(gpu_deployment())],
    [
        ns(),
        R(QUOTA, {"metadata": {"name": "q", "namespace": "serving"}, "spec": {"hard": {"pods": "10"}}}, "quota"),
        LIMITS_R,
        dep(gpu_deployment()),
    ],
    "its ResourceQuota has no requests.nvidia.com/gpu",
    [ns(), R(QUOTA, {"metadata": {"namespace": "serving"}}, "quota"), LIMITS_R, dep(gpu_deployment())],
    True,
)
SCALED_R = R(
    SCALED,
    {
        "metadata": {"name": "llama", "namespace": "serving"},
        "spec": {"scaleTargetRef": {"name": "llama"}, "minReplicaCount": 2.0},
    },
    "so",
)
case(
    "k8s-deployment-min-replicas",
    [dep(gpu_deployment(replicas=1.0)), SCALED_R],
    [dep(gpu_deployment(replicas=1.0))],
    "raise serving.models.<name>.minReplicas",
    [dep(without(gpu_deployment(), "spec.replicas"))],
    True,
    minGpuReplicas=2,
    minReplicas=3,
)
PDB_OK = {
    "metadata": {"name": "llama", "namespace": "serving"},
    "spec": {
        "maxUnavailable": 1.0,
        "selector": {"matchLabels": {"app": "llama"}},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    },
}
case(
    "k8s-serving-deployment-pdb",
    [GOOD, R(PDB, PDB_OK, "pdb")],
    [GOOD, R(PDB, deep(PDB_OK, "spec.selector.matchLabels", {"app": "other"}), "pdb")],
    "add a PDB with maxUnavailable: 1",
    [GOOD, R(PDB, without(PDB_OK, "spec.selector"), "pdb")],
    True,
)
case(
    "k8s-pdb-allows-disruption",
    R(PDB, PDB_OK),
    R(PDB, deep(PDB_OK, "spec.maxUnavailable", 0.0)),
    "allows no voluntary disruption",
    R(PDB, without(PDB_OK, "spec.maxUnavailable")),
    True,
)
SPREAD = [
    {
        "maxSkew": 1.0,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "llama"}},
    }
]
case(
    "k8s-deployment-topology-spread",
    dep(deployment(pod(topologySpreadConstraints=SPREAD))),
    GOOD,
    "set topologySpreadConstraints",
    dep(without(deployment(), "spec.template.spec")),
    True,
)
case(
    "k8s-no-bare-pods",
    GOOD,
    R(POD, {"metadata": {"name": "debug", "namespace": "serving"}, "spec": pod()}),
    "use a Deployment or Job",
    R(POD, {}),
    True,
)
JOB_OK = {
    "metadata": {"name": "warm", "namespace": "serving", "labels": LABELS},
    "spec": {"ttlSecondsAfterFinished": 3600.0, "template": {"spec": pod()}},
}
case(
    "k8s-job-ttl-after-finished",
    R(JOB, JOB_OK),
    R(JOB, without(JOB_OK, "spec.ttlSecondsAfterFinished")),
    "set spec.ttlSecondsAfterFinished",
    R(JOB, {}),
    True,
)
case(
    "k8s-pod-gpu-scheduling",
    dep(gpu_deployment()),
    dep(deployment(pod(gpu_container(), nodeSelector={"platform.ai/accelerator": "nvidia"}))),
    "add tolerations [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]",
    dep(deployment(pod(gpu_container(), tolerations=[GPU_TOLERATION]))),
    True,
)
ROLE_OK = {
    "metadata": {"name": "reader"},
    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
}
case(
    "k8s-rbac-least-privilege",
    R(CLUSTER_ROLE, ROLE_OK),
    R(CLUSTER_ROLE, merged(ROLE_OK, rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])),
    "list verbs and resources",
    R(CLUSTER_ROLE, without(ROLE_OK, "rules")),
    False,
)
CRB_OK = {
    "metadata": {"name": "reader"},
    "roleRef": {"kind": "ClusterRole", "name": "reader"},
    "subjects": [{"kind": "Group", "name": "devs"}],
}
case(
    "k8s-rbac-no-cluster-admin-binding",
    R(CRB, CRB_OK),
    R(CRB, deep(CRB_OK, "roleRef.name", "cluster-admin")),
    "grant admins through EKS access entries",
    R(CRB, without(CRB_OK, "roleRef")),
    False,
)
case(
    "k8s-api-version-supported",
    R(INGRESS, {"metadata": {"name": "x", "namespace": "serving"}}),
    R(OLD_INGRESS, {"metadata": {"name": "x", "namespace": "serving"}}),
    "move to the GA API",
    R(OLD_INGRESS, {}),
    True,
)


# ------------------------------------------------------------------ monitoring
def release(
    chart: str,
    values: dict[str, Any],
    *,
    name: str = "rel",
    ns: str = "monitoring",
    repo: str | None = None,
    version: str = "1.2.3",
    **over: Any,
) -> R:
    props: dict[str, Any] = {
        "name": name,
        "chart": chart,
        "version": version,
        "namespace": ns,
        "values": values,
        "atomic": True,
        "timeout": 900.0,
        "repositoryOpts": {"repo": repo or "https://prometheus-community.github.io/helm-charts"},
    }
    props.update(over)
    return R(RELEASE, props, name)


RES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
KPS_VALUES = {
    "grafana": {"adminPassword": "s3cr3t-from-config", "resources": RES, "service": {"type": "ClusterIP"}},
    "prometheus": {
        "prometheusSpec": {
            "retention": "15d",
            "retentionSize": "80GB",
            "resources": RES,
            "storageSpec": {
                "volumeClaimTemplate": {
                    "spec": {"storageClassName": "gp3-encrypted", "resources": {"requests": {"storage": "100Gi"}}}
                }
            },
        }
    },
    "alertmanager": {"alertmanagerSpec": {"resources": RES}},
    "prometheusOperator": {"resources": RES},
    "kube-state-metrics": {"resources": RES},
    "prometheus-node-exporter": {"resources": RES},
}
KPS = release("kube-prometheus-stack", KPS_VALUES, name="kps")
case(
    "helm-release-pinned-version",
    KPS,
    release("kube-prometheus-stack", KPS_VALUES, version="^88.0.0"),
    "pin it in the component's Chart(...)",
    release("kube-prometheus-stack", KPS_VALUES, version=""),
    True,
)
case(
    "helm-release-atomic",
    KPS,
    release("kube-prometheus-stack", KPS_VALUES, timeout=300.0),
    "use helm_release()",
    R(RELEASE, without(KPS.props, "atomic", "timeout")),
    True,
)
case(
    "monitoring-grafana-admin-password",
    KPS,
    release("kube-prometheus-stack", deep(KPS_VALUES, "grafana.adminPassword", "prom-operator")),
    "set grafanaAdminPassword as a secret",
    release("kube-prometheus-stack", without(KPS_VALUES, "grafana.adminPassword")),
    True,
)
case(
    "monitoring-services-not-public",
    KPS,
    release("kube-prometheus-stack", deep(KPS_VALUES, "grafana.service.type", "LoadBalancer")),
    "keep grafana.service.type: ClusterIP",
    release("kube-prometheus-stack", without(KPS_VALUES, "grafana.service")),
    False,
)
case(
    "monitoring-prometheus-retention-storage",
    KPS,
    release(
        "kube-prometheus-stack",
        deep(KPS_VALUES, "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName", "gp2"),
    ),
    "use one of ['gp3-encrypted']",
    release("kube-prometheus-stack", without(KPS_VALUES, "prometheus.prometheusSpec.storageSpec")),
    True,
)
case(
    "monitoring-components-resources",
    KPS,
    release("kube-prometheus-stack", without(KPS_VALUES, "grafana.resources")),
    "leaves resources unset for grafana.resources",
    release("kube-prometheus-stack", without(KPS_VALUES, "prometheusOperator")),
    True,
)
case(
    "monitoring-namespace-privileged-only-where-needed",
    [ns("monitoring", {"pod-security.kubernetes.io/enforce": "privileged"}), KPS],
    [ns("serving", {"pod-security.kubernetes.io/enforce": "privileged"}), KPS],
    "label it baseline or restricted",
    [R(NAMESPACE, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}, "ns-x")],
    True,
)
DCGM = release(
    "dcgm-exporter",
    {"serviceMonitor": {"enabled": True}},
    name="dcgm",
    repo="https://nvidia.github.io/dcgm-exporter/helm-charts",
)
case(
    "monitoring-dcgm-service-monitor",
    [R(NG, GPU_NG, "ng"), DCGM],
    [R(NG, GPU_NG, "ng"), release("dcgm-exporter", {"serviceMonitor": {"enabled": False}}, name="dcgm")],
    "install dcgm-exporter with serviceMonitor.enabled",
    [R(NG, GPU_NG, "ng"), release("dcgm-exporter", {}, name="dcgm")],
    False,
)
CRDS = release("prometheus-operator-crds", {}, name="crds")
SM = {"metadata": {"name": "llama", "namespace": "serving"}, "spec": {"endpoints": [{"port": "http"}]}}
case(
    "k8s-custom-resource-depends-on-crds",
    [CRDS, R(SERVICE_MONITOR, SM, "sm", depends_on=["crds"])],
    [CRDS, R(SERVICE_MONITOR, SM, "sm")],
    "add depends_on=[monitoring.crds]",
    [CRDS, R(SERVICE_MONITOR, {}, "sm")],
    True,
)

# ------------------------------------------------------------------ ci
RUNNER_SPEC = {
    "containers": [
        {
            "name": "runner",
            "image": "111111111111.dkr.ecr.us-west-2.amazonaws.com/ci-runner@sha256:" + "b" * 64,
            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
        }
    ]
}
RUNNER_VALUES = {
    "githubConfigUrl": "https://github.com/example-org",
    "githubConfigSecret": "arc-github-app",
    "minRunners": 0.0,
    "maxRunners": 5.0,
    "containerMode": {"type": "kubernetes"},
    "template": {"spec": RUNNER_SPEC},
}


def scale_set(values: dict[str, Any], ns_: str = "arc-runners") -> R:
    r = release(
        "oci://ghcr.io/actions/actions-runner-controller-charts/gha-runner-scale-set",
        values,
        name="cpu-runners",
        ns=ns_,
    )
    return R(RELEASE, without(r.props, "repositoryOpts"), "cpu-runners")


case(
    "ci-runner-github-app-auth",
    scale_set(RUNNER_VALUES),
    scale_set(merged(RUNNER_VALUES, githubConfigSecret={"github_token": "ghp_x"})),
    "use the GitHub App",
    scale_set(without(RUNNER_VALUES, "githubConfigSecret")),
    True,
    requireScaleToZero=True,
)
case(
    "ci-runner-no-dind",
    scale_set(RUNNER_VALUES),
    scale_set(deep(RUNNER_VALUES, "containerMode.type", "dind")),
    "set ciRunners.scaleSets.<name>.containerMode: kubernetes",
    scale_set(without(RUNNER_VALUES, "containerMode")),
    False,
)
case(
    "ci-runner-isolated",
    scale_set(RUNNER_VALUES),
    scale_set(RUNNER_VALUES, "serving"),
    "set ciRunners.namespace to a dedicated namespace",
    scale_set(without(RUNNER_VALUES, "template")),
    True,
)

# ------------------------------------------------------------------ cost
case(
    "eks-node-group-gpu-instance-allowlist",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, instanceTypes=["p5.48xlarge"])),
    "change nodePools.gpu-a10g.instanceTypes in stacks/Pulumi.<stack>.yaml",
    R(NG, without(GPU_NG, "instanceTypes")),
    False,
    allowedGpuInstanceTypes=["g5.xlarge"],
)
case(
    "eks-node-group-gpu-max-size",
    R(NG, GPU_NG),
    R(NG, deep(GPU_NG, "scalingConfig.maxSize", 6.0)),
    "lower nodePools.gpu-a10g.maxSize in stacks/Pulumi.<stack>.yaml",
    R(NG, without(GPU_NG, "scalingConfig.maxSize")),
    True,
    maxNodesPerPool=2,
)
case(
    "eks-gpu-capacity-budget",
    [R(NG, GPU_NG, "a"), R(NG, GPU_NG, "b")],
    [R(NG, GPU_NG, "a"), R(NG, deep(GPU_NG, "scalingConfig.maxSize", 4.0), "b")],
    "above the budget of 4",
    [R(NG, without(GPU_NG, "scalingConfig"), "a")],
    False,
    maxGpuNodesTotal=4,
    maxGpusTotal=8,
)
case(
    "eks-node-group-gpu-spot",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, capacityType="ON_DEMAND")),
    "set nodePools.gpu-a10g.capacityType: SPOT",
    R(NG, without(GPU_NG, "capacityType")),
    True,
)
case(
    "eks-node-group-gpu-scale-to-zero",
    R(NG, GPU_NG),
    R(NG, deep(GPU_NG, "scalingConfig.minSize", 1.0)),
    "set nodePools.gpu-a10g.minSize: 0",
    R(NG, without(GPU_NG, "scalingConfig.minSize")),
    True,
)
case(
    "eks-node-group-gpu-scale-from-zero-labels",
    R(NG, GPU_NG),
    R(NG, merged(GPU_NG, labels={"platform.ai/pool": "gpu-a10g"})),
    "carries no platform.ai/accelerator or platform.ai/gpu-model label",
    R(NG, without(GPU_NG, "labels")),
    True,
)
PINNED = deep(GPU_NG, "scalingConfig.desiredSize", 2.0)
case(
    "eks-node-group-desired-size-unmanaged",
    R(NG, PINNED, ignore_changes=["scalingConfig.desiredSize"]),
    R(NG, PINNED),
    "add ignore_changes=['scalingConfig.desiredSize']",
    R(NG, without(GPU_NG, "scalingConfig")),
    False,
)
case(
    "k8s-serving-gpu-replicas-capped",
    dep(gpu_deployment(replicas=1.0)),
    dep(gpu_deployment(replicas=3.0)),
    "lower serving.models.<name>.minReplicas",
    dep(without(gpu_deployment(), "spec.replicas")),
    False,
    maxGpuReplicas=1,
)
case(
    "ec2-launch-template-gp3",
    R(LT, LT_OK),
    R(LT, deep(LT_OK, "blockDeviceMappings.0.ebs.volumeType", "gp2")),
    "set ebs.volumeType: gp3",
    R(LT, without(LT_OK, "blockDeviceMappings.0.ebs.volumeType")),
    True,
)
case(
    "aws-provider-region-allowlist",
    R(PROVIDER, {"region": "us-west-2"}),
    R(PROVIDER, {"region": "ap-south-1"}),
    "set region in stacks/Pulumi.<stack>.yaml",
    R(PROVIDER, {}),
    True,
    allowedRegions=["us-west-2"],
)

# ------------------------------------------------------------------ tagging
DEFAULT_TAGS = '{"tags": ' + __import__("json").dumps(TAGS) + "}"
case(
    "aws-resource-required-tags",
    [
        R(PROVIDER, {"region": "us-west-2", "defaultTags": DEFAULT_TAGS}, "aws"),
        R(VPC, {"tags": {"Name": "vpc"}}, "vpc", provider="aws"),
    ],
    R(VPC, {"tags": {"Name": "vpc", "owner": "ml"}}, "vpc"),
    "lacks tag(s) cost-center, project, environment, managed-by: set them",
    R(VPC, {}, "vpc"),
    True,
    environment="dev",
)
case(
    "ec2-launch-template-tag-propagation",
    R(LT, LT_OK),
    R(LT, merged(LT_OK, tagSpecifications=[{"resourceType": "instance", "tags": TAGS}])),
    "does not tag the volume it launches",
    R(LT, without(LT_OK, "tagSpecifications")),
    True,
)
case(
    "k8s-workload-recommended-labels",
    GOOD,
    dep(deep(deployment(), "metadata.labels", {"app.kubernetes.io/name": "llama"})),
    "lacks label(s) app.kubernetes.io/part-of, team",
    dep(without(deployment(), "metadata.labels")),
    True,
)
case(
    "stack-unique-physical-names",
    [R(REPO, REPO_OK, "a"), R(REPO, merged(REPO_OK, name="other"), "b")],
    [R(REPO, REPO_OK, "a"), R(REPO, REPO_OK, "b")],
    "derive names from the component name and stack",
    [R(REPO, without(REPO_OK, "name"), "a"), R(REPO, without(REPO_OK, "name"), "b")],
    False,
)


# ------------------------------------------------------------------ databases (MLflow backend store) and S3 prefixes
RDS = "aws:rds/instance:Instance"
KEY_ARN = "arn:aws:kms:us-west-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RDS_OK: dict[str, Any] = {
    "identifier": "ai-platform-prod-mlflow",
    "engine": "postgres",
    "storageEncrypted": True,
    "kmsKeyId": KEY_ARN,
    "publiclyAccessible": False,
    "backupRetentionPeriod": 14.0,
    "manageMasterUserPassword": True,
    "multiAz": True,
    "deletionProtection": True,
}
case(
    "rds-instance-encrypted",
    R(RDS, RDS_OK),
    [R(RDS, merged(RDS_OK, storageEncrypted=False)), R(RDS, without(RDS_OK, "kmsKeyId"), "aws-key")],
    "customer-managed",
    R(RDS, without(RDS_OK, "storageEncrypted")),
    True,
)
case(
    "rds-instance-not-public",
    R(RDS, RDS_OK),
    R(RDS, merged(RDS_OK, publiclyAccessible=True)),
    "set publiclyAccessible: false",
    R(RDS, without(RDS_OK, "publiclyAccessible")),
    False,
)
case(
    "rds-instance-backup-retention",
    R(RDS, RDS_OK),
    R(RDS, merged(RDS_OK, backupRetentionPeriod=3.0)),
    "raise mlflow.dbBackupRetentionDays",
    R(RDS, without(RDS_OK, "backupRetentionPeriod")),
    True,
    minBackupRetentionDays=7,
)
case(
    "rds-instance-managed-master-password",
    R(RDS, RDS_OK),
    [R(RDS, merged(without(RDS_OK, "manageMasterUserPassword"), password="hunter2hunter2"))],
    "manageMasterUserPassword: true",
    R(RDS, without(RDS_OK, "manageMasterUserPassword")),
    True,
)
case(
    "rds-instance-durability",
    R(RDS, RDS_OK),
    [R(RDS, merged(RDS_OK, multiAz=False)), R(RDS, merged(RDS_OK, deletionProtection=False), "unprotected")],
    "in stacks/Pulumi.<stack>.yaml",
    R(RDS, without(RDS_OK, "multiAz", "deletionProtection")),
    True,
    requireMultiAz=True,
    requireDeletionProtection=True,
)


def _s3_grant(resource: str, actions: Sequence[str] = ("s3:GetObject", "s3:PutObject")) -> R:
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": [resource]}]}
    return R(ROLE_POLICY, {"policy": json.dumps(doc), "role": "r"}, "grant")


ARTIFACTS = R(BUCKET, {"bucket": "ai-platform-dev-artifacts-x"}, "artifacts")
case(
    "iam-role-s3-prefix-scoped",
    [ARTIFACTS, _s3_grant("arn:aws:s3:::ai-platform-dev-artifacts-x/dvc/*"), _s3_grant("arn:aws:s3:::state-bucket/*")],
    [ARTIFACTS, _s3_grant("arn:aws:s3:::ai-platform-dev-artifacts-x/*")],
    "scope it to a key prefix",
    [ARTIFACTS, R(ROLE_POLICY, {"role": "r"}, "grant")],
    False,
)


# ------------------------------------------------------------------ secrets
case(
    "k8s-container-no-secret-literals",
    dep(
        deployment(
            pod(
                container(
                    args=["--model", "/models/llama", "--max-num-batched-tokens", "8192", "--api-key-file", "/run/k"],
                    env=[{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}],
                )
            )
        )
    ),
    dep(deployment(pod(container(args=["--api-key", "sk-" + "a1" * 16])))),
    "args[1] is the value of --api-key, a credential; take it from a Kubernetes Secret",
    dep(deployment(pod(container(args=None, env=None)))),
    False,
)


# The caps price the plan with the committed us-west-2 table: 2 on-demand g5.xlarge at ceiling stay
# under $2,000/month, 4 do not (each is over $700/month at any plausible refresh).
_CAP_PROVIDER = R(PROVIDER, {"region": "us-west-2"}, "aws")
case(
    "cost-monthly-caps",
    [_CAP_PROVIDER, R(NG, merged(GPU_NG, capacityType="ON_DEMAND"), "gpu")],
    [_CAP_PROVIDER, R(NG, deep(merged(GPU_NG, capacityType="ON_DEMAND"), "scalingConfig.maxSize", 4.0), "gpu")],
    "exceeds this environment's cap of $2,000/month (prices us-west-2",
    [R(NG, without(GPU_NG, "scalingConfig"), "gpu")],
    False,
    maxMonthlyCeiling=2000,
)
# Governance rows and CI-backend rows (GitLab Runner, Jenkins, CircleCI) live in their own modules
# (registered into CASES on import).
import tests.policy.cases_ci_backends  # noqa: E402
import tests.policy.cases_governance  # noqa: E402
import tests.policy.cases_karpenter  # noqa: E402, F401
