"""``blueprint image-cache STACK --pool POOL``: build a Bottlerocket data-volume snapshot with the serving
images pre-pulled, for a Karpenter GPU pool's ``imagePull: snapshot``.

A node launched from the snapshot has the images on its data volume already: the pull of a multi-GB
serving image drops from minutes to seconds (docs/cost-and-time.md, cold start). The flow is the one
the aws-samples "bottlerocket-images-cache" sample describes (README "How this script works": launch a
Bottlerocket instance, reach it through SSM, pull the images with SSM Run Command, stop it, snapshot
the data volume, terminate it), written here on boto3 with the stack's own settings:

1. ``ssm:GetParameter`` the cluster version's Bottlerocket AMI (``/aws/service/bottlerocket/aws-k8s-<version>/
   x86_64/latest/image_id``, the ``-nvidia`` variant only for a GPU builder; Bottlerocket docs, "Finding an AMI
   ID"), unless ``--ami-id``;
2. ``iam:GetInstanceProfile``, ``iam:ListRolePolicies`` and ``iam:ListAttachedRolePolicies`` the builder profile (SSM managed-instance
   core and ECR pull), and ``ec2:DescribeSubnets`` the subnet (``--subnet-id``, else the default VPC's default
   subnet);
3. ``ec2:RunInstances`` of a general-purpose builder (pulls need no GPU) with IMDSv2 and an encrypted gp3
   data volume ``/dev/xvdb`` the size of the pool's disk (a snapshot may not be larger than the volume the
   EC2NodeClass restores it into);
4. ``ssm:DescribeInstanceInformation`` until the agent in Bottlerocket's control container is Online;
5. ``ssm:SendCommand`` ``apiclient exec admin true`` (with ``ssm:GetCommandInvocation``), retried with
   backoff until the admin container enabled in the user data is up: the control container's agent comes
   Online first;
6. per image ``ssm:SendCommand`` (``AWS-RunShellScript``) running ``ctr images pull`` in the ``k8s.io``
   namespace through the admin container (``apiclient exec admin sheltie``), and ``ssm:GetCommandInvocation``
   until it finishes. The ECR credential is obtained *on the instance*, from its instance profile (see
   :data:`ECR_CREDENTIAL_PROVIDER`): no credential passes through the command's parameters, which
   ``ssm:ListCommands`` returns for 30 days;
7. ``ec2:StopInstances`` (a consistent volume), ``ec2:CreateSnapshot`` of ``/dev/xvdb`` with tags,
   ``ec2:DescribeSnapshots`` until ``completed`` (on a timeout or error: ``ec2:DeleteSnapshot``);
8. ``ec2:TerminateInstances`` — also when any step fails, so no builder is left running.

Then it prints the snapshot id and the config keys to set. Rebuild when a model's image changes
(docs/operations.md, "Pre-pulled image cache").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from blueprint.ops._aws import (
    EXIT_OK,
    Aws,
    OpsError,
    OpsUsageError,
    add_common_arguments,
    connect_from_args,
    error_code,
    guarded,
    load_stack_config,
    stdout,
)

DATA_DEVICE = "/dev/xvdb"  # Bottlerocket's data volume (bottlerocket README, "Default volumes")
TAG_KEY = "platform.ai/image-cache"
DEFAULT_PROFILE_SUFFIX = "image-cache-builder"
# Bottlerocket settings (TOML user data): the admin host container is off by default and ``apiclient exec
# admin`` needs it (the sample's ebs-snapshot-instance.yaml sets the same; Bottlerocket docs, "Admin container").
USER_DATA = "[settings.host-containers.admin]\nenabled = true\n"
# The builder pulls and unpacks images, it needs no GPU: a general-purpose type with up to 12.5 Gbps of
# network and 10 Gbps of EBS bandwidth (the aws-samples bottlerocket-images-cache snapshot.sh defaults to a
# general-purpose m5.large with the non-NVIDIA aws-k8s variant; the data volume's containerd layout is the
# variant's, not the instance's). --instance-type overrides it.
BUILDER_INSTANCE_TYPE = "m6i.xlarge"
# Through the admin container, containerd's CLI in the namespace the kubelet's CRI reads
# (bottlerocket-images-cache snapshot.sh; Bottlerocket docs, "Admin container"). ``sheltie CMD`` runs CMD in
# the host's namespaces (bottlerocket-admin-container ``sheltie``: ``nsenter -t 1 -a -- "$@"``).
CTR_PULL = (
    "sheltie ctr -a /run/containerd/containerd.sock -n k8s.io images pull --label io.cri-containerd.image=managed"
)
# No credential travels in SSM: ``ssm:SendCommand`` parameters are returned by ``ssm:ListCommands`` for 30 days,
# and the sample's ``--user AWS:$(aws ecr get-login-password)`` would put a 12-hour token there carrying all the
# operator may do in ECR. The instance gets its own token instead: Bottlerocket's Kubernetes variants ship the
# kubelet's ECR credential provider (bottlerocket packages/ecr-credential-provider/ecr-credential-provider.spec
# installs it in /usr/libexec/kubernetes/kubelet/plugins), which answers a CredentialProviderRequest on stdin
# with the instance profile's ECR credentials (kubernetes/cloud-provider-aws, cmd/ecr-credential-provider;
# kubelet credential provider API credentialprovider.kubelet.k8s.io/v1). The admin container has no AWS CLI
# (bottlerocket-admin-container Dockerfile installs jq, openssl, openssh, sudo, ...), so jq reads the answer.
# The token then lives only in the builder's memory and ctr's argv on a throwaway instance, and it is the
# instance profile's (ECR pull only), not the operator's.
ECR_CREDENTIAL_PROVIDER = "/usr/libexec/kubernetes/kubelet/plugins/ecr-credential-provider"
_PRIVATE_ECR = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
# The admin container is enabled in the user data but starts after the control container's SSM agent is Online.
ADMIN_READY = "apiclient exec admin true"
ADMIN_ATTEMPTS = 8
# Managed policies the builder role needs (AWS managed policy reference): SSM to run the pulls, ECR to pull.
SSM_POLICY = "AmazonSSMManagedInstanceCore"
ECR_PULL_POLICIES = ("AmazonEC2ContainerRegistryPullOnly", "AmazonEC2ContainerRegistryReadOnly")


def pull_command(image: str) -> str:
    """The shell line SSM runs for ``image``: a private ECR image gets the instance's own token first."""
    if not _PRIVATE_ECR.match(image):
        return f"apiclient exec admin {CTR_PULL} {shlex.quote(image)}"
    request = json.dumps(
        {"apiVersion": "credentialprovider.kubelet.k8s.io/v1", "kind": "CredentialProviderRequest", "image": image},
        separators=(",", ":"),
    )
    script = (
        "set -euo pipefail; "
        f"pw=$(printf %s {shlex.quote(request)} | HOME=/root sheltie {ECR_CREDENTIAL_PROVIDER} "
        "| jq -er '.auth[].password'); "
        f'{CTR_PULL} --user "AWS:$pw" {shlex.quote(image)}'
    )
    return f"apiclient exec admin bash -c {shlex.quote(script)}"


@dataclass(frozen=True)
class BuildPlan:
    """What the build needs, resolved from the stack file and the command line."""

    stack: str
    pool: str
    region: str
    ami_parameter: str
    ami_id: str | None
    instance_type: str
    instance_profile: str
    subnet_id: str | None
    volume_gib: int
    images: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)

    def calls(self) -> list[str]:
        """The API calls in order, for ``--dry-run``."""
        subnet = self.subnet_id or "the default VPC's default subnet"
        ami = self.ami_id or f"{self.ami_parameter} (ssm:GetParameter)"
        pulls = [
            f"ssm:SendCommand AWS-RunShellScript: ctr images pull {i}"
            + (" (ECR token from the instance profile, on the instance)" if _PRIVATE_ECR.match(i) else "")
            for i in self.images
        ]
        return [
            *([] if self.ami_id else [f"ssm:GetParameter {self.ami_parameter}"]),
            f"iam:GetInstanceProfile {self.instance_profile}, iam:ListRolePolicies and ListAttachedRolePolicies of its role",
            f"ec2:DescribeSubnets {subnet}",
            f"ec2:RunInstances {self.instance_type} from {ami}, IMDSv2, {DATA_DEVICE} gp3 encrypted "
            f"{self.volume_gib} GiB, tags {TAG_KEY}={self.pool}",
            "ssm:DescribeInstanceInformation until PingStatus Online",
            f"ssm:SendCommand AWS-RunShellScript: {ADMIN_READY} (retried with backoff until the admin container is up)",
            *pulls,
            "ssm:GetCommandInvocation until each command finishes",
            "ec2:StopInstances, then ec2:DescribeInstances until stopped",
            f"ec2:CreateSnapshot of {DATA_DEVICE} with tags, then ec2:DescribeSnapshots until completed "
            "(ec2:DeleteSnapshot if it fails or times out)",
            "ec2:TerminateInstances (also when a step fails)",
        ]


class Ssm(Protocol):
    """The SSM side of the build (a seam: the emulator does not run commands on instances)."""

    def wait_online(self, instance_id: str) -> None: ...

    def run(self, instance_id: str, command: str, comment: str) -> None: ...


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``image-cache`` to the CLI."""
    p = subparsers.add_parser(
        "image-cache",
        help="build a Bottlerocket data-volume snapshot with a pool's serving images pre-pulled",
        description="Launch a Bottlerocket builder, pull the images through SSM, snapshot its data volume.",
    )
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    p.add_argument("--pool", required=True, help="Karpenter GPU pool with a Bottlerocket amiType")
    p.add_argument("--image", action="append", default=[], metavar="REF", help="an extra image (repeatable)")
    p.add_argument("--subnet-id", help="builder subnet with a route to ECR and SSM (default: default VPC subnet)")
    p.add_argument("--instance-profile", help=f"builder instance profile (default <project>-{DEFAULT_PROFILE_SUFFIX})")
    p.add_argument(
        "--instance-type", help=f"builder instance type (default {BUILDER_INSTANCE_TYPE}: pulls need no GPU)"
    )
    p.add_argument("--ami-id", help="Bottlerocket AMI (default: the latest for the cluster version, from SSM)")
    p.add_argument("--dry-run", action="store_true", help="print the plan of API calls and change nothing")
    p.add_argument("--profile", help="AWS profile (default: ambient credentials)")
    add_common_arguments(p)
    p.set_defaults(handler=guarded(run))


def plan_from_config(args: argparse.Namespace) -> BuildPlan:
    """The build plan for ``args.stack``/``args.pool`` (usage errors name the key to fix)."""
    from infra.config import GPU_FAMILIES, PROJECT

    cfg = load_stack_config(args.stack)
    pools = cfg.resolved_node_pools()
    pool = pools.get(args.pool)
    if pool is None:
        raise OpsUsageError(f"stack {args.stack} has no node pool {args.pool!r}; pools: {', '.join(pools)}")
    if pool.karpenter is None or not pool.ami_type.startswith("BOTTLEROCKET") or not pool.gpu:
        raise OpsUsageError(
            f"nodePools.{args.pool}: the image cache is for a Karpenter GPU pool with a Bottlerocket amiType "
            f"(BOTTLEROCKET_x86_64_NVIDIA); it is {pool.ami_type}"
            + ("" if pool.karpenter else " and not provisioned by Karpenter (nodeProvisioner: karpenter)")
        )
    registry = f"{cfg.account_id}.dkr.ecr.{cfg.region}.amazonaws.com"
    images = list(dict.fromkeys([*serving_images(cfg, registry), *args.image]))
    if not images:
        raise OpsUsageError("no images to cache: the stack deploys no model; pass --image")
    instance_type = args.instance_type or BUILDER_INSTANCE_TYPE
    # The NVIDIA variant only on a GPU builder (Karpenter makes the same choice per instance type).
    variant = "-nvidia" if instance_type.split(".")[0] in GPU_FAMILIES else ""
    return BuildPlan(
        stack=args.stack,
        pool=args.pool,
        region=cfg.region,
        ami_parameter=f"/aws/service/bottlerocket/aws-k8s-{cfg.cluster.version}{variant}/x86_64/latest/image_id",
        ami_id=args.ami_id,
        instance_type=instance_type,
        instance_profile=args.instance_profile or f"{PROJECT}-{DEFAULT_PROFILE_SUFFIX}",
        subnet_id=args.subnet_id,
        volume_gib=pool.disk_size_gib,
        images=tuple(images),
        tags={TAG_KEY: args.pool, "platform.ai/stack": args.stack, "platform.ai/images": digest_of(images)},
    )


def serving_images(cfg: Any, registry: str) -> list[str]:
    """Every deployed model's image, primary and canary, as the nodes pull them."""
    out = []
    for m in cfg.resolved_models().values():
        if not m.deploy or not m.gpus:
            continue
        for ref in (m.image, m.canary.image if m.canary else None):
            if ref is not None:
                base = f"{registry}/{ref.repository}"
                out.append(f"{base}@{ref.digest}" if ref.digest else f"{base}:{ref.tag}")
    return out


def digest_of(images: Sequence[str]) -> str:
    """A short fingerprint of the image list (a tag value; tells a stale snapshot from a current one)."""
    return hashlib.sha256("\n".join(sorted(images)).encode()).hexdigest()[:16]


def run(args: argparse.Namespace) -> int:
    plan = plan_from_config(args)
    out = stdout()
    if args.dry_run:
        out.print(f"image-cache {plan.stack}/{plan.pool}: dry run, nothing is created. Calls, in order:", markup=False)
        for i, call in enumerate(plan.calls(), 1):
            out.print(f"  {i:2}. {call}", markup=False)
        return EXIT_OK
    aws = connect_from_args(args, plan.region, args.profile)
    snapshot = build(plan, aws, BotoSsm(aws.client("ssm")), log=lambda s: out.print(s, markup=False))
    out.print(f"snapshot {snapshot} holds {len(plan.images)} image(s) for pool {plan.pool}.", markup=False)
    out.print(
        f"Set in stacks/Pulumi.{plan.stack}.yaml, under ai-platform:nodePools.{plan.pool}.karpenter:", markup=False
    )
    out.print(f"  imagePull: snapshot\n  imageCacheSnapshotId: {snapshot}", markup=False)
    return EXIT_OK


def build(
    plan: BuildPlan, aws: Aws, ssm: Ssm, log: Callable[[str], None], poll: float = 5.0, timeout: float = 1800.0
) -> str:
    """Run the plan; returns the snapshot id. The builder instance is terminated whatever happens."""
    ec2 = aws.client("ec2")
    ami = plan.ami_id or resolve_ami(aws.client("ssm"), plan.ami_parameter)
    check_profile(aws.client("iam"), plan.instance_profile)
    subnet = plan.subnet_id or default_subnet(ec2, plan.region)
    instance = launch(ec2, plan, ami, subnet)
    log(f"builder {instance} launched in {subnet} from {ami}")
    try:
        ssm.wait_online(instance)
        wait_for_admin(ssm, instance, poll)
        for image in plan.images:
            log(f"pulling {image}")
            ssm.run(instance, pull_command(image), f"image-cache pull for {plan.pool}")
        ec2.stop_instances(InstanceIds=[instance])
        wait(lambda: _state(ec2, instance) == "stopped", f"builder {instance} to stop", poll, timeout)
        snapshot = snapshot_data_volume(ec2, plan, instance, poll, timeout)
        log(f"snapshot {snapshot} completed")
        return snapshot
    finally:
        ec2.terminate_instances(InstanceIds=[instance])
        log(f"builder {instance} terminated")


def wait_for_admin(ssm: Ssm, instance: str, poll: float, attempts: int = ADMIN_ATTEMPTS) -> None:
    """Retry ``apiclient exec admin true`` with exponential backoff (poll, 2*poll, ... capped at 8*poll)."""
    delay, last = poll, ""
    for attempt in range(1, attempts + 1):
        try:
            ssm.run(instance, ADMIN_READY, "image-cache: is the admin container up?")
            return
        except OpsError as exc:
            last = " ".join(str(exc).split())
        if attempt < attempts:
            time.sleep(delay)
            delay = min(delay * 2, poll * 8)
    raise OpsError(
        f"the admin container of builder {instance} did not start after {attempts} tries ({last}); "
        "is settings.host-containers.admin enabled and its image reachable from the subnet?"
    )


def resolve_ami(ssm: Any, parameter: str) -> str:
    try:
        return str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            raise OpsError(
                f"no Bottlerocket AMI parameter {parameter}: is cluster.version supported by Bottlerocket's "
                "NVIDIA variant in this region? Pass --ami-id to pin one"
            ) from None
        raise


_NEEDS = (
    f"the builder needs an instance profile whose role has the managed policies {SSM_POLICY} and "
    f"{ECR_PULL_POLICIES[0]} (or {ECR_PULL_POLICIES[1]}): it gets its own ECR token on the instance "
    "(docs/operations.md, 'Pre-pulled image cache'); pass --instance-profile to use another"
)


def check_profile(iam: Any, name: str) -> None:
    """The profile exists and its role may run SSM commands and pull from ECR. A role with inline policies
    is trusted as is (what they grant is not evaluated here)."""
    try:
        roles = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise OpsError(f"instance profile {name!r} not found: {_NEEDS}") from None
        raise
    if not roles:
        raise OpsError(f"instance profile {name!r} has no role: {_NEEDS}")
    role = roles[0]["RoleName"]
    if iam.list_role_policies(RoleName=role)["PolicyNames"]:
        return
    # AWS managed policies only (arn:<partition>:iam::aws:policy/<name>): a customer policy of that name proves nothing.
    policies = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    attached = {p["PolicyName"] for p in policies if p["PolicyArn"].split(":")[4] == "aws"}
    missing = [p for p in (SSM_POLICY,) if p not in attached]
    if not attached.intersection(ECR_PULL_POLICIES):
        missing.append(ECR_PULL_POLICIES[0])
    if missing:
        raise OpsError(f"role {role} of instance profile {name!r} lacks {', '.join(missing)}: {_NEEDS}")


def default_subnet(ec2: Any, region: str) -> str:
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    if not subnets:
        raise OpsError(
            f"no default VPC subnet in {region}: pass --subnet-id (a subnet that reaches ECR and SSM, e.g. a "
            "private subnet of the stack's VPC, which has the endpoints)"
        )
    return str(sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"])


def launch(ec2: Any, plan: BuildPlan, ami: str, subnet: str) -> str:
    tags = [{"Key": k, "Value": v} for k, v in {**plan.tags, "Name": f"image-cache-{plan.pool}"}.items()]
    res = ec2.run_instances(
        ImageId=ami,
        InstanceType=plan.instance_type,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        IamInstanceProfile={"Name": plan.instance_profile},
        UserData=USER_DATA,  # boto3 base64-encodes it
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
        BlockDeviceMappings=[
            {
                "DeviceName": DATA_DEVICE,
                "Ebs": {
                    "VolumeSize": plan.volume_gib,
                    "VolumeType": "gp3",
                    "Encrypted": True,
                    "DeleteOnTermination": True,
                },
            }
        ],
        TagSpecifications=[{"ResourceType": t, "Tags": tags} for t in ("instance", "volume")],
    )
    return str(res["Instances"][0]["InstanceId"])


def snapshot_data_volume(ec2: Any, plan: BuildPlan, instance: str, poll: float, timeout: float) -> str:
    desc = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    volumes = [b["Ebs"]["VolumeId"] for b in desc.get("BlockDeviceMappings", []) if b["DeviceName"] == DATA_DEVICE]
    if not volumes:
        raise OpsError(f"builder {instance} has no {DATA_DEVICE} data volume: is {desc.get('ImageId')} Bottlerocket?")
    snap = ec2.create_snapshot(
        VolumeId=volumes[0],
        Description=f"Bottlerocket data volume with the {plan.stack}/{plan.pool} serving images",
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in plan.tags.items()]}
        ],
    )["SnapshotId"]

    def done() -> bool:
        state = ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"]
        if state == "error":
            raise OpsError(f"snapshot {snap} failed")
        return bool(state == "completed")

    try:
        wait(done, f"snapshot {snap}", poll, timeout)
    except OpsError as exc:
        raise OpsError(f"{exc}; {discard_snapshot(ec2, snap, plan.region)}") from None
    return str(snap)


def discard_snapshot(ec2: Any, snap: str, region: str) -> str:
    """Delete an unfinished snapshot; says what happened, or which id to delete by hand."""
    try:
        ec2.delete_snapshot(SnapshotId=snap)
    except ClientError as exc:
        return (
            f"could not delete it ({error_code(exc)}): delete snapshot {snap} yourself "
            f"(aws ec2 delete-snapshot --snapshot-id {snap} --region {region})"
        )
    return f"snapshot {snap} deleted"


def _state(ec2: Any, instance: str) -> str:
    return str(ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"])


def wait(ready: Callable[[], bool], what: str, poll: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise OpsError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


@dataclass
class BotoSsm:
    """:class:`Ssm` on boto3 (the calls the sample's snapshot.sh makes with the AWS CLI)."""

    client: Any
    poll: float = 5.0
    timeout: float = 900.0

    def wait_online(self, instance_id: str) -> None:
        def online() -> bool:
            info = self.client.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])[
                "InstanceInformationList"
            ]
            return bool(info) and info[0].get("PingStatus") == "Online"

        wait(
            online,
            f"the SSM agent of {instance_id} (is the instance profile's role allowed SSM?)",
            self.poll,
            self.timeout,
        )

    def run(self, instance_id: str, command: str, comment: str) -> None:
        cmd = self.client.send_command(
            InstanceIds=[instance_id],
            DocumentName="AWS-RunShellScript",
            Comment=comment[:100],
            Parameters={"commands": [command]},
        )["Command"]["CommandId"]
        result: dict[str, Any] = {}

        def finished() -> bool:
            try:
                result.update(self.client.get_command_invocation(CommandId=cmd, InstanceId=instance_id))
            except ClientError as exc:
                if error_code(exc) == "InvocationDoesNotExist":  # not registered yet
                    return False
                raise
            return result.get("Status") not in ("Pending", "InProgress", "Delayed")

        wait(finished, f"SSM command {cmd}", self.poll, self.timeout)
        if result.get("Status") != "Success":
            err = " ".join(str(result.get("StandardErrorContent", "")).split())[:300]
            raise OpsError(f"SSM command {cmd} on {instance_id} ended {result.get('Status')}: {err or 'no output'}")
