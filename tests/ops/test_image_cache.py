"""``blueprint image-cache``: the Bottlerocket data-volume snapshot build against moto (EC2, IAM, SSM
parameters, ECR) with the SSM Run Command side behind its seam (moto does not run commands on
instances), plus the dry run, the refusals and the cleanup of the builder on failure."""

from __future__ import annotations

import argparse
import base64
from collections.abc import Callable
from typing import Any

import pytest

from blueprint.ops import _aws
from blueprint.ops import image_cache as ic
from tests.fixtures import STACKS, config, stacks_of_tier
from tests.ops.conftest import REGION, Result, assert_one_line_error, client

STACK = stacks_of_tier("staging")[0] if stacks_of_tier("staging") else STACKS[0]
PROFILE = "builder"


def _gpu_pool(stack: str) -> str:
    return next(n for n, p in config(stack)["nodePools"].items() if n != "system" and "instanceTypes" in p)


POOL = _gpu_pool(STACK)


def _bottlerocket(raw: dict[str, Any]) -> None:
    """Make POOL a Karpenter Bottlerocket NVIDIA pool (what the cache is for)."""
    raw["nodeProvisioner"] = "karpenter"
    raw["nodePools"][POOL]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    raw["nodePools"][POOL].setdefault("karpenter", {})["imagePull"] = "standard"


class FakeSsm:
    """The SSM seam: records the commands; can refuse one."""

    def __init__(self, fail_on: str | None = None):
        self.online: list[str] = []
        self.commands: list[str] = []
        self.fail_on = fail_on

    def wait_online(self, instance_id: str) -> None:
        self.online.append(instance_id)

    def run(self, instance_id: str, command: str, comment: str) -> None:
        self.commands.append(command)
        if self.fail_on and self.fail_on in command:
            raise _aws.OpsError(f"SSM command on {instance_id} ended Failed: pull refused")


def _args(**over: Any) -> argparse.Namespace:
    base = {"stack": STACK, "pool": POOL, "image": [], "subnet_id": None, "instance_profile": PROFILE}
    base |= {"instance_type": None, "ami_id": None, "dry_run": False, "profile": None}
    return argparse.Namespace(**(base | over))


def _arrange(moto_url: str, profile: bool = True) -> str:
    """A builder instance profile and an AMI moto knows; returns the AMI id."""
    if profile:
        client("iam", moto_url).create_instance_profile(InstanceProfileName=PROFILE)
    return str(client("ec2", moto_url).describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def _build(moto_url: str, ssm: FakeSsm, **over: Any) -> str:
    plan = ic.plan_from_config(_args(**over))
    return ic.build(plan, _aws.connect(REGION, endpoint_url=moto_url), ssm, log=lambda _: None, poll=0.01)


def _instances(moto_url: str) -> list[dict[str, Any]]:
    res = client("ec2", moto_url).describe_instances()["Reservations"]
    return [i for r in res for i in r["Instances"]]


def test_the_build_pulls_every_serving_image_snapshots_the_data_volume_and_terminates_the_builder(
    moto_url: str, project: Callable[..., None]
) -> None:
    project(STACK, _bottlerocket)
    ami, ssm = _arrange(moto_url), FakeSsm()
    snapshot = _build(moto_url, ssm, ami_id=ami)
    plan = ic.plan_from_config(_args())
    assert ssm.commands == [ic.PULL.format(image=i, password=ssm.commands[0].rsplit(":", 1)[1]) for i in plan.images]
    assert all(" -n k8s.io images pull " in c for c in ssm.commands)
    assert any("/vllm" in i for i in plan.images), plan.images
    (builder,) = _instances(moto_url)
    assert builder["ImageId"] == ami
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
    assert snap["VolumeSize"] == plan.volume_gib


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
    assert f"aws-k8s-{config(STACK)['cluster']['version']}-nvidia" in res.out
    assert faults.sent == []


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
