"""How AWS names what the program creates: the input that carries each type's physical name, and the
prefix of the ids AWS generates.

A type in :data:`NAME_KEYS` is auto-named by the provider when that input is unset; the engine's mocks fill an
auto-name there (``<logical name>-<hash>``), as the provider would with its random
suffix. The policy pack's ``stack-unique-physical-names`` check reads the same table from its own copy
(``policy/ai_platform_policies/tagging.py`` ``NAME_KEYS``: the pack must load alone under the Pulumi CLI);
tests/preview/test_aws_names.py keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping

NAME_KEYS: Mapping[str, str] = {
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:ecr/repository:Repository": "name",
    "aws:eks/cluster:Cluster": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:s3/bucket:Bucket": "bucket",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:kms/alias:Alias": "name",
    "aws:secretsmanager/secret:Secret": "name",
    "aws:sqs/queue:Queue": "name",
}

# The prefix of the id AWS generates (vpc-0abc…), for the types whose id is not their name or ARN.
ID_PREFIX: Mapping[str, str] = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/flowLog:FlowLog": "fl",
}
