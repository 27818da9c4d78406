"""DeployRunner: an AWS CodeBuild-hosted GitHub Actions runner inside the stack's VPC (ADR 0008).

The clusters' API endpoints are private (staging, prod) or public only to an office allowlist (dev), so a
GitHub-hosted runner cannot reach them. Jobs that run ``pulumi up/preview/refresh`` select this runner with
``runs-on: codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}``; CodeBuild starts one
ephemeral build per queued job, which registers as a just-in-time self-hosted runner
(https://docs.aws.amazon.com/codebuild/latest/userguide/action-runner.html).

Provisions:
- a security group for the builds: egress 443 only (GitHub, AWS APIs, the cluster endpoint; the Amazon DNS
  resolver is not filtered by security groups), no ingress;
- an ingress rule on the cluster security group admitting that group on 443, so the builds reach the private
  API endpoint;
- the build log group, with a retention and created before the project;
- the CodeBuild service role: write its logs, create its ENIs in the given private subnets (the VPC statement
  of https://docs.aws.amazon.com/codebuild/latest/userguide/auth-and-access-control-iam-identity-based-access-control.html#customer-managed-policies-example-create-vpc-network-interface),
  and use the CodeConnections connection. Nothing else: jobs get AWS credentials through GitHub OIDC and the
  stack's roles (configure-aws-credentials prefers OIDC when ``id-token: write`` is granted), never from it;
- the project (source GITHUB with project-level CODECONNECTIONS auth, builds in the private subnets);
- the repository webhook, filtered to ``WORKFLOW_JOB_QUEUED`` of the named workflows.

Outputs: ``project_name``, ``security_group_id``, ``runner_label`` (the ``runs-on`` prefix).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components._common import assume_role_policy, policy_json, retained
from components.network import Network

HTTPS = 443


@dataclass(frozen=True)
class DeployRunnerArgs:
    """Inputs of :class:`DeployRunner`."""

    project_name: str
    """Physical CodeBuild project name; jobs select the runner with ``codebuild-<project_name>-<run id>-<attempt>``.
    Unique per stack: every project's webhook sees every queued job of the repository."""
    github_repository: str
    """``owner/repo`` whose workflow jobs the runner serves."""
    connection_arn: str
    """AWS CodeConnections connection to GitHub (created and authorised in the console once)."""
    network: Network
    """The stack's VPC; builds run in its private subnets (NAT for GitHub, endpoints for AWS)."""
    cluster_security_group_id: pulumi.Input[str]
    """The EKS cluster security group, which gets an ingress rule for the runner on 443."""
    account_id: str
    """The stack's AWS account (trust condition, ARNs)."""
    region: str
    """AWS region (ARNs)."""
    compute_type: str = "BUILD_GENERAL1_MEDIUM"
    """CodeBuild compute type."""
    image: str = "aws/codebuild/standard:7.0"
    """Managed build image (Ubuntu 22.04, AWS CLI v2)."""
    build_timeout_minutes: int = 180
    """Longest build, longer than any job the runner serves."""
    workflows: Sequence[str] = ("deploy", "preview", "drift")
    """Workflow names whose queued jobs start a build (webhook ``WORKFLOW_NAME`` filter)."""
    log_retention_days: int = 30
    """Retention of the build logs."""
    protect: bool = True
    """Retain the log group (job logs are the deploy audit trail) on delete."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every resource."""
    permissions_boundary: pulumi.Input[str] | None = None
    """Permissions boundary of the role (``DeployIdentity.boundary_arn``): the CI deploy role may manage only roles
    under it (ADR 0007)."""
    iam_path: str = "/"
    """IAM path of the roles and policies created here, ``/<project>/`` from infra.config.iam_path(): the CI deploy
    role may create and tag only IAM resources under it (ADR 0007). Changing it replaces them (paths are
    immutable)."""


def workflow_filter(workflows: Sequence[str]) -> str:
    """The ``WORKFLOW_NAME`` regular expression admitting exactly these workflow names."""
    return "^(" + "|".join(w.replace(".", r"\.") for w in workflows) + ")$"


class DeployRunner(pulumi.ComponentResource):
    """A CodeBuild project that runs GitHub Actions jobs inside the stack's VPC."""

    project: aws.codebuild.Project
    project_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    runner_label: str

    def __init__(self, name: str, args: DeployRunnerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:DeployRunner", name, None, opts)
        tags = dict(args.tags)

        sg = self._security_group(name, args, tags)
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/codebuild/{args.project_name}",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=retained(self, args.protect),
        )
        role, role_policy = self._role(name, args, logs, sg, tags)
        self.project = self._project(name, args, role, sg, logs, [role_policy], tags)
        self._webhook(name, args)

        self.project_name = self.project.name
        self.security_group_id = sg.id
        self.runner_label = f"codebuild-{args.project_name}"
        self.register_outputs(
            {
                "project_name": self.project_name,
                "security_group_id": self.security_group_id,
                "runner_label": self.runner_label,
            }
        )

    def _security_group(self, name: str, args: DeployRunnerArgs, tags: Mapping[str, str]) -> aws.ec2.SecurityGroup:
        """The runner's group (egress 443 only) and the cluster API's ingress from it."""
        child = pulumi.ResourceOptions(parent=self)
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.network.vpc_id,
            description=f"CodeBuild GitHub Actions runner {args.project_name}: egress 443 only",
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=HTTPS, to_port=HTTPS, cidr_blocks=["0.0.0.0/0"],
                    description="GitHub, AWS APIs and the cluster API endpoint",
                )
            ],
            tags={**tags, "Name": f"{name}-sg"},
            opts=child,
        )  # fmt: skip
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-cluster-api",
            security_group_id=args.cluster_security_group_id,
            referenced_security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description=f"Kubernetes API from the deploy runner {args.project_name}",
            tags=dict(tags),
            opts=child,
        )
        return sg

    def _webhook(self, name: str, args: DeployRunnerArgs) -> None:
        """Queued workflow jobs of the allowed workflows start a build (which runs the job)."""
        aws.codebuild.Webhook(
            f"{name}-webhook",
            project_name=self.project.name,
            build_type="BUILD",
            filter_groups=[
                aws.codebuild.WebhookFilterGroupArgs(
                    filters=[
                        aws.codebuild.WebhookFilterGroupFilterArgs(type="EVENT", pattern="WORKFLOW_JOB_QUEUED"),
                        aws.codebuild.WebhookFilterGroupFilterArgs(
                            type="WORKFLOW_NAME", pattern=workflow_filter(args.workflows)
                        ),
                    ]
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _role(
        self,
        name: str,
        args: DeployRunnerArgs,
        logs: aws.cloudwatch.LogGroup,
        sg: aws.ec2.SecurityGroup,
        tags: Mapping[str, str],
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        """The service role: logs, ENIs in the private subnets, the connection; nothing in the platform."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy(
                {"Service": "codebuild.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": args.account_id}},
            ),
            description=f"CodeBuild service role of the GitHub Actions runner {args.project_name}",
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary,
            tags=dict(tags),
            opts=child,
        )
        policy = pulumi.Output.all(
            logs.arn, sg.arn, args.network.vpc.arn, [s.arn for s in args.network.private_subnets]
        ).apply(lambda a: policy_json(_service_statements(args, _Arns(a[0], a[1], a[2], a[3]))))
        return role, aws.iam.RolePolicy(f"{name}-role-policy", role=role.id, policy=policy, opts=child)

    def _project(
        self,
        name: str,
        args: DeployRunnerArgs,
        role: aws.iam.Role,
        sg: aws.ec2.SecurityGroup,
        logs: aws.cloudwatch.LogGroup,
        depends_on: Sequence[pulumi.Resource],
        tags: Mapping[str, str],
    ) -> aws.codebuild.Project:
        return aws.codebuild.Project(
            f"{name}-project",
            name=args.project_name,
            description=f"GitHub Actions runner for {args.github_repository} inside the VPC (deploy path, ADR 0008)",
            service_role=role.arn,
            build_timeout=args.build_timeout_minutes,
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type="LINUX_CONTAINER",
                compute_type=args.compute_type,
                image=args.image,
                image_pull_credentials_type="CODEBUILD",
                privileged_mode=False,
            ),
            # Project-level credentials: no account-wide aws.codebuild.SourceCredential to collide with
            # (pulumi-aws 7.x ProjectSourceAuthArgs: type CODECONNECTIONS, resource = the connection ARN).
            source=aws.codebuild.ProjectSourceArgs(
                type="GITHUB",
                location=f"https://github.com/{args.github_repository}",
                auth=aws.codebuild.ProjectSourceAuthArgs(type="CODECONNECTIONS", resource=args.connection_arn),
            ),
            vpc_config=aws.codebuild.ProjectVpcConfigArgs(
                vpc_id=args.network.vpc_id,
                subnets=[s.id for s in args.network.private_subnets],
                security_group_ids=[sg.id],
            ),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    status="ENABLED", group_name=logs.name
                ),
                s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )


@dataclass(frozen=True)
class _Arns:
    log_group: str
    security_group: str
    vpc: str
    subnets: Sequence[str]


def _service_statements(args: DeployRunnerArgs, arns: _Arns) -> list[dict[str, object]]:
    """Logs, the VPC network-interface statements of the CodeBuild docs (scoped to this VPC), the connection."""
    return [
        {
            "Sid": "BuildLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [arns.log_group, f"{arns.log_group}:*"],
        },
        *_network_statements(args, arns),
        {
            "Sid": "GitHubConnection",
            "Effect": "Allow",
            "Action": [
                "codeconnections:GetConnectionToken",
                "codeconnections:GetConnection",
                "codeconnections:UseConnection",
                "codestar-connections:GetConnectionToken",
                "codestar-connections:GetConnection",
                "codestar-connections:UseConnection",
            ],
            "Resource": args.connection_arn,
        },
    ]


def _network_statements(args: DeployRunnerArgs, arns: _Arns) -> list[dict[str, object]]:
    """The VPC statements of the CodeBuild docs: ENIs in this VPC's private subnets only."""
    enis = f"arn:aws:ec2:{args.region}:{args.account_id}:network-interface/*"
    return [
        {
            # Describe* actions support no resource-level permissions.
            "Sid": "VpcDescribe",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs",
            ],
            "Resource": "*",
        },
        {
            "Sid": "BuildEnis",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterface",
            "Resource": [enis, arns.security_group, *sorted(arns.subnets)],
        },
        {
            "Sid": "BuildEnisInThisVpc",
            "Effect": "Allow",
            "Action": "ec2:DeleteNetworkInterface",
            "Resource": enis,
            "Condition": {"ArnEquals": {"ec2:Vpc": arns.vpc}},
        },
        {
            "Sid": "VpcNetworkInterfaces",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterfacePermission",
            "Resource": enis,
            "Condition": {
                "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
                "ArnEquals": {"ec2:Subnet": sorted(arns.subnets)},
            },
        },
    ]
