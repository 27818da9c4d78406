"""Fixture rows of the policies in policy/ai_platform_policies/nodes.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    ATTACH,
    GPU_NG,
    LT,
    LT_OK,
    NG,
    NODE_ROLE,
    case,
    deep,
    dep,
    deployment,
    gpu_container,
    gpu_deployment,
    merged,
    pod,
    without,
)
from tests.policy.harness import R

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
