"""What every cases_<topic>.py module builds its rows with: type tokens, the ``Case`` row and ``case()`` that
registers it into ``CASES``, prop editors (``without``, ``merged``, ``deep``), pod specs, and the fixtures
several topics share.

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


# ------------------------------------------------------------------ fixtures several topics use
REPO_OK = {
    "name": "vllm",
    "imageTagMutability": "IMMUTABLE",
    "imageScanningConfiguration": {"scanOnPush": True},
    "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": "arn:aws:kms:us-west-2:1:key/k"}],
    "tags": TAGS,
}

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

NODE_ROLE = R(
    ROLE,
    {
        "assumeRolePolicy": '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
    },
    "node-role",
)


def doc(*stmts: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(stmts)})


GOOD = dep(deployment())

NS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


def ns(name: str = "serving", labels: dict[str, str] | None = None) -> R:
    return R(
        NAMESPACE, {"metadata": {"name": name, "labels": dict(NS_LABELS if labels is None else labels)}}, f"ns-{name}"
    )


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
