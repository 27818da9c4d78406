"""The offline engine: what ``run_program`` records from a program, as a policy analyzer and the snapshots see it."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from blueprint.preview.engine import run_program
from blueprint.preview.plan import MASK, Plan, is_secret
from tests.fixtures import STACKS, account, region

STACK = STACKS[0]


class _Box(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Box", name, None, opts)
        self.key = aws.kms.Key(f"{name}-key", opts=pulumi.ResourceOptions(parent=self, protect=True))
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            tags={"owner": "team"},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, ignore_changes=["tags"]),
        )
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy", bucket=self.bucket.id, policy="{}", opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({})


def _program() -> None:
    box = _Box("box")
    aws.secretsmanager.SecretVersion(
        "token",
        secret_id="s",
        secret_string=pulumi.Output.secret("hunter2"),
        opts=pulumi.ResourceOptions(depends_on=[box.key]),
    )
    pulumi.export("bucket", box.bucket.bucket)
    pulumi.export("password", pulumi.Output.secret("hunter2"))
    pulumi.export("account", aws.get_caller_identity().account_id)


def _run(stack: str = STACK) -> Plan:
    return run_program(_program, stack=stack, region=region(STACK), account=account(STACK))


def test_children_carry_their_parent_and_options() -> None:
    plan = _run()
    box = plan.get("platform:index:Box", "box")
    key = plan.get("aws:kms/key:Key", "box-key")
    bucket = plan.get("aws:s3/bucket:Bucket", "box-bucket")
    assert key.parent == box.urn == bucket.parent
    assert not box.custom
    assert key.custom
    assert key.protect
    assert not bucket.protect
    assert bucket.retain_on_delete
    assert bucket.ignore_changes == ["tags"]


def test_dependencies_follow_the_outputs_and_depends_on_the_program_used() -> None:
    plan = _run()
    bucket = plan.get("aws:s3/bucket:Bucket", "box-bucket")
    policy = plan.get("aws:s3/bucketPolicy:BucketPolicy", "box-policy")
    version = plan.get("aws:secretsmanager/secretVersion:SecretVersion", "token")
    assert bucket.urn in policy.dependencies
    assert policy.property_dependencies["bucket"] == [bucket.urn]
    assert plan.get("aws:kms/key:Key", "box-key").urn in version.dependencies
    # The mock's computed id flows into the dependent's input, as the provider's id would.
    assert policy.inputs["bucket"] == bucket.outputs["id"]


def test_secrets_stay_wrapped_in_the_plan_and_masked_in_its_json() -> None:
    plan = _run()
    version = plan.get("aws:secretsmanager/secretVersion:SecretVersion", "token")
    assert is_secret(version.inputs["secretString"])
    assert is_secret(plan.outputs["password"])
    doc = plan.public()
    assert "hunter2" not in str(doc)
    (public,) = [r for r in doc["resources"] if r["name"] == "token"]
    assert public["inputs"]["secretString"] == MASK
    assert doc["outputs"]["password"] == MASK


def test_outputs_and_invokes_answer_for_the_stack() -> None:
    plan = _run()
    assert plan.outputs["account"] == account(STACK)
    name = plan.outputs["bucket"]
    assert isinstance(name, str)
    assert name.startswith("box-bucket-")  # auto-named, as the provider would


def test_the_same_program_gives_the_same_plan_and_another_stack_other_names() -> None:
    first, second = _run().public(), _run().public()
    assert first == second
    other = _run(stack=f"{STACK}-other")
    assert other.outputs["bucket"] != _run().outputs["bucket"]


def test_an_invoke_without_a_mock_fails_loudly() -> None:
    def program() -> None:
        aws.ec2.get_vpc(default=True)

    with pytest.raises(Exception, match="no mock for invoke aws:ec2/getVpc:getVpc"):
        run_program(program, stack=STACK)
