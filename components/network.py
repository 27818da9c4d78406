"""Network: the VPC the platform runs in.

Provisions:
- a VPC with DNS support, and its default security group stripped of every rule;
- a public and a private subnet in each availability zone, carved from the VPC CIDR (private
  subnets are large because the VPC CNI gives every pod a VPC IP); nodes and pods use only the
  private subnets, and no subnet assigns public IPs on launch;
- an internet gateway, and NAT gateways (one, or one per AZ) with private route tables;
- load-balancer and cluster subnet tags (``kubernetes.io/role/elb``, ``…/internal-elb``,
  ``kubernetes.io/cluster/<name>``);
- VPC flow logs (all traffic) to a CloudWatch log group with a set retention, written through a
  role only the flow-logs service of this account can assume;
- optionally an S3 gateway endpoint and ECR api/dkr and STS interface endpoints, so image pulls
  and IRSA token exchanges do not pay for NAT.

Outputs: ``vpc``, ``private_subnets``, ``public_subnets`` (resources), and ``vpc_id``,
``private_subnet_ids``, ``public_subnet_ids``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from components._common import assume_role_policy, policy_json, retained

_Tagger = Callable[..., dict[str, str]]


@dataclass(frozen=True)
class NetworkArgs:
    """Inputs of :class:`Network`."""

    cidr: str
    """IPv4 CIDR of the VPC."""
    availability_zones: Sequence[str]
    """AZs to span; each gets one public and one private subnet."""
    cluster_name: str
    """EKS cluster name, for the ``kubernetes.io/cluster/<name>`` subnet tags."""
    region: str
    """AWS region (endpoint service names)."""
    account_id: str
    """AWS account (the flow-logs role's confused-deputy condition)."""
    nat_gateways: Literal["single", "per-az"] = "per-az"
    """One NAT gateway per AZ (default, survives an AZ outage) or a single one (cheaper)."""
    private_subnet_prefix: int = 19
    """Prefix length of the private subnets (pod IPs come from these)."""
    public_subnet_prefix: int = 24
    """Prefix length of the public subnets (load balancers and NAT only)."""
    flow_log_retention_days: int = 90
    """Retention of the flow-log group."""
    vpc_endpoints: bool = True
    """Create the S3 gateway and ECR/STS interface endpoints."""
    protect: bool = True
    """Protect the flow-log group (audit data) from deletion."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every resource."""
    permissions_boundary: pulumi.Input[str] | None = None
    """ARN of the permissions boundary every IAM role here carries (``DeployIdentity.boundary_arn``), so the CI
    deploy role, which may only manage roles under it, can manage them (docs/adr/0007). None: no boundary."""
    iam_path: str = "/"
    """IAM path of the roles and policies created here, ``/<project>/`` from infra.config.iam_path(): the CI deploy
    role may create and tag only IAM resources under it (ADR 0007). Changing it replaces them (paths are
    immutable)."""


# The tag Karpenter's EC2NodeClass selectors look for on node subnets and security groups
# (Karpenter getting-started: "Add tags to subnets and security groups").
DISCOVERY_TAG = "karpenter.sh/discovery"


def subnet_cidrs(cidr: str, azs: int, private_prefix: int, public_prefix: int) -> tuple[list[str], list[str]]:
    """Private subnets take the first private-sized blocks; public ones are carved from the last block."""
    vpc = ipaddress.IPv4Network(cidr)
    blocks = list(vpc.subnets(new_prefix=private_prefix))
    private = [str(b) for b in blocks[:azs]]
    public = [str(s) for s in list(blocks[-1].subnets(new_prefix=public_prefix))[:azs]]
    return private, public


# Interface endpoints that keep image pulls and IRSA off the NAT path
# (https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html lists them).
_INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts")


class Network(pulumi.ComponentResource):
    """A multi-AZ VPC with public/private subnets, NAT, flow logs and private endpoints."""

    vpc: aws.ec2.Vpc
    private_subnets: list[aws.ec2.Subnet]
    public_subnets: list[aws.ec2.Subnet]
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:Network", name, None, opts)
        tags = dict(args.tags)

        def tagged(role: str, **extra: str) -> dict[str, str]:
            return {**tags, "Name": f"{name}-{role}", **extra}

        igw = self._vpc(name, args, tagged)
        private_cidrs, public_cidrs = subnet_cidrs(
            args.cidr, len(args.availability_zones), args.private_subnet_prefix, args.public_subnet_prefix
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tagged("public-rt"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.public_subnets, self.private_subnets = [], []
        nats: list[aws.ec2.NatGateway] = []
        private_rts: list[aws.ec2.RouteTable] = []
        for i, az in enumerate(args.availability_zones):
            suffix = az[-1] if az[-1].isalpha() else str(i)
            pub = self._public_subnet(name, args, az, suffix, public_cidrs[i], public_rt, tagged)
            if args.nat_gateways == "per-az" or i == 0:
                nats.append(self._nat(name, suffix, pub, igw, tagged))
            private_rts.append(self._private_subnet(name, args, az, suffix, private_cidrs[i], nats[-1], tagged))

        self._flow_logs(name, args, tagged)
        if args.vpc_endpoints:
            self._endpoints(name, args, private_rts, tagged)

        self.vpc_id = self.vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in self.private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in self.public_subnets])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )

    def _vpc(self, name: str, args: NetworkArgs, tagged: _Tagger) -> aws.ec2.InternetGateway:
        """The VPC, its closed default security group and its internet gateway (returned)."""
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tagged("vpc"),
            opts=child,
        )
        # Adopting the default SG with no rules closes it (CIS 5.4 / CKV2_AWS_12).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc.id, ingress=[], egress=[], tags=tagged("default-sg"), opts=child
        )
        return aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=tagged("igw"), opts=child)

    def _public_subnet(
        self,
        name: str,
        args: NetworkArgs,
        az: str,
        suffix: str,
        cidr: str,
        route_table: aws.ec2.RouteTable,
        tagged: _Tagger,
    ) -> aws.ec2.Subnet:
        child = pulumi.ResourceOptions(parent=self)
        pub = aws.ec2.Subnet(
            f"{name}-public-{suffix}",
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=az,
            map_public_ip_on_launch=False,
            tags=tagged(f"public-{suffix}", **_cluster_tag(args), **{"kubernetes.io/role/elb": "1"}),
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-{suffix}-rta", subnet_id=pub.id, route_table_id=route_table.id, opts=child
        )
        self.public_subnets.append(pub)
        return pub

    def _nat(
        self, name: str, suffix: str, subnet: aws.ec2.Subnet, igw: aws.ec2.InternetGateway, tagged: _Tagger
    ) -> aws.ec2.NatGateway:
        eip = aws.ec2.Eip(
            f"{name}-nat-{suffix}-eip",
            domain="vpc",
            tags=tagged(f"nat-{suffix}-eip"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.ec2.NatGateway(
            f"{name}-nat-{suffix}",
            allocation_id=eip.allocation_id,
            subnet_id=subnet.id,
            connectivity_type="public",
            tags=tagged(f"nat-{suffix}"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
        )

    def _private_subnet(
        self,
        name: str,
        args: NetworkArgs,
        az: str,
        suffix: str,
        cidr: str,
        nat: aws.ec2.NatGateway,
        tagged: _Tagger,
    ) -> aws.ec2.RouteTable:
        """A private subnet routed through ``nat``; returns its route table (the S3 gateway endpoint joins it)."""
        child = pulumi.ResourceOptions(parent=self)
        priv = aws.ec2.Subnet(
            f"{name}-private-{suffix}",
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=az,
            map_public_ip_on_launch=False,
            # karpenter.sh/discovery: where Karpenter's EC2NodeClass subnetSelectorTerms find node subnets.
            tags=tagged(
                f"private-{suffix}",
                **_cluster_tag(args),
                **{"kubernetes.io/role/internal-elb": "1", DISCOVERY_TAG: args.cluster_name},
            ),
            opts=child,
        )
        rt = aws.ec2.RouteTable(
            f"{name}-private-{suffix}-rt",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
            tags=tagged(f"private-{suffix}-rt"),
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-private-{suffix}-rta", subnet_id=priv.id, route_table_id=rt.id, opts=child
        )
        self.private_subnets.append(priv)
        return rt

    def _flow_logs(self, name: str, args: NetworkArgs, tagged: _Tagger) -> None:
        child = pulumi.ResourceOptions(parent=self)
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            # Under the cluster's name (project and stack), not the component's: two stacks of one account and
            # region would otherwise both create /aws/vpc/network/flow-logs.
            name=f"/aws/vpc/{args.cluster_name}/flow-logs",
            retention_in_days=args.flow_log_retention_days,
            tags=tagged("flow-logs"),
            opts=retained(self, args.protect),
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            # aws:SourceAccount is the confused-deputy guard from the VPC flow-logs IAM role docs.
            assume_role_policy=assume_role_policy(
                {"Service": "vpc-flow-logs.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": args.account_id}},
            ),
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary,
            tags=tagged("flow-logs-role"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: policy_json(
                    [
                        {
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                            "Resource": [arn, f"{arn}:*"],
                        }
                    ]
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tagged("flow-log"),
            opts=child,
        )

    def _endpoints(self, name: str, args: NetworkArgs, private_rts: list[aws.ec2.RouteTable], tagged: _Tagger) -> None:
        child = pulumi.ResourceOptions(parent=self)
        aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            tags=tagged("s3-endpoint"),
            opts=child,
        )
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=self.vpc.id,
            description="HTTPS from inside the VPC to the interface endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[args.cidr],
                )
            ],
            egress=[],
            tags=tagged("endpoints-sg"),
            opts=child,
        )
        for svc in _INTERFACE_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                f"{name}-{svc.replace('.', '-')}-endpoint",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{args.region}.{svc}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.private_subnets],
                security_group_ids=[sg.id],
                tags=tagged(f"{svc.replace('.', '-')}-endpoint"),
                opts=child,
            )


def _cluster_tag(args: NetworkArgs) -> dict[str, str]:
    """The tag that marks a subnet as the cluster's (load balancer controller subnet discovery)."""
    return {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
