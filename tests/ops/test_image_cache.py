"""``blueprint image-cache``: the Bottlerocket data-volume snapshot build against moto (EC2, IAM, SSM
parameters, ECR) with the SSM Run Command side behind its seam (moto does not run commands on
instances), plus the dry run, the refusals and the cleanup of the builder on failure. The pull line SSM
carries is run under bash with stand-ins for the host's tools: it must carry no credential."""

from __future__ import annotations

import argparse
import base64
import json
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from blueprint.ops import _aws
from blueprint.ops import image_cache as ic
from infra.config import GPU_FAMILIES
from tests.fixtures import STACKS, config, stacks_of_tier
from tests.ops.conftest import REGION, Result, assert_one_line_error, client

STACK = stacks_of_tier("staging")[0] if stacks_of_tier("staging") else STACKS[0]
PROFILE = "builder"


@pytest.fixture(autouse=True)
def _aws_managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto (in this process) loads the AWS managed policies only when asked (moto/settings.py)."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


def _gpu_pool(stack: str) -> str:
    return next(n for n, p in config(stack)["nodePools"].items() if n != "system" and "instanceTypes" in p)


POOL = _gpu_pool(STACK)


def _bottlerocket(raw: dict[str, Any]) -> None:
    """Make POOL a Karpenter Bottlerocket NVIDIA pool (what the cache is for)."""
    raw["nodeProvisioner"] = "karpenter"
    raw["nodePools"][POOL]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    raw["nodePools"][POOL].setdefault("karpenter", {})["imagePull"] = "standard"


class FakeSsm:
    """The SSM seam: records the commands; can refuse one, and keep the admin container down a while."""

    def __init__(self, fail_on: str | None = None, admin_down: int = 0):
        self.online: list[str] = []
        self.commands: list[str] = []
        self.fail_on = fail_on
        self.admin_down = admin_down

    def wait_online(self, instance_id: str) -> None:
        self.online.append(instance_id)

    def run(self, instance_id: str, command: str, comment: str) -> None:
        self.commands.append(command)
        if command == ic.ADMIN_READY and self.admin_down > 0:
            self.admin_down -= 1
            raise _aws.OpsError(f"SSM command on {instance_id} ended Failed: Failed to exec in task:\nnot running")
        if self.fail_on and self.fail_on in command:
            raise _aws.OpsError(f"SSM command on {instance_id} ended Failed: pull refused")


def _args(**over: Any) -> argparse.Namespace:
    base = {"stack": STACK, "pool": POOL, "image": [], "subnet_id": None, "instance_profile": PROFILE}
    base |= {"instance_type": None, "ami_id": None, "dry_run": False, "profile": None}
    return argparse.Namespace(**(base | over))


def _arrange(moto_url: str, profile: bool = True, policies: tuple[str, ...] = ()) -> str:
    """A builder instance profile whose role has ``policies`` (default: what the docs ask) and an AMI moto
    knows; returns the AMI id."""
    if profile:
        iam = client("iam", moto_url)
        trust = {
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ]
        }
        iam.create_role(RoleName=PROFILE, AssumeRolePolicyDocument=json.dumps(trust))
        for policy in policies or (ic.SSM_POLICY, ic.ECR_PULL_POLICIES[0]):
            iam.attach_role_policy(RoleName=PROFILE, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
        iam.create_instance_profile(InstanceProfileName=PROFILE)
        iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=PROFILE)
    return str(client("ec2", moto_url).describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def _build(moto_url: str, ssm: FakeSsm, **over: Any) -> str:
    plan = ic.plan_from_config(_args(**over))
    return ic.build(plan, _aws.connect(REGION, endpoint_url=moto_url), ssm, log=lambda _: None, poll=0.01)


def _instances(moto_url: str) -> list[dict[str, Any]]:
    res = client("ec2", moto_url).describe_instances()["Reservations"]
    return [i for r in res for i in r["Instances"]]


def test_the_build_pulls_every_serving_image_snapshots_the_data_volume_and_terminates_the_builder(
    moto_url: str, project: Callable[..., None], faults: Any
) -> None:
    project(STACK, _bottlerocket)
    ami, ssm = _arrange(moto_url), FakeSsm()
    snapshot = _build(moto_url, ssm, ami_id=ami)
    plan = ic.plan_from_config(_args())
    assert ssm.commands == [ic.ADMIN_READY, *(ic.pull_command(i) for i in plan.images)]
    assert all(" -n k8s.io images pull " in c for c in ssm.commands[1:])
    assert any("/vllm" in i for i in plan.images), plan.images
    # No credential of the operator's: the build never asks ECR for a token, and no command carries one.
    assert not [op for op in faults.sent if op.startswith("ecr.")], faults.sent
    token = client("ecr", moto_url).get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().split(":", 1)[1]
    assert not [c for c in ssm.commands if password in c or token in c]
    (builder,) = _instances(moto_url)
    assert builder["ImageId"] == ami
    # A general-purpose builder, whatever GPU types the pool has; the data volume is still the pool's disk.
    assert builder["InstanceType"] == ic.BUILDER_INSTANCE_TYPE
    assert builder["InstanceType"] not in config(STACK)["nodePools"][POOL]["instanceTypes"]
    assert builder["State"]["Name"] == "terminated"
    assert builder["MetadataOptions"]["HttpTokens"] == "required"
    user_data = client("ec2", moto_url).describe_instance_attribute(
        InstanceId=builder["InstanceId"], Attribute="userData"
    )
    assert base64.b64decode(user_data["UserData"]["Value"]).decode() == ic.USER_DATA
    snap = client("ec2", moto_url).describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]
    tags = {t["Key"]: t["Value"] for t in snap.get("Tags", [])}
    assert tags[ic.TAG_KEY] == POOL
    assert tags["platform.ai/images"] == ic.digest_of(plan.images)
    assert (
        snap["VolumeSize"] == plan.volume_gib == ic.load_stack_config(STACK).resolved_node_pools()[POOL].disk_size_gib
    )


def test_a_failed_pull_still_terminates_the_builder_and_makes_no_snapshot(
    moto_url: str, project: Callable[..., None]
) -> None:
    project(STACK, _bottlerocket)
    ami = _arrange(moto_url)
    with pytest.raises(_aws.OpsError, match="pull refused"):
        _build(moto_url, FakeSsm(fail_on="/vllm"), ami_id=ami)
    (builder,) = _instances(moto_url)
    assert builder["State"]["Name"] == "terminated"
    owned = client("ec2", moto_url).describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert not [s for s in owned if any(t["Key"] == ic.TAG_KEY for t in s.get("Tags", []))]


def test_the_dry_run_prints_the_calls_in_order_and_calls_nothing(
    cli: Callable[..., Result], project: Callable[..., None], faults: Any
) -> None:
    project(STACK, _bottlerocket)
    res = cli("image-cache", STACK, "--pool", POOL, "--dry-run", "--image", "public.ecr.aws/x/y:1")
    assert res.code == 0, res.err
    order = ["ssm:GetParameter", "ec2:RunInstances", "ssm:SendCommand", "ec2:StopInstances", "ec2:CreateSnapshot"]
    at = [res.out.index(call) for call in [*order, "ec2:TerminateInstances"]]
    assert at == sorted(at)
    assert "public.ecr.aws/x/y:1" in res.out
    # The builder is general purpose: the standard variant, not the NVIDIA one (same data-volume layout).
    assert f"aws-k8s-{config(STACK)['cluster']['version']}/x86_64/latest/image_id" in res.out
    assert f"ec2:RunInstances {ic.BUILDER_INSTANCE_TYPE} " in res.out
    assert res.out.index(ic.ADMIN_READY) < res.out.index("ctr images pull")
    assert "ecr:GetAuthorizationToken" not in res.out
    assert faults.sent == []


def test_a_gpu_builder_asked_for_gets_the_nvidia_variant(
    cli: Callable[..., Result], project: Callable[..., None]
) -> None:
    project(STACK, _bottlerocket)
    gpu_type = f"{next(iter(GPU_FAMILIES))}.xlarge"
    res = cli("image-cache", STACK, "--pool", POOL, "--dry-run", "--instance-type", gpu_type)
    assert res.code == 0, res.err
    assert f"aws-k8s-{config(STACK)['cluster']['version']}-nvidia/x86_64" in res.out
    assert f"ec2:RunInstances {gpu_type} " in res.out


def test_without_a_default_subnet_the_error_says_to_pass_one(moto_url: str, project: Callable[..., None]) -> None:
    project(STACK, _bottlerocket)
    ami, ec2 = _arrange(moto_url), client("ec2", moto_url)
    for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    with pytest.raises(_aws.OpsError, match=f"no default VPC subnet in {REGION}: pass --subnet-id"):
        _build(moto_url, FakeSsm(), ami_id=ami)
    assert _instances(moto_url) == []


def test_a_missing_instance_profile_is_named_with_the_policies_it_needs(
    cli: Callable[..., Result], moto_url: str, project: Callable[..., None]
) -> None:
    project(STACK, _bottlerocket)
    ami = _arrange(moto_url, profile=False)
    res = cli("image-cache", STACK, "--pool", POOL, "--ami-id", ami, "--instance-profile", "nope")
    assert_one_line_error(res, "error: instance profile 'nope' not found")
    assert "AmazonSSMManagedInstanceCore" in res.err
    assert _instances(moto_url) == []


def test_an_unknown_ami_parameter_suggests_pinning_one(moto_url: str, project: Callable[..., None]) -> None:
    project(STACK, _bottlerocket)
    _arrange(moto_url)
    with pytest.raises(_aws.OpsError, match="Pass --ami-id"):
        _build(moto_url, FakeSsm())


@pytest.mark.parametrize("stack", STACKS)
def test_a_pool_that_is_not_karpenter_bottlerocket_is_refused(stack: str, cli: Callable[..., Result]) -> None:
    raw = config(stack)
    pools = [
        n
        for n, p in raw["nodePools"].items()
        if raw.get("nodeProvisioner") != "karpenter" or not str(p.get("amiType", "")).startswith("BOTTLEROCKET")
    ]
    if not pools:
        pytest.skip(f"every pool of {stack} is a Karpenter Bottlerocket pool")
    pool = pools[0]
    res = cli("image-cache", stack, "--pool", pool, "--dry-run")
    assert res.code == 2
    assert f"nodePools.{pool}" in res.err
    assert "Bottlerocket" in res.err


def test_the_boto_ssm_runner_sends_the_run_shell_script_document(moto_url: str) -> None:
    """moto implements SendCommand and GetCommandInvocation (not the agent): the seam's real side."""
    ec2 = client("ec2", moto_url)
    ami = str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    runner = ic.BotoSsm(client("ssm", moto_url), poll=0.01, timeout=5)
    runner.run(instance, "true", "test")  # moto reports every invocation as Success
    sent = client("ssm", moto_url).list_commands()["Commands"]
    assert [c["DocumentName"] for c in sent] == ["AWS-RunShellScript"]
    assert sent[0]["Parameters"] == {"commands": ["true"]}


class _FailingSsmClient:
    """What SSM answers for a pull that fails on the instance (moto always answers Success)."""

    def send_command(self, **_: Any) -> dict[str, Any]:
        return {"Command": {"CommandId": "c-1"}}

    def get_command_invocation(self, **_: Any) -> dict[str, Any]:
        return {"Status": "Failed", "StandardErrorContent": "ctr: failed to resolve reference\n"}


def test_the_boto_ssm_runner_turns_a_failed_invocation_into_one_line() -> None:
    with pytest.raises(_aws.OpsError, match=r"ended Failed: ctr: failed to resolve reference$"):
        ic.BotoSsm(_FailingSsmClient(), poll=0.01).run("i-1", "pull", "test")


# --------------------------------------------------------------------------- the admin container's start
def test_the_first_pull_waits_for_the_admin_container_with_backoff(moto_url: str, project: Callable[..., None]) -> None:
    project(STACK, _bottlerocket)
    ami, ssm = _arrange(moto_url), FakeSsm(admin_down=2)
    _build(moto_url, ssm, ami_id=ami)
    assert ssm.commands[:3] == [ic.ADMIN_READY] * 3
    assert ssm.commands[3:] == [ic.pull_command(i) for i in ic.plan_from_config(_args()).images]


def test_an_admin_container_that_never_starts_is_one_line_and_the_builder_is_terminated(
    moto_url: str, project: Callable[..., None]
) -> None:
    project(STACK, _bottlerocket)
    ami, ssm = _arrange(moto_url), FakeSsm(admin_down=1_000)
    with pytest.raises(_aws.OpsError) as err:
        _build(moto_url, ssm, ami_id=ami)
    assert str(err.value).startswith("the admin container of builder i-")
    assert "\n" not in str(err.value)
    assert ssm.commands == [ic.ADMIN_READY] * ic.ADMIN_ATTEMPTS  # bounded, and no pull was tried
    (builder,) = _instances(moto_url)
    assert builder["State"]["Name"] == "terminated"


def test_the_admin_wait_backs_off_exponentially_up_to_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(ic.time, "sleep", slept.append)
    with pytest.raises(_aws.OpsError, match="did not start after 8 tries"):
        ic.wait_for_admin(FakeSsm(admin_down=1_000), "i-1", poll=1.0, attempts=8)
    assert slept == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


# --------------------------------------------------------------------------- no credential in SSM
_FAKE_HOST = """#!/bin/bash
# Stand-in for the admin container's sheltie: the host's ECR credential provider and ctr.
set -eu
if [ "$1" = "{provider}" ]; then
  python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["kind"]=="CredentialProviderRequest", r; \
host=r["image"].split("/")[0]; print(json.dumps({{"kind":"CredentialProviderResponse","auth":{{host:{{"username":"AWS","password":"tok-from-the-instance-profile"}}}}}}))'
elif [ "$1" = "ctr" ]; then
  printf '%s\n' "$@" > "{out}"
else
  exit 3
fi
"""


def _run_on_fake_host(tmp_path: Path, command: str) -> list[str]:
    """Run what follows ``apiclient exec admin`` under bash with a fake sheltie; returns ctr's argv."""
    prefix = "apiclient exec admin "
    assert command.startswith(prefix)
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    out = tmp_path / "ctr-args"
    sheltie = bin_ / "sheltie"
    sheltie.write_text(_FAKE_HOST.format(provider=ic.ECR_CREDENTIAL_PROVIDER, out=out))
    sheltie.chmod(0o755)
    env = {"PATH": f"{bin_}:/usr/bin:/bin"}
    proc = subprocess.run(["bash", "-c", command.removeprefix(prefix)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out.read_text().splitlines()


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq (the admin container has it) is not installed here")
def test_a_private_ecr_pull_gets_its_token_on_the_instance(tmp_path: Path) -> None:
    image = "123456789012.dkr.ecr.us-west-2.amazonaws.com/vllm@sha256:" + "a" * 64
    command = ic.pull_command(image)
    assert "AWS:" not in command.replace('"AWS:$pw"', "")  # only the variable, never a value
    assert shlex.split(command)[:5] == ["apiclient", "exec", "admin", "bash", "-c"]
    argv = _run_on_fake_host(tmp_path, command)
    assert argv[-3:] == ["--user", "AWS:tok-from-the-instance-profile", image]
    assert argv[:3] == ["ctr", "-a", "/run/containerd/containerd.sock"]
    assert "io.cri-containerd.image=managed" in argv


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq (the admin container has it) is not installed here")
def test_a_failing_credential_provider_fails_the_pull(tmp_path: Path) -> None:
    command = ic.pull_command("123456789012.dkr.ecr.us-west-2.amazonaws.com/vllm:1").replace(
        ic.ECR_CREDENTIAL_PROVIDER, "/nonexistent/provider"
    )
    with pytest.raises(AssertionError):  # the fake host exits 3 on an unknown binary: pipefail stops the pull
        _run_on_fake_host(tmp_path, command)
    assert not (tmp_path / "ctr-args").exists()


def test_a_public_image_is_pulled_without_credentials(tmp_path: Path) -> None:
    command = ic.pull_command("public.ecr.aws/x/y:1")
    assert "--user" not in command
    assert command.endswith(" public.ecr.aws/x/y:1")


def test_a_role_without_ecr_pull_is_refused_before_launch(
    cli: Callable[..., Result], moto_url: str, project: Callable[..., None]
) -> None:
    project(STACK, _bottlerocket)
    ami = _arrange(moto_url, policies=(ic.SSM_POLICY,))
    res = cli("image-cache", STACK, "--pool", POOL, "--ami-id", ami, "--instance-profile", PROFILE)
    assert_one_line_error(res, f"error: role {PROFILE} of instance profile '{PROFILE}' lacks {ic.ECR_PULL_POLICIES[0]}")
    assert _instances(moto_url) == []


# --------------------------------------------------------------------------- a snapshot that never completes
class _StuckEc2:
    """A data volume whose snapshot stays pending; DeleteSnapshot may be refused."""

    def __init__(self, refuse_delete: bool = False):
        self.deleted: list[str] = []
        self.refuse_delete = refuse_delete

    def describe_instances(self, **_: Any) -> dict[str, Any]:
        mapping = [{"DeviceName": ic.DATA_DEVICE, "Ebs": {"VolumeId": "vol-1"}}]
        return {"Reservations": [{"Instances": [{"BlockDeviceMappings": mapping}]}]}

    def create_snapshot(self, **_: Any) -> dict[str, Any]:
        return {"SnapshotId": "snap-0stuck"}

    def describe_snapshots(self, **_: Any) -> dict[str, Any]:
        return {"Snapshots": [{"State": "pending"}]}

    def delete_snapshot(self, SnapshotId: str) -> None:  # noqa: N803 (boto3's name)
        if self.refuse_delete:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DeleteSnapshot")
        self.deleted.append(SnapshotId)


def _plan() -> Any:
    return SimpleNamespace(stack="s", pool="p", region=REGION, tags={})


def test_a_snapshot_that_times_out_is_deleted() -> None:
    ec2 = _StuckEc2()
    with pytest.raises(_aws.OpsError, match=r"waiting for snapshot snap-0stuck; snapshot snap-0stuck deleted$"):
        ic.snapshot_data_volume(ec2, _plan(), "i-1", poll=0.001, timeout=0.01)
    assert ec2.deleted == ["snap-0stuck"]


def test_a_snapshot_that_cannot_be_deleted_is_named_in_the_error() -> None:
    with pytest.raises(_aws.OpsError, match=r"delete snapshot snap-0stuck yourself \(aws ec2 delete-snapshot"):
        ic.snapshot_data_volume(_StuckEc2(refuse_delete=True), _plan(), "i-1", poll=0.001, timeout=0.01)
